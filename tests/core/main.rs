//! The core: sign-in, vhosts applied to a real Caddy, the changelog, drift repair.

#[path = "../support/mod.rs"]
mod support;

mod auth;
mod escapes;
mod proxy_sync;
mod traffic;
mod users;
mod vhosts;
