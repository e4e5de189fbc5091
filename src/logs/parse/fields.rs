//! Decoding single fields of access-log lines: lenient numbers, timestamps in every format
//! Caddy can write, Go durations, and hosts without their port.

use std::borrow::Cow;

use serde::{de, Deserialize, Deserializer};
use time::{format_description::well_known::Rfc3339, macros::format_description, OffsetDateTime};

/// A JSON number, or a string that should hold one (loggers differ on quoting).
#[derive(Debug, Clone, PartialEq)]
pub enum Num<'a> {
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
}

impl Num<'_> {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Num::Int(i) => Some(*i),
            Num::Float(f) if f.is_finite() => Some(*f as i64),
            Num::Float(_) => None,
            Num::Str(s) => s.trim().parse::<i64>().ok().or_else(|| {
                let f = s.trim().parse::<f64>().ok()?;
                f.is_finite().then_some(f as i64)
            }),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Num::Int(i) => Some(*i as f64),
            Num::Float(f) => Some(*f),
            Num::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Num<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Num<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Num::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(Num::Float(v as f64), Num::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Num::Float(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Num::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Num::Str(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// The first of a list of strings (a header's values), borrowed unless it holds escapes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct First<'a>(pub Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for First<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = First<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut first = None;
                while let Some(Text(v)) = seq.next_element()? {
                    first.get_or_insert(v);
                }
                Ok(First(first))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A string, borrowed unless it holds escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Epoch microseconds from a number of seconds (or, judged by size, milli-, micro- or
/// nanoseconds: Caddy's `time_format` can be any of them) or from a formatted time.
pub fn timestamp_us(ts: &Num) -> Option<i64> {
    match ts {
        Num::Int(i) => Some(match i.unsigned_abs() {
            0..100_000_000_000 => i.checked_mul(1_000_000)?,
            100_000_000_000..100_000_000_000_000 => i.checked_mul(1_000)?,
            100_000_000_000_000..100_000_000_000_000_000 => *i,
            _ => i / 1_000,
        }),
        Num::Float(f) => seconds_to_us(match f.abs() {
            a if a < 1e11 => *f,
            a if a < 1e14 => f / 1e3,
            a if a < 1e17 => f / 1e6,
            _ => f / 1e9,
        }),
        Num::Str(s) => formatted_time(s.trim()).map(|t| (t.unix_timestamp_nanos() / 1000) as i64),
    }
}

/// Seconds (possibly fractional) to whole microseconds.
pub fn seconds_to_us(s: f64) -> Option<i64> {
    let us = (s * 1e6).round();
    (us.is_finite() && us.abs() < 9.0e18).then_some(us as i64)
}

/// RFC 3339, Caddy's `iso8601` (`+0100` offsets), `wall*` (no zone: taken as UTC) and
/// `common_log` (`02/Jan/2006:15:04:05 -0700`).
fn formatted_time(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let b = s.as_bytes();
    if b.len() > 10 && matches!(b[b.len() - 5], b'+' | b'-') && b[10] == b'T' {
        let (head, off) = s.split_at(s.len() - 2);
        return OffsetDateTime::parse(&format!("{head}:{off}"), &Rfc3339).ok();
    }
    if b.len() >= 19 && b[4] == b'/' && b[10] == b' ' {
        let iso = format!("{}T{}Z", s[..10].replace('/', "-"), &s[11..]);
        return OffsetDateTime::parse(&iso, &Rfc3339).ok();
    }
    let clf = format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
    );
    OffsetDateTime::parse(s, &clf).ok()
}

/// A duration in microseconds: a number of seconds (an integer of a million or more is
/// Caddy's `duration_format: nano`), or a Go duration string like `1.5ms` or `2m3s`.
pub fn duration_us(d: &Num) -> Option<i64> {
    match d {
        Num::Int(i) if *i >= 1_000_000 => Some(i / 1000),
        Num::Str(s) => go_duration_us(s.trim()),
        n => seconds_to_us(n.as_f64()?),
    }
}

fn go_duration_us(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return seconds_to_us(secs);
    }
    let mut rest = s;
    let mut total = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-3,
            "us" | "µs" | "μs" => 1.0,
            "ms" => 1e3,
            "s" => 1e6,
            "m" => 60e6,
            "h" => 3600e6,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[u..];
    }
    (total.is_finite() && total < 9.0e18).then_some(total.round() as i64)
}

/// The host of a `Host` header without its port, lower-cased, without a trailing dot.
pub fn domain(host: &str) -> Cow<'_, str> {
    let h = if host.starts_with('[') {
        host.find(']').map_or(host, |i| &host[..=i])
    } else {
        match host.split_once(':') {
            Some((name, port)) if !port.contains(':') => name,
            _ => host,
        }
    };
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    }
}

/// An address without its port (`1.2.3.4:5678` → `1.2.3.4`, `[::1]:80` → `::1`).
pub fn ip_without_port(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.split_once(':') {
        Some((ip, port)) if !port.contains(':') => ip,
        _ => addr,
    }
}

/// A latency as people read it: `47µs`, `12.3ms`, `1.25s`.
pub fn human_latency(us: i64) -> String {
    match us {
        ..1_000 => format!("{}µs", us.max(0)),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Option<i64> {
        timestamp_us(&Num::Str(s.into()))
    }

    #[test]
    fn timestamps_in_every_caddy_format_agree() {
        let want = Some(1_705_314_600_123_000);
        assert_eq!(timestamp_us(&Num::Float(1_705_314_600.123)), want);
        assert_eq!(timestamp_us(&Num::Float(1_705_314_600_123.0)), want);
        assert_eq!(timestamp_us(&Num::Int(1_705_314_600_123_000_000)), want);
        assert_eq!(ts("2024-01-15T10:30:00.123Z"), want);
        assert_eq!(ts("2024-01-15T11:30:00.123+01:00"), want);
        assert_eq!(ts("2024-01-15T11:30:00.123+0100"), want);
        assert_eq!(ts("2024/01/15 10:30:00.123"), want);
        assert_eq!(
            ts("15/Jan/2024:11:30:00 +0100"),
            Some(1_705_314_600_000_000)
        );
        assert_eq!(ts("yesterday"), None);
    }

    #[test]
    fn durations_as_seconds_nanoseconds_or_go_strings() {
        assert_eq!(duration_us(&Num::Float(0.000047561)), Some(48));
        assert_eq!(duration_us(&Num::Float(1.5)), Some(1_500_000));
        assert_eq!(duration_us(&Num::Int(12_300_000)), Some(12_300));
        assert_eq!(duration_us(&Num::Str("12.3ms".into())), Some(12_300));
        assert_eq!(duration_us(&Num::Str("1m2.5s".into())), Some(62_500_000));
        assert_eq!(duration_us(&Num::Str("350µs".into())), Some(350));
        assert_eq!(duration_us(&Num::Str("fast".into())), None);
    }

    #[test]
    fn domains_lose_their_port_and_case() {
        assert_eq!(domain("App.Example.com:8080"), "app.example.com");
        assert_eq!(domain("app.example.com."), "app.example.com");
        assert_eq!(domain("[::1]:443"), "[::1]");
        assert_eq!(domain("::1"), "::1");
        assert_eq!(ip_without_port("10.0.0.1:5555"), "10.0.0.1");
        assert_eq!(ip_without_port("[2001:db8::1]:80"), "2001:db8::1");
        assert_eq!(ip_without_port("2001:db8::1"), "2001:db8::1");
    }

    #[test]
    fn latencies_read_like_people_write_them() {
        assert_eq!(human_latency(47), "47µs");
        assert_eq!(human_latency(12_345), "12.3ms");
        assert_eq!(human_latency(1_250_000), "1.25s");
    }
}
