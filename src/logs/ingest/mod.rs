//! Getting access-log lines into the store. Every way in reads through the batch ingest:
//!
//! - `batch.rs`: reading a log from a position to its end, in chunks of complete lines
//!   handed to a sink; a file is named by its first line.
//! - `sink.rs`: where the chunks go, each stored with the position that covers it: the
//!   store here ([`sink::Local`]: parsed and committed), or a hub (`logs/ship/`).
//! - `tailer.rs`: the background task that follows the proxy's log as it grows and rotates.
//! - `rotated.rs`: finishing files that moved away while nobody was reading them.
//! - `import.rs`: `proxyhub logs import`, existing files into the store.
//! - `source.rs`: opening a file for reading, plain or gzipped, and naming it.
//! - `addresses.rs`: client addresses stored as logged, hashed, or not at all.
//! - `counts.rs`: the metrics of each committed batch.
//! - `standing.rs`: how far the store stands behind the followed log.

pub mod addresses;
pub mod batch;
pub mod counts;
pub mod import;
pub mod rotated;
pub mod sink;
pub mod source;
pub mod standing;
pub mod tailer;
