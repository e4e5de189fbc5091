use std::time::Duration;

use super::*;

#[test]
fn series_are_named_the_prometheus_way_and_labels_stay_bounded() {
    let m = Metrics::new();
    m.push(Duration::from_millis(20), true);
    m.apply_failure(FailureReason::Rejected);
    m.requests("a.example.com", &[1, 0, 3, 0, 0, 2]);
    m.api_request("/api/vhosts/{id}", "BREW", 404, Duration::from_millis(3));
    m.webhook_delivery("delivered");
    let text = m.encode();
    for line in [
        "proxyhub_proxy_pushes_total 1",
        "proxyhub_proxy_push_duration_seconds_count 1",
        "proxyhub_apply_failures_total{reason=\"rejected\"} 1",
        "proxyhub_proxy_requests_total{vhost=\"a.example.com\",class=\"2xx\"} 3",
        "proxyhub_proxy_requests_total{vhost=\"a.example.com\",class=\"5xx\"} 2",
        "proxyhub_proxy_requests_total{vhost=\"a.example.com\",class=\"other\"} 1",
        "proxyhub_http_requests_total{route=\"/api/vhosts/{id}\",method=\"other\",status=\"404\"} 1",
        "proxyhub_webhook_deliveries_total{outcome=\"delivered\"} 1",
        "# TYPE proxyhub_proxy_up gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
    assert!(
        !text.contains("1xx"),
        "no series for a class without requests"
    );
}
