//! The counts of a period for `GET /api/logs/stats`: the period asked for, checked, and its
//! requests per minute up to two hours, per hour beyond, with the busiest domains and the
//! most requested paths.

use time::OffsetDateTime;

use super::{
    counts::{minute_counts, minutes_cover, rollup_counts},
    rollup::Size,
    top::{top_paths, Top},
};
use crate::{db::Db, logs::store::domains, timestamps};

/// The status classes a bucket counts, in the order they are shown, with their names (0 is
/// every status outside 2xx to 5xx).
pub const CLASSES: [(i64, &str); 5] =
    [(2, "2xx"), (3, "3xx"), (4, "4xx"), (5, "5xx"), (0, "other")];

/// A period that cannot be counted; the message says why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPeriod(pub String);

/// The period and domain to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    /// Lower case; `None` for every domain.
    pub domain: Option<String>,
}

impl Period {
    /// Checks the values of a query string as given: ISO-8601 times, `to` by default now,
    /// `from` by default an hour before `to`, at most 31 days apart; an empty value is no value.
    pub fn parse(
        domain: Option<String>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Period, InvalidPeriod> {
        let to = parse_time("to", to, OffsetDateTime::now_utc())?;
        let from = parse_time("from", from, to - time::Duration::hours(1))?;
        let span = (to - from).whole_seconds();
        if span <= 0 {
            return Err(InvalidPeriod("from must be before to".into()));
        }
        if span > 31 * 86400 {
            return Err(InvalidPeriod("the period may be at most 31 days".into()));
        }
        let domain = domain
            .map(|d| d.trim().to_lowercase())
            .filter(|d| !d.is_empty());
        Ok(Period { from, to, domain })
    }
}

fn parse_time(
    name: &str,
    v: Option<&str>,
    default: OffsetDateTime,
) -> Result<OffsetDateTime, InvalidPeriod> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => timestamps::parse(s).ok_or_else(|| {
            InvalidPeriod(format!("{name} must be an ISO-8601 timestamp, got {s:?}"))
        }),
    }
}

/// One bucket of the chart: its start and its requests per status class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Epoch seconds.
    pub t: i64,
    /// In [`CLASSES`] order.
    pub requests: [i64; 5],
}

/// The counts of a [`Period`].
#[derive(Debug)]
pub struct Stats {
    /// Buckets of a minute (periods up to two hours) or of an hour.
    pub minutely: bool,
    /// From the bucket holding `from` to the one holding `to`, oldest first.
    pub buckets: Vec<Bucket>,
    /// Requests of all buckets.
    pub total: i64,
    /// The ten busiest domains.
    pub top_domains: Vec<Top>,
    /// The ten most requested paths among the newest requests of the period.
    pub top_paths: Vec<Top>,
    /// How many requests the top paths were counted over.
    pub top_paths_sample: i64,
}

/// Counts the requests of `period`.
pub async fn stats(db: &Db, period: &Period) -> Result<Stats, sqlx::Error> {
    let (from, to, domain) = (period.from, period.to, &period.domain);
    let span = (to - from).whole_seconds();
    // Per minute up to two hours, per hour beyond.
    let minutely = span <= 2 * 3600;
    let step = if minutely { 60 } else { 3600 };
    let start = from.unix_timestamp() - from.unix_timestamp().rem_euclid(step);
    let end = to.unix_timestamp();

    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (counts, top_domains) = if !minutely {
        rollup_counts(db, Size::Hour, start, end, domain.as_deref()).await?
    } else if minutes_cover(db, start, now).await? {
        rollup_counts(db, Size::Minute, start, end, domain.as_deref()).await?
    } else {
        let (counts, by_domain) = minute_counts(db, start, end, domain.as_deref()).await?;
        let ids: Vec<i64> = by_domain.keys().copied().collect();
        let names = domains::names(&mut *db.acquire().await?, &ids).await?;
        let mut top: Vec<Top> = by_domain
            .into_iter()
            .map(|(id, n)| Top {
                domain: Some(names.get(&id).cloned().unwrap_or_default()),
                path: None,
                count: n,
            })
            .collect();
        top.sort_by(|a, b| b.count.cmp(&a.count).then(a.domain.cmp(&b.domain)));
        top.truncate(10);
        (counts, top)
    };
    let mut total = 0;
    let mut buckets = Vec::new();
    let mut t = start;
    while t <= end {
        let mut requests = [0; CLASSES.len()];
        for (i, (c, _)) in CLASSES.into_iter().enumerate() {
            let n = counts.get(&(t, c)).copied().unwrap_or(0);
            total += n;
            requests[i] = n;
        }
        buckets.push(Bucket { t, requests });
        t += step;
    }

    let (top_paths, sampled) = top_paths(db, from, to, domain.as_deref()).await?;

    Ok(Stats {
        minutely,
        buckets,
        total,
        top_domains,
        top_paths,
        top_paths_sample: sampled,
    })
}
