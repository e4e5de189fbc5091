//! What list routes share: `page`, `limit` (at most 500), `order` and `search` read from the
//! query string, and a paged answer's `X-Total-Count` and `Link` (next, prev) headers.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Uri};

use super::error::ApiError;
use crate::db::Page;

pub const MAX_LIMIT: i64 = 500;
pub const DEFAULT_LIMIT: i64 = 100;

/// A page as asked for: everything when neither `page` nor `limit` is given (the lists'
/// original shape), else `limit` (default 100) rows of page `page` (from 1).
pub fn page(page: Option<String>, limit: Option<String>) -> Result<Option<(i64, i64)>, ApiError> {
    let (page, limit) = (number("page", page)?, number("limit", limit)?);
    if page.is_none() && limit.is_none() {
        return Ok(None);
    }
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_LIMIT}, got {limit}"
        )));
    }
    let page = page.unwrap_or(1);
    if !(1..=i64::MAX / MAX_LIMIT).contains(&page) {
        return Err(ApiError::bad_request(format!(
            "page must be 1 or more, got {page}"
        )));
    }
    Ok(Some((page, limit)))
}

/// The rows a page asks for.
pub fn rows(paged: Option<(i64, i64)>) -> Page {
    match paged {
        Some((page, limit)) => Page {
            limit: Some(limit),
            offset: (page - 1) * limit,
        },
        None => Page::default(),
    }
}

/// A query parameter given empty (`?enabled=`) is as if absent.
fn given(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// `true` or `false` (any case; `1`, `0` too).
pub fn flag(name: &str, v: Option<String>) -> Result<Option<bool>, ApiError> {
    match given(v).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(format!(
            "{name} must be true or false, got {other:?}"
        ))),
    }
}

/// A whole number.
pub fn number(name: &str, v: Option<String>) -> Result<Option<i64>, ApiError> {
    given(v)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("{name} must be a whole number, got {v:?}"))
            })
        })
        .transpose()
}

/// `asc` (the default) or `desc`, any case: whether the order is descending.
pub fn descending(order: Option<String>) -> Result<bool, ApiError> {
    match given(order).map(|o| o.to_ascii_lowercase()).as_deref() {
        None | Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "order must be asc or desc, got {other:?}"
        ))),
    }
}

/// A sort field from the list's allowlist, or a 400 naming the allowed ones.
/// A sort field from the list's allowlist (`allowed`, comma-separated), any case; a 400
/// naming the allowed ones otherwise.
pub fn sort<T: Default>(
    sort: Option<String>,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<T, ApiError> {
    let Some(s) = given(sort) else {
        return Ok(T::default());
    };
    allowed
        .split(", ")
        .find(|a| a.eq_ignore_ascii_case(&s))
        .and_then(parse)
        .ok_or_else(|| ApiError::bad_request(format!("sort must be one of {allowed}, got {s:?}")))
}

/// A search term: trimmed, at most 200 characters, none when empty.
pub fn search(s: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(s) = given(s) else {
        return Ok(None);
    };
    if s.chars().count() > 200 || s.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "search must be at most 200 characters, without control characters",
        ));
    }
    Ok(Some(s))
}

/// `X-Total-Count`, and for a paged answer a `Link` header to the next and previous pages
/// (the same query with another `page`).
pub fn headers(total: i64, paged: Option<(i64, i64)>, uri: &Uri) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        HeaderName::from_static("x-total-count"),
        HeaderValue::from(total),
    );
    let Some((page, limit)) = paged else {
        return h;
    };
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page="))
        .collect();
    let link_to = |n: i64| {
        let mut q = kept.clone();
        let page = format!("page={n}");
        q.push(&page);
        format!("<{}?{}>", uri.path(), q.join("&"))
    };
    let mut links = Vec::new();
    if page.saturating_mul(limit) < total {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
    }
    if page > 1 {
        let last = ((total + limit - 1) / limit).max(1);
        links.push(format!("{}; rel=\"prev\"", link_to((page - 1).min(last))));
    }
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        if !links.is_empty() {
            h.insert(header::LINK, v);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_query_and_point_both_ways() {
        let uri: Uri = "/api/vhosts?search=shop&limit=2&page=2".parse().unwrap();
        let h = headers(5, Some((2, 2)), &uri);
        assert_eq!(h["x-total-count"], "5");
        assert_eq!(
            h["link"],
            "</api/vhosts?search=shop&limit=2&page=3>; rel=\"next\", \
             </api/vhosts?search=shop&limit=2&page=1>; rel=\"prev\""
        );
        let last = headers(5, Some((3, 2)), &uri);
        assert!(!last["link"].to_str().unwrap().contains("next"));
        assert!(headers(5, None, &uri).get("link").is_none());
        let n = |v: &str| Some(v.to_string());
        assert!(page(None, n("501")).is_err());
        assert!(page(n("0"), None).is_err());
        assert!(page(n("x"), None).is_err());
        assert_eq!(page(n("3"), None).unwrap(), Some((3, 100)));
        assert_eq!(page(n(""), n("")).unwrap(), None, "empty is absent");
        assert_eq!(flag("enabled", n("")).unwrap(), None);
        assert!(descending(n("DESC")).unwrap());
    }
}
