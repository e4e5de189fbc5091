//! The access-log pipeline: follow the proxy's JSON access log, store each request, serve
//! them back through `GET /api/logs`.
//!
//! - `ingest/`: the ways lines come in (the tailer, rotated files, import), read in batches.
//! - `parse/`: one line of a JSON access log into one request.
//! - `store/`: requests kept as blocks, with the files' read positions, domains, counters
//!   and retention.
//! - `query/`: stored requests newest first under filters, a page at a time.
//! - `traffic/`: the traffic counts of the dashboard's chart and of each vhost's days.
//! - `ship/`: access logs of other nodes: `proxyhub logs ship` (the shipper) and the hub's
//!   side, each batch stored once.
//!
//! Their HTTP side (`/api/logs`, `/api/logs/status`, `/api/logs/stats`) is `http/logs/`;
//! the hub's routes for shippers (`/api/logs/ship...`) are `http/log_shipping.rs`.

pub mod ingest;
pub mod parse;
pub mod query;
pub mod ship;
pub mod store;
pub mod traffic;
