//! Traffic counts for the dashboard's chart, served by `GET /api/logs/stats` (and per vhost
//! and day by `GET /api/vhosts/{id}/stats`): per hour from rollups by domain and status class
//! written in the same transaction as the requests they count; per minute from the
//! per-minute counts every stored block carries; top paths from the newest requests of the
//! period.
//!
//! - `rollup.rs`: the hour rollups, written and pruned with the requests they count.
//! - `counts.rs`: requests per minute (from the blocks) and per hour (from the rollups).
//! - `top.rs`: the busiest domains and the most requested paths.
//! - `stats.rs`: the counts of a period, bucketed, for `GET /api/logs/stats`.
//! - `per_vhost.rs`: a vhost's requests per UTC day, for `GET /api/vhosts/{id}/stats`.

mod counts;
pub mod per_vhost;
pub mod rollup;
mod stats;
mod top;

pub use stats::{stats, Bucket, InvalidPeriod, Period, Stats, CLASSES};
pub use top::{Top, PATH_SAMPLE};
