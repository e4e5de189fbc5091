//! `GET /api/logs` over blocks: requests newest first under filters, with bounded work.
//!
//! `domain`, `status` (a code), `from` and `to` pick blocks through their indexes, newest
//! block first; the blocks' rows are merged newest first (blocks of different domains overlap
//! in time). A status class is the codes of that class the store holds, one scan each, merged.
//! `method` and `q` are applied to the [`WINDOW`] newest requests that pass the other filters;
//! totals are counted within the same window (exact below it); pages reach back [`WINDOW`]
//! requests. Every filter value is bound or compared in Rust, never pasted into SQL.
//!
//! - `filter.rs`: the filters of a query, and the values of a query string checked into them.
//! - `scan.rs`: one scan: the requests passing the domain, status and time filters, newest
//!   first, merged from the blocks it opens.
//! - `open.rs`: a block opened by a scan, its columns decoded as far as rows are visited.
//! - `keyset.rs`: the blocks a scan may find rows in, fetched newest first a few at a time.
//! - `merge.rs`: a status class as one scan per code of the class, merged.
//! - `page.rs`: a page: the requests of the window that match, the total, the rows shown.

pub mod filter;
mod keyset;
mod merge;
mod open;
mod page;
mod scan;
#[cfg(test)]
mod tests;

pub use filter::Filter;
pub use page::{page, Page, Request};
pub use scan::{scan, Flow, Hit, Scan};

/// How many requests one answer looks at, at most.
pub const WINDOW: i64 = 10_000;
