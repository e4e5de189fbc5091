//! The nginx backend against a real nginx, in what only nginx does: the proxy headers an
//! upstream gets, snippets placed in the server block, a reload nginx cannot carry out,
//! `PROXYHUB_NGINX_LISTEN` and resolution, its own injection and host-file attempts, the JSON
//! access log, and the repair of its files. What every proxy must do (a vhost's life, a
//! rejected config, injection through domains and upstreams, a hand edit, a restart, nginx
//! down) is in `tests/proxies/`, run against nginx and Caddy alike.

#[path = "../support/mod.rs"]
mod support;

mod access_log;
mod drift;
mod injection;
mod listen;
mod rejection;
mod vhosts;
