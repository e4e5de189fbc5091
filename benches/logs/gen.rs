//! A realistic Caddy 2.6 access log: ~450-byte lines, 200 hosts, mixed methods and statuses.

use std::io::{self, Read};

use rand::{rngs::StdRng, Rng, SeedableRng};

pub const HOSTS: usize = 200;
const PATHS: [&str; 8] = [
    "/",
    "/api/v1/users/",
    "/api/v1/orders/",
    "/static/js/app.",
    "/images/products/",
    "/login",
    "/search?q=item",
    "/api/v1/cart/items/",
];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
    "Go-http-client/1.1",
];

pub fn host(k: usize) -> String {
    format!("shop-{k:03}.example.com")
}

/// Generates `count` lines with timestamps spread evenly over `span_s` seconds up to `end`.
pub struct Lines {
    rng: StdRng,
    next: u64,
    count: u64,
    start: f64,
    step: f64,
    pending: Vec<u8>,
    at: usize,
}

impl Lines {
    pub fn new(count: u64, end: f64, span_s: f64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(7),
            next: 0,
            count,
            start: end - span_s,
            step: span_s / count.max(1) as f64,
            pending: Vec::new(),
            at: 0,
        }
    }

    pub fn line(&mut self, out: &mut Vec<u8>) {
        let r = &mut self.rng;
        let i = self.next;
        let status = match r.gen_range(0..100) {
            0..=79 => 200,
            80..=84 => 304,
            85..=89 => 301,
            90..=95 => 404,
            96..=97 => 500,
            _ => 502,
        };
        let method = match r.gen_range(0..100) {
            0..=79 => "GET",
            80..=91 => "POST",
            92..=95 => "PUT",
            96..=97 => "DELETE",
            _ => "HEAD",
        };
        let ip = format!(
            "{}.{}.{}.{}",
            r.gen_range(1..224),
            r.gen::<u8>(),
            r.gen::<u8>(),
            r.gen::<u8>()
        );
        let path = PATHS[r.gen_range(0..PATHS.len())];
        let id = r.gen_range(1..100_000);
        use std::io::Write;
        let _ = write!(
            out,
            r#"{{"level":"info","ts":{ts:.6},"logger":"http.log.access.proxyhub","msg":"handled request","request":{{"remote_ip":"{ip}","remote_port":"{port}","client_ip":"{ip}","proto":"HTTP/{proto}","method":"{method}","host":"{host}","uri":"{path}{id}","headers":{{"User-Agent":["{ua}"]}}}},"user_id":"","duration":{dur:.9},"size":{size},"status":{status},"resp_headers":{{"Server":["Caddy"],"Content-Type":["text/html"]}}}}"#,
            ts = self.start + i as f64 * self.step,
            port = r.gen_range(1024..65535),
            proto = if r.gen_bool(0.5) { "2.0" } else { "1.1" },
            host = host(r.gen_range(0..HOSTS)),
            ua = AGENTS[r.gen_range(0..AGENTS.len())],
            dur = r.gen::<f64>() * 0.2,
            size = r.gen_range(0..200_000),
        );
        out.push(b'\n');
        self.next += 1;
    }
}

impl Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.pending.len() {
            self.pending.clear();
            self.at = 0;
            while self.pending.len() < 64 * 1024 && self.next < self.count {
                let mut line = std::mem::take(&mut self.pending);
                self.line(&mut line);
                self.pending = line;
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
