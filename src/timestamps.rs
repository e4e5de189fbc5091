//! Timestamps as proxyhub stores and answers them: ISO-8601 UTC with milliseconds.

use time::{format_description::well_known::Rfc3339, macros::format_description, OffsetDateTime};

/// Formats like `2025-01-15T10:30:00.000Z`.
pub fn iso(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .expect("formatting a UTC timestamp")
}

/// The current time in [`iso`] form.
/// A Unix time (seconds) as [`iso`]; none for none or an impossible time.
pub fn iso_epoch(epoch: Option<i64>) -> Option<String> {
    epoch
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .map(iso)
}

pub fn now() -> String {
    iso(OffsetDateTime::now_utc())
}

/// Parses any RFC 3339 timestamp.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_in_utc() {
        let t = parse("2025-01-15T12:30:00.123456+02:00").unwrap();
        assert_eq!(iso(t), "2025-01-15T10:30:00.123Z");
    }
}
