//! proxyhub's Prometheus metrics: one [`Metrics`] per running proxyhub, holding every series
//! (`proxyhub_*`) and encoding them in the Prometheus text format. The domain modules count
//! into it (the applier its pushes, the log ingest its lines, once per batch); the HTTP layer
//! counts API requests and serves `/metrics`. This module imports nothing of proxyhub's.
//!
//! Every label's values are bounded: a reason, a state or a status class from a fixed set,
//! the route templates of the API, the vhosts of the store (any other host is `other`).

mod labels;

use std::time::Duration;

use prometheus_client::{
    encoding::prometheus_text,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

use labels::{Api, ApiRoute, Outcome, Reason, State, Vhost, CLASSES};
pub use labels::{FailureReason, OTHER_VHOST};

/// The webhook outcomes shown (at 0) before the first delivery; others appear at their
/// first count.
pub const WEBHOOK_OUTCOMES: [&str; 2] = ["delivered", "failed"];

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every series of one proxyhub.
pub struct Metrics {
    registry: Registry,
    pushes: Counter,
    push_seconds: Histogram,
    apply_failures: Family<Reason, Counter>,
    drift_repairs: Counter,
    proxy_up: Gauge,
    vhosts: Family<State, Gauge>,
    lines_ingested: Counter,
    lines_skipped: Counter,
    ingest_lag: Gauge,
    requests: Family<Vhost, Counter>,
    webhook_deliveries: Family<Outcome, Counter>,
    api_requests: Family<Api, Counter>,
    api_seconds: Histograms<ApiRoute>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("proxyhub"),
            pushes: Counter::default(),
            // 5 ms to ~41 s: one site takes milliseconds, 10,000 sites seconds.
            push_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            apply_failures: Family::default(),
            drift_repairs: Counter::default(),
            proxy_up: Gauge::default(),
            vhosts: Family::default(),
            lines_ingested: Counter::default(),
            lines_skipped: Counter::default(),
            ingest_lag: Gauge::default(),
            requests: Family::default(),
            webhook_deliveries: Family::default(),
            api_requests: Family::default(),
            // 1 ms to ~16 s.
            api_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 15))
            }),
        };
        m.register();
        // Known label values start at 0: a series that exists before its first event gives
        // `rate()` and `increase()` something to start from.
        for reason in [
            FailureReason::Rejected,
            FailureReason::Unreachable,
            FailureReason::Other,
        ] {
            let _ = m.apply_failures.get_or_create(&Reason {
                reason: reason.as_str(),
            });
        }
        m.vhosts(0, 0);
        for outcome in WEBHOOK_OUTCOMES {
            let _ = m.webhook_deliveries.get_or_create(&Outcome { outcome });
        }
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "proxy_pushes",
            "Configurations pushed to the proxy and taken (changes and drift repairs)",
            self.pushes.clone(),
        );
        r.register(
            "proxy_push_duration_seconds",
            "Time a push to the proxy took, taken or not",
            self.push_seconds.clone(),
        );
        r.register(
            "apply_failures",
            "Pushes the proxy did not take, by reason (rejected, unreachable, other)",
            self.apply_failures.clone(),
        );
        r.register(
            "drift_repairs",
            "Times the proxy ran another configuration than the store's and it was re-applied",
            self.drift_repairs.clone(),
        );
        r.register(
            "proxy_up",
            "Whether the proxy answered at the last contact (1) or not (0)",
            self.proxy_up.clone(),
        );
        r.register(
            "vhosts",
            "Vhosts in the store, by state (enabled, disabled)",
            self.vhosts.clone(),
        );
        r.register(
            "access_log_lines_ingested",
            "Access-log lines stored as requests",
            self.lines_ingested.clone(),
        );
        r.register(
            "access_log_lines_skipped",
            "Access-log lines that were not requests (not JSON, other loggers)",
            self.lines_skipped.clone(),
        );
        r.register(
            "access_log_lag_bytes",
            "Bytes of the followed access log not read yet",
            self.ingest_lag.clone(),
        );
        r.register(
            "proxy_requests",
            "Requests the proxy served, from its access log, by vhost (other: a host no vhost has) and status class",
            self.requests.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Webhook deliveries, by outcome",
            self.webhook_deliveries.clone(),
        );
        r.register(
            "http_requests",
            "API requests, by route template, method and status code",
            self.api_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time API requests took to answer, by route template and method",
            self.api_seconds.clone(),
        );
    }

    /// Every series, in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }

    /// A push to the proxy ended: `taken` or not, after `took`.
    pub fn push(&self, took: Duration, taken: bool) {
        self.push_seconds.observe(took.as_secs_f64());
        if taken {
            self.pushes.inc();
        }
    }

    /// A push the proxy did not take.
    pub fn apply_failure(&self, reason: FailureReason) {
        self.apply_failures
            .get_or_create(&Reason {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// The proxy ran another configuration and the store's was applied again.
    pub fn drift_repaired(&self) {
        self.drift_repairs.inc();
    }

    /// Whether the proxy answered at the last contact.
    pub fn proxy_up(&self, up: bool) {
        self.proxy_up.set(i64::from(up));
    }

    /// The vhosts in the store now.
    pub fn vhosts(&self, enabled: u64, disabled: u64) {
        for (state, n) in [("enabled", enabled), ("disabled", disabled)] {
            self.vhosts
                .get_or_create(&State { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// A batch of access-log lines was committed: `stored` as requests, `skipped`.
    pub fn lines(&self, stored: u64, skipped: u64) {
        self.lines_ingested.inc_by(stored);
        self.lines_skipped.inc_by(skipped);
    }

    /// Bytes of the followed access log not read yet.
    pub fn ingest_lag(&self, bytes: u64) {
        self.ingest_lag
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// A batch's requests of one vhost (a store's vhost domain, or [`OTHER_VHOST`]), per
    /// status class: `by_class[c]` requests with status `c`xx (1 to 5); `by_class[0]`
    /// those with a status outside 100–599 (Caddy logs 0 for a request no route matched).
    pub fn requests(&self, vhost: &str, by_class: &[u64; 6]) {
        for (c, &n) in by_class.iter().enumerate().filter(|(_, &n)| n > 0) {
            let labels = Vhost {
                vhost: vhost.to_string(),
                class: CLASSES[c],
            };
            self.requests.get_or_create(&labels).inc_by(n);
        }
    }

    /// Counts a webhook delivery. For the webhook sender: `outcome` is one word of a fixed
    /// few (`delivered`, `failed`, `gave_up`, ...), never a URL, a status text or an error
    /// message, so the series stay few.
    pub fn webhook_delivery(&self, outcome: &'static str) {
        self.webhook_deliveries
            .get_or_create(&Outcome { outcome })
            .inc();
    }

    /// An API request was answered. `route` is the route's template (`/api/vhosts/{id}`),
    /// never the path asked for.
    pub fn api_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let method = labels::method(method);
        self.api_requests
            .get_or_create(&Api {
                route: route.to_string(),
                method,
                status,
            })
            .inc();
        self.api_seconds
            .get_or_create(&ApiRoute {
                route: route.to_string(),
                method,
            })
            .observe(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests;
