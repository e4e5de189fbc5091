//! The core: sign-in, users, vhosts applied to a real Caddy in what only Caddy does (its
//! escapes, its snippets, coalesced pushes and their bisection, its access log), the changelog.
//! What every proxy must do (a vhost's life, a rejected config, injection through domains and
//! upstreams, drift repair, the proxy down) is in `tests/proxies/`, run against Caddy and nginx
//! alike.

#[path = "../support/mod.rs"]
mod support;

mod auth;
mod better_auth;
mod escapes;
mod proxy_sync;
mod sessions;
mod sso;
mod traffic;
mod two_factor;
mod users;
mod vhosts;
