//! The filters of a query, and how the values of a `GET /api/logs` query string become
//! them: checked, with the page and page size.

use super::WINDOW;
use crate::{logs::store::nodes, timestamps};

/// Validated filters.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Filter {
    pub domain: Option<String>,
    pub status: Option<i64>,
    /// A status class: 5 for 5xx.
    pub status_class: Option<i64>,
    /// Epoch microseconds, inclusive.
    pub from_us: Option<i64>,
    /// Epoch microseconds, inclusive.
    pub to_us: Option<i64>,
    pub method: Option<String>,
    /// Case-insensitive (ASCII) substring of the path.
    pub q: Option<String>,
    /// Only the requests shipped by this node (`proxyhub logs ship --node`).
    pub node: Option<String>,
}

impl Filter {
    /// No filter at all: every stored request matches.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }
}

/// The values of a `GET /api/logs` query string as given: filters and paging, unchecked.
#[derive(Debug, Default, Clone)]
pub struct RawFilter {
    pub domain: Option<String>,
    /// A code (`404`) or a class (`4xx`).
    pub status: Option<String>,
    pub page: Option<String>,
    pub limit: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub method: Option<String>,
    pub q: Option<String>,
    pub node: Option<String>,
}

/// A query string value that is not valid; the message says which and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidQuery(pub String);

/// Checks the values of a query string: the filter, the page (from 1) and the page size.
/// Values are trimmed; an empty one is no value.
pub fn validate(raw: RawFilter) -> Result<(Filter, i64, i64), InvalidQuery> {
    let present = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let int =
        |name: &str, v: Option<String>, min: i64, max: i64| -> Result<Option<i64>, InvalidQuery> {
            let Some(v) = present(v) else { return Ok(None) };
            match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(InvalidQuery(format!(
                    "{name} must be an integer from {min} to {max}, got {v:?}"
                ))),
            }
        };
    let time = |name: &str, v: Option<String>| -> Result<Option<i64>, InvalidQuery> {
        let Some(v) = present(v) else { return Ok(None) };
        let t = timestamps::parse(&v).ok_or_else(|| {
            InvalidQuery(format!(
                "{name} must be an ISO-8601 timestamp like 2025-01-15T10:30:00.000Z, got {v:?}"
            ))
        })?;
        Ok(Some((t.unix_timestamp_nanos() / 1000) as i64))
    };
    // `status` is a code (404) or a class (4xx).
    let class = raw
        .status
        .as_deref()
        .map(str::trim)
        .filter(|s| s.len() == 3 && s.as_bytes()[1..].eq_ignore_ascii_case(b"xx"))
        .map(|s| match s.as_bytes()[0] {
            c @ b'1'..=b'5' => Ok(i64::from(c - b'0')),
            _ => Err(InvalidQuery(format!(
                "status class must be 1xx to 5xx, got {s:?}"
            ))),
        })
        .transpose()?;
    let status = if class.is_some() { None } else { raw.status };
    let page = int("page", raw.page, 1, 1_000_000)?.unwrap_or(1);
    let limit = int("limit", raw.limit, 1, 500)?.unwrap_or(50);
    let filter = Filter {
        domain: present(raw.domain).map(|d| d.to_ascii_lowercase()),
        status: int("status", status, 0, 999)?,
        status_class: class,
        from_us: time("from", raw.from)?,
        to_us: time("to", raw.to)?,
        method: present(raw.method).map(|m| m.to_ascii_uppercase()),
        q: present(raw.q),
        node: present(raw.node)
            .map(|n| nodes::node_name(&n))
            .transpose()
            .map_err(|e| InvalidQuery(format!("node: {e}")))?,
    };
    if let (Some(from), Some(to)) = (filter.from_us, filter.to_us) {
        if from > to {
            return Err(InvalidQuery("from must not be after to".into()));
        }
    }
    if filter
        .method
        .as_ref()
        .is_some_and(|m| m.len() > 16 || !m.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(InvalidQuery("method must be letters only, like GET".into()));
    }
    if filter.q.as_ref().is_some_and(|q| q.len() > 512)
        || filter.domain.as_ref().is_some_and(|d| d.len() > 255)
    {
        return Err(InvalidQuery(
            "q and domain are limited to 512 and 255 characters".into(),
        ));
    }
    if page * limit > WINDOW {
        return Err(InvalidQuery(format!(
            "pages reach back {WINDOW} requests (page × limit ≤ {WINDOW}); narrow the search with from/to or other filters"
        )));
    }
    Ok((filter, page, limit))
}
