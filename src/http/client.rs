//! Who a request comes from on the network: the client's address as far as it can be
//! believed (through trusted reverse proxies), and the key its attempts are counted by.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// What attempts are counted by: the address, or for IPv6 its /64 (one host usually holds a
/// whole /64 and could otherwise take a new address for every attempt).
pub fn limit_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// The client's address: the connection's, unless it comes from a trusted reverse proxy;
/// then the nearest address in `X-Forwarded-For` (read from the right, each proxy appending
/// the address it was reached from) that is not a trusted proxy itself. Addresses left of
/// it are the client's own say and are never believed.
pub fn client_ip(trusted: &[ipnet::IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    // A listener on [::] sees IPv4 clients as ::ffff:a.b.c.d.
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    // Every hop, left to right, over all header lines; one that is not text cannot be read
    // (`None`).
    let hops: Vec<Option<&str>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|hop| std::str::from_utf8(hop).ok())
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = hop.and_then(hop_address) else {
            // Not an address: nothing further left can be attributed.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// A hop of `X-Forwarded-For`: an address, or one with a port as some load balancers write
/// (`203.0.113.5:4711`, `[2001:db8::1]:4711`); IPv4-mapped IPv6 as IPv4.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_address_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> =
            vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let h = forwarded(&["198.51.100.7, 203.0.113.5"]);
        assert_eq!(
            client_ip(&trusted, ip("192.0.2.1"), &h),
            ip("192.0.2.1"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(client_ip(&trusted, ip("10.1.2.3"), &h), ip("203.0.113.5"));
        assert_eq!(
            client_ip(
                &trusted,
                ip("10.1.2.3"),
                &forwarded(&["198.51.100.7", "203.0.113.5, 10.9.9.9"])
            ),
            ip("203.0.113.5"),
            "trusted hops (a chain of proxies, several headers) are skipped; what the client \
             claimed to the left is not believed"
        );
        assert_eq!(
            client_ip(&trusted, ip("::1"), &forwarded(&["2001:db8::1"])),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(
                &trusted,
                ip("10.0.0.2"),
                &forwarded(&["203.0.113.5, ::ffff:10.9.9.9"])
            ),
            ip("203.0.113.5"),
            "a trusted hop written IPv4-mapped is still trusted"
        );
        assert_eq!(
            client_ip(&trusted, ip("10.0.0.2"), &forwarded(&["203.0.113.5:4711"])),
            ip("203.0.113.5"),
            "a hop with a port"
        );
        let mut odd = forwarded(&["203.0.113.5"]);
        odd.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xe9x, 198.51.100.9").unwrap(),
        );
        assert_eq!(
            client_ip(&trusted, ip("10.0.0.2"), &odd),
            ip("198.51.100.9"),
            "hops that are not text do not hide the readable ones right of them"
        );
        let mut odd = forwarded(&["203.0.113.5"]);
        odd.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xe9x, 10.9.9.9").unwrap(),
        );
        assert_eq!(
            client_ip(&trusted, ip("10.0.0.2"), &odd),
            ip("10.9.9.9"),
            "a hop that is not text ends the walk: what is left of it is not believed"
        );
        assert_eq!(
            client_ip(&trusted, ip("::ffff:10.1.2.3"), &h),
            ip("203.0.113.5"),
            "an IPv4 proxy seen by an IPv6 listener is still trusted"
        );
        assert_eq!(
            client_ip(&trusted, ip("10.1.2.3"), &HeaderMap::new()),
            ip("10.1.2.3"),
            "no header: the proxy itself"
        );
        assert_eq!(
            client_ip(
                &trusted,
                ip("10.1.2.3"),
                &forwarded(&["203.0.113.5, garbage"])
            ),
            ip("10.1.2.3"),
            "an unreadable hop ends the walk"
        );
        assert_eq!(
            client_ip(&[], ip("10.1.2.3"), &h),
            ip("10.1.2.3"),
            "no trusted proxies: the connection's address"
        );
    }

    #[test]
    fn attempts_count_per_ipv4_address_and_per_ipv6_64() {
        let key = |s: &str| limit_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("203.0.113.5"), "203.0.113.5");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            config: crate::config::Config,
        }
        let c = Cli::try_parse_from(["proxyhub", "--trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1"])
            .unwrap();
        let nets: Vec<String> = c
            .config
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]);
        let err = Cli::try_parse_from(["proxyhub", "--trusted-proxies", "10.0.0.0/33"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not an IP address or a CIDR range"), "{err}");
    }
}
