//! Adopting a proxy already in use: an existing Caddyfile or nginx config read into vhosts.
//! Each site block or server becomes a vhost per name (aliases do not exist yet: a block
//! with several names becomes a vhost for each); a plain `reverse_proxy X` or
//! `location / { proxy_pass X; }` becomes the upstream, anything else the block's body as
//! the snippet, which must pass the same checks as any snippet. What cannot be imported
//! (global options, `import` and `include` lines, named snippets, servers without a name,
//! addresses without a host name) is listed with the reason. The result goes through the
//! ordinary import (`vhosts::bulk`): planned, or applied all or nothing.

pub mod caddyfile;
mod include;
pub mod nginx;

use serde::Serialize;

use crate::state::VhostSpec;

/// A vhost read from a config, with the line its block starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub spec: VhostSpec,
    pub line: usize,
}

/// What was left out, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Skipped {
    /// The block or line (`global options`, `import common`, `server at line 12`, a name).
    pub what: String,
    pub line: usize,
    pub reason: String,
}

/// What a config holds for proxyhub.
#[derive(Debug, Default)]
pub struct Read {
    pub found: Vec<Found>,
    pub skipped: Vec<Skipped>,
}

impl Read {
    fn skip(&mut self, what: impl Into<String>, line: usize, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            what: what.into(),
            line,
            reason: reason.into(),
        });
    }

    /// A vhost per name, all served the same way; the first of a name wins.
    fn add(
        &mut self,
        names: &[String],
        config: Option<String>,
        upstream: Option<String>,
        line: usize,
    ) {
        for name in names {
            if self.found.iter().any(|f| f.spec.domain == *name) {
                self.skip(
                    name.clone(),
                    line,
                    "this name has a block already; the first is kept",
                );
                continue;
            }
            self.found.push(Found {
                spec: VhostSpec {
                    domain: name.clone(),
                    config: config.clone(),
                    upstream: upstream.clone(),
                    enabled: true,
                    features: Default::default(),
                },
                line,
            });
        }
    }
}
