//! The access-log pipeline: follow the proxy's JSON access log, store each request, serve
//! them back through `GET /api/logs`.

pub mod fields;
pub mod parse;
