//! What every proxy proxyhub drives must do, written once and run against each real one (a
//! real Caddy and a real nginx): a vhost served through its whole life, a config the proxy
//! refuses, common injection attempts, drift repair, the proxy down or restarted, upstream
//! health and failover; and the certificates Caddy serves from its local CA, as proxyhub
//! checks them.
//!
//! Each test is an `async fn name(kind: Kind)`; `for_each_proxy!(name)` makes
//! `name::caddy` and `name::nginx` of it. What only one proxy does stays in its own suite
//! (`tests/core/` for Caddy, `tests/nginx/`).

#[path = "../support/mod.rs"]
mod support;

/// Makes, for each `async fn name(kind: Kind)` given, a module `name` with one test per proxy.
macro_rules! for_each_proxy {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use crate::support::backend::Kind;

            #[tokio::test]
            async fn caddy() {
                super::$name(Kind::Caddy).await
            }

            #[tokio::test]
            async fn nginx() {
                super::$name(Kind::Nginx).await
            }
        }
    )+};
}

mod certificates;
mod down;
mod drift;
mod features;
mod health;
mod injection;
mod lifecycle;
mod rejection;
