//! proxyhub: a management plane for reverse proxies. See ARCHITECTURE.md for the map.

pub mod accounts;
pub mod app;
pub mod apply;
pub mod certs;
pub mod changelog;
pub mod cluster;
pub mod config;
pub mod db;
pub mod digest;
pub mod events;
pub mod fields;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod importer;
pub mod logs;
pub mod memory;
pub mod metrics;
pub mod nodes;
pub mod proxy;
pub mod reconcile;
pub mod remote;
pub mod sso;
pub mod state;
pub mod timestamps;
pub mod vhosts;
pub mod workers;

#[cfg(test)]
mod architecture;
