//! What proxyhub tells about itself and the proxy: Prometheus metrics and readiness.

#[path = "../support/mod.rs"]
mod support;

mod metrics;
mod ready;
