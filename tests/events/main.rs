//! Knowing what the proxy is doing: events delivered to webhooks (signed, in order, at least
//! once, through a receiver that goes down or fails, and through proxyhub killed with SIGKILL)
//! and streamed live (Server-Sent Events, resumed with `Last-Event-ID`, with a live tail of
//! the access log), Prometheus metrics and readiness, against a real Caddy.

#[path = "../support/mod.rs"]
mod support;

mod metrics;
mod ready;
mod receiver;
mod stream;
mod webhooks;
