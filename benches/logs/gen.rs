//! Generated Caddy access logs, 200 hosts each, in three shapes ([`Workload`]): the project's
//! ~490-byte Caddy 2.6 lines with mixed methods, statuses and user agents; short uniform
//! lines (~400 bytes, one user agent, few clients and pages); and long Caddy 2.11 lines (many request headers, long
//! user agents and query strings, TLS details).

use std::io::{self, Read, Write};

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
const LONG_AGENTS: [&str; 3] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86 OPR/115.0.0.0 (Edition bench; en-US; rv:131.0)",
    "Mozilla/5.0 (Linux; Android 14; SM-S928B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.135 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/491.0.0.58.75;]",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15 Instagram 361.0.0.46.88 (iPhone15,3; iOS 18_2; en_US; en; scale=3.00)",
];

/// The shape of the generated lines.
#[allow(dead_code)] // benches/caddy writes only the project's lines
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The project's lines: ~490 bytes, mixed methods, statuses and four user agents.
    Project,
    /// Short uniform lines: ~400 bytes, GETs answered 200, one user agent, ~1,000 clients
    /// and ~800 pages.
    Uniform,
    /// Long lines: many request headers, long user agents and query strings.
    Long,
}

#[allow(dead_code)]
impl Workload {
    pub const ALL: [Workload; 3] = [Workload::Project, Workload::Uniform, Workload::Long];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Project => "project lines",
            Workload::Uniform => "short uniform lines",
            Workload::Long => "long lines",
        }
    }
}

pub fn host(k: usize) -> String {
    format!("shop-{k:03}.example.com")
}

/// Generates `count` lines with timestamps spread evenly over `span_s` seconds up to `end`.
pub struct Lines {
    rng: StdRng,
    workload: Workload,
    next: u64,
    count: u64,
    start: f64,
    step: f64,
    pending: Vec<u8>,
    at: usize,
    /// Each line stamped with the time it is made, as a proxy stamps what it serves.
    live: bool,
}

impl Lines {
    /// The project's lines (what `benches/caddy` writes too).
    pub fn new(count: u64, end: f64, span_s: f64) -> Self {
        Self::of(Workload::Project, count, end, span_s)
    }

    pub fn of(workload: Workload, count: u64, end: f64, span_s: f64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(7),
            workload,
            next: 0,
            count,
            start: end - span_s,
            step: span_s / count.max(1) as f64,
            pending: Vec::new(),
            at: 0,
            live: false,
        }
    }

    /// The project's lines without end, each stamped with the time it is made (what a
    /// proxy's live log holds).
    #[allow(dead_code)] // the logs benchmark's stores are made of past days
    pub fn live() -> Self {
        Self {
            live: true,
            ..Self::new(u64::MAX, 0.0, 0.0)
        }
    }

    pub fn line(&mut self, out: &mut Vec<u8>) {
        let ts = match self.live {
            true => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            false => self.start + self.next as f64 * self.step,
        };
        match self.workload {
            Workload::Project => project(&mut self.rng, ts, out),
            Workload::Uniform => uniform(&mut self.rng, ts, out),
            Workload::Long => long(&mut self.rng, ts, out),
        }
        out.push(b'\n');
        self.next += 1;
    }
}

fn status(r: &mut StdRng) -> u16 {
    match r.gen_range(0..100) {
        0..=79 => 200,
        80..=84 => 304,
        85..=89 => 301,
        90..=95 => 404,
        96..=97 => 500,
        _ => 502,
    }
}

fn method(r: &mut StdRng) -> &'static str {
    match r.gen_range(0..100) {
        0..=79 => "GET",
        80..=91 => "POST",
        92..=95 => "PUT",
        96..=97 => "DELETE",
        _ => "HEAD",
    }
}

fn ip(r: &mut StdRng) -> String {
    format!(
        "{}.{}.{}.{}",
        r.gen_range(1..224),
        r.gen::<u8>(),
        r.gen::<u8>(),
        r.gen::<u8>()
    )
}

fn project(r: &mut StdRng, ts: f64, out: &mut Vec<u8>) {
    let (status, method, ip) = (status(r), method(r), ip(r));
    let path = PATHS[r.gen_range(0..PATHS.len())];
    let id = r.gen_range(1..100_000);
    let _ = write!(
        out,
        r#"{{"level":"info","ts":{ts:.6},"logger":"http.log.access.proxyhub","msg":"handled request","request":{{"remote_ip":"{ip}","remote_port":"{port}","client_ip":"{ip}","proto":"HTTP/{proto}","method":"{method}","host":"{host}","uri":"{path}{id}","headers":{{"User-Agent":["{ua}"]}}}},"user_id":"","duration":{dur:.9},"size":{size},"status":{status},"resp_headers":{{"Server":["Caddy"],"Content-Type":["text/html"]}}}}"#,
        port = r.gen_range(1024..65535),
        proto = if r.gen_bool(0.5) { "2.0" } else { "1.1" },
        host = host(r.gen_range(0..HOSTS)),
        ua = AGENTS[r.gen_range(0..AGENTS.len())],
        dur = r.gen::<f64>() * 0.2,
        size = r.gen_range(0..200_000),
    );
}

fn uniform(r: &mut StdRng, ts: f64, out: &mut Vec<u8>) {
    // Few clients and pages: what GoAccess reads fastest (its tables stay small).
    let ip = format!("10.0.{}.{}", r.gen_range(0..4), r.gen_range(1..255));
    let path = PATHS[r.gen_range(0..PATHS.len())];
    let _ = write!(
        out,
        r#"{{"level":"info","ts":{ts:.6},"logger":"http.log.access.log0","msg":"handled request","request":{{"remote_ip":"{ip}","remote_port":"{port}","client_ip":"{ip}","proto":"HTTP/1.1","method":"GET","host":"{host}","uri":"{path}{id}","headers":{{"User-Agent":["Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"]}}}},"user_id":"","duration":{dur:.9},"size":{size},"status":200,"resp_headers":{{}}}}"#,
        port = r.gen_range(1024..65535),
        host = host(r.gen_range(0..HOSTS)),
        id = r.gen_range(1..100),
        dur = r.gen::<f64>() * 0.2,
        size = r.gen_range(0..200_000),
    );
}

fn long(r: &mut StdRng, ts: f64, out: &mut Vec<u8>) {
    let (status, method, ip) = (status(r), method(r), ip(r));
    let path = PATHS[r.gen_range(0..PATHS.len())];
    let host = host(r.gen_range(0..HOSTS));
    let ua = LONG_AGENTS[r.gen_range(0..LONG_AGENTS.len())];
    let (a, b, c) = (r.gen::<u64>(), r.gen::<u32>(), r.gen::<u64>());
    let query = format!(
        "utm_source=newsletter&utm_medium=email&utm_campaign=winter_sale_{b}&utm_content=hero_banner&fbclid=IwAR{a:016x}{c:016x}&session={c:x}&ref=https%3A%2F%2Fwww.example.org%2Farticles%2F{b}%3Fpage%3D2"
    );
    let _ = write!(
        out,
        r#"{{"level":"info","ts":{ts:.6},"logger":"http.log.access.log0","msg":"handled request","request":{{"remote_ip":"{ip}","remote_port":"{port}","client_ip":"{ip}","proto":"HTTP/2.0","method":"{method}","host":"{host}","uri":"{path}{b}?{query}","headers":{{"Accept":["text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"],"Accept-Encoding":["gzip, deflate, br, zstd"],"Accept-Language":["en-US,en;q=0.9,de;q=0.8,fr;q=0.7"],"Cache-Control":["max-age=0"],"Cookie":["REDACTED"],"Referer":["https://{host}/products/{b}?sort=price&filter=in_stock"],"Sec-Ch-Ua":["\"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\""],"Sec-Ch-Ua-Mobile":["?0"],"Sec-Ch-Ua-Platform":["\"Windows\""],"Sec-Fetch-Dest":["document"],"Sec-Fetch-Mode":["navigate"],"Sec-Fetch-Site":["same-origin"],"Upgrade-Insecure-Requests":["1"],"User-Agent":["{ua}"],"X-Forwarded-For":["{ip}, 10.0.{x}.{y}"],"X-Request-Id":["{a:016x}-{c:016x}"]}},"tls":{{"resumed":false,"version":772,"cipher_suite":4865,"proto":"h2","server_name":"{host}"}}}},"bytes_read":0,"user_id":"","duration":{dur:.9},"size":{size},"status":{status},"resp_headers":{{"Server":["Caddy"],"Alt-Svc":["h3=\":443\"; ma=2592000"],"Content-Type":["text/html; charset=utf-8"],"Cache-Control":["private, no-store"],"Vary":["Accept-Encoding"]}}}}"#,
        port = r.gen_range(1024..65535),
        x = r.gen::<u8>(),
        y = r.gen::<u8>(),
        dur = r.gen::<f64>() * 0.2,
        size = r.gen_range(0..200_000),
    );
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
