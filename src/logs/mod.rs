//! The access-log pipeline: follow the proxy's JSON access log, store each request, serve
//! them back through `GET /api/logs`.

pub mod ingest;
pub mod parse;
pub mod query;
pub mod routes;
pub mod store;
pub mod traffic;

pub use ingest::tailer;
pub use routes::router;
pub use store::retention;
