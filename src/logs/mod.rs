//! The access-log pipeline: follow the proxy's JSON access log, store each request, serve
//! them back through `GET /api/logs`.

pub mod api;
pub mod block;
pub mod domains;
pub mod fields;
pub mod import;
pub mod ingest;
pub mod parse;
pub mod query;
pub mod retention;
pub mod rotated;
pub mod source;
pub mod status;
pub mod store;
pub mod tailer;

pub use api::router;
