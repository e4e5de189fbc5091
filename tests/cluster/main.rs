//! Beyond one machine: a fleet of Caddy nodes changed all-or-nothing (`fleet`), several
//! proxyhub replicas on one PostgreSQL (`replicas`), and access logs shipped from every node
//! and stored exactly once (`ship`). Real processes throughout: Caddy nodes, proxyhub
//! binaries, PostgreSQL.

mod fleet;
mod fleet_replicas;
mod replicas;
mod ship;
#[path = "../support/mod.rs"]
mod support;
