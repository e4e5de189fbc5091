//! The access-log pipeline: follow the proxy's JSON access log, store each request, serve
//! them back through `GET /api/logs`.

pub mod api;
pub mod ingest;
pub mod parse;
pub mod query;
pub mod status;
pub mod store;
pub mod traffic;

pub use api::router;
pub use ingest::tailer;
pub use store::retention;
