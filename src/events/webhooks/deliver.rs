//! Sending one event to one webhook: signed (`X-Proxyhub-Signature: sha256=<hex HMAC-SHA256
//! of "<timestamp>.<body>">`), 10 s at most, no redirects followed, and only to a public
//! address unless private ones are allowed. The address is resolved and checked at every
//! send, and the request goes to the address that was checked (a name that resolves to a
//! public address when saved and to 127.0.0.1 later gets nowhere).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::digest::hex;

/// How long a receiver may take to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether webhooks may reach loopback, link-local and private addresses
/// (`PROXYHUB_WEBHOOK_ALLOW_PRIVATE`).
#[derive(Clone, Copy, Debug)]
pub struct SsrfPolicy {
    pub allow_private: bool,
}

/// Whether `ip` is an address of the public internet (not loopback, private, link-local,
/// shared, multicast, documentation or otherwise reserved), looking through IPv4 embedded in
/// IPv6.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let v4 =
                    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                return public_v4(v4);
            }
            if s[0] == 0x2002 {
                let v4 =
                    Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
                return public_v4(v4);
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard 100::/64
                || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
        }
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// Checks a webhook URL: http(s), a host, and (unless private addresses are allowed) a host
/// that resolves to public addresses only. Returns it normalized.
pub async fn check_url(url: &str, policy: SsrfPolicy) -> Result<String, String> {
    let (parsed, _) = resolve(url, policy).await?;
    Ok(parsed.to_string())
}

/// The URL parsed and the address to send to, both checked.
async fn resolve(url: &str, policy: SsrfPolicy) -> Result<(reqwest::Url, SocketAddr), String> {
    if url.len() > 2048 || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("not a URL (at most 2048 characters, no spaces or control characters)".into());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "only http and https URLs, not {}:",
            parsed.scheme()
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "no user or password in the URL: webhooks are authenticated by their signature".into(),
        );
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("the URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed
        .port_or_known_default()
        .ok_or("the URL has no port")?;
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
            .await
            .map_err(|_| format!("{host} did not resolve within {} s", TIMEOUT.as_secs()))?
            .map_err(|e| format!("{host} does not resolve: {e}"))?
            .collect(),
    };
    let first = *addrs
        .first()
        .ok_or_else(|| format!("{host} has no address"))?;
    if !policy.allow_private {
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(format!(
                "{host} is {}, a loopback, private or reserved address: refused (PROXYHUB_WEBHOOK_ALLOW_PRIVATE=true allows it)",
                bad.ip()
            ));
        }
    }
    Ok((parsed, first))
}

/// What one send came to.
#[derive(Clone, Debug)]
pub struct Sent {
    pub status: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
}

impl Sent {
    /// A 2xx answer.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The signature of `body` sent at `timestamp` (Unix seconds) with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// Sends `body` (the event `event`) to `url`, signed with `secret`.
pub async fn send(
    url: &str,
    secret: &str,
    event: &str,
    delivery_id: &str,
    body: &str,
    policy: SsrfPolicy,
) -> Sent {
    let started = Instant::now();
    let elapsed = |started: Instant| started.elapsed().as_millis() as i64;
    let (parsed, addr) = match resolve(url, policy).await {
        Ok(r) => r,
        Err(e) => {
            return Sent {
                status: None,
                duration_ms: elapsed(started),
                error: Some(e),
            }
        }
    };
    let host = parsed.host_str().unwrap_or_default().to_string();
    // The connection goes to the address just checked, whatever DNS says next.
    let client = match reqwest::Client::builder()
        // Straight to the checked address: no proxy from the environment, which would
        // resolve the name again itself.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .resolve(&host, addr)
        .user_agent(concat!("proxyhub-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return Sent {
                status: None,
                duration_ms: elapsed(started),
                error: Some(e.to_string()),
            }
        }
    };
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let answer = client
        .post(parsed)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Proxyhub-Event", event)
        .header("X-Proxyhub-Delivery", delivery_id)
        .header("X-Proxyhub-Timestamp", timestamp.to_string())
        .header("X-Proxyhub-Signature", signature(secret, timestamp, body))
        .body(body.to_string())
        .send()
        .await;
    match answer {
        Ok(r) => {
            let status = r.status().as_u16();
            let error =
                (!r.status().is_success()).then(|| format!("the receiver answered {status}"));
            Sent {
                status: Some(status),
                duration_ms: elapsed(started),
                error,
            }
        }
        Err(e) => Sent {
            status: None,
            duration_ms: elapsed(started),
            error: Some(if e.is_timeout() {
                format!("no answer within {} s", TIMEOUT.as_secs())
            } else {
                let mut m = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    m.push_str(": ");
                    m.push_str(&c.to_string());
                    cause = c.source();
                }
                m
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
        for good in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently, with Python's hmac module.
        assert_eq!(
            signature("secret", 1700000000, "{}"),
            "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
