//! The access-log pipeline: files written the way Caddy writes them, rotation, copytruncate,
//! partial and garbage lines, a proxyhub killed with SIGKILL, the API, real Caddy traffic,
//! how client addresses are stored, and a vhost's traffic per day.

#[path = "../support/mod.rs"]
mod support;

mod api;
mod caddy_traffic;
mod crash;
mod import;
mod lines;
mod privacy;
mod tailing;
mod vhost_stats;
