//! The busiest domains and the most requested paths of a period.

use foldhash::{HashMap, HashMapExt};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{
    db::{self, Db},
    logs::query::{self, Filter, Flow},
};

const PATH_MAX: usize = 256;

fn path_of(uri: &str) -> &str {
    let p = uri.split(['?', '#']).next().unwrap_or(uri);
    match p.char_indices().nth(PATH_MAX) {
        Some((i, _)) => &p[..i],
        None => p,
    }
}

/// How many of the period's newest requests the top paths are counted over.
pub const PATH_SAMPLE: i64 = 20_000;

/// The ten most requested paths (query strings dropped) among the newest [`PATH_SAMPLE`]
/// requests of the period: bounded work at any store size, with no per-path rollup that
/// would grow with every distinct URL. Returns them and how many requests were looked at.
pub(super) async fn top_paths(
    db: &Db,
    from: OffsetDateTime,
    to: OffsetDateTime,
    domain: Option<&str>,
) -> Result<(Vec<Top>, i64), sqlx::Error> {
    let us = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1000) as i64;
    let f = Filter {
        domain: domain.map(str::to_string),
        from_us: Some(us(from)),
        to_us: Some(us(to)),
        ..Filter::default()
    };
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut sampled = 0;
    let mut tx = db::begin_read(db).await?;
    query::scan(&mut tx, &f, true, |hit, _| {
        if let Some(p) = &hit.path {
            *counts.entry(path_of(p).to_string()).or_default() += 1;
        }
        sampled += 1;
        if sampled >= PATH_SAMPLE {
            Flow::Stop
        } else {
            Flow::More
        }
    })
    .await?;
    let mut top: Vec<(String, i64)> = counts.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top = top
        .into_iter()
        .take(10)
        .map(|(p, n)| Top {
            domain: None,
            path: Some(p),
            count: n,
        })
        .collect();
    Ok((top, sampled))
}

/// A busiest domain or a most requested path, and its requests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Top {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_their_query_and_length() {
        assert_eq!(path_of("/a/b?x=1#f"), "/a/b");
        assert_eq!(path_of(&"é".repeat(300)).chars().count(), PATH_MAX);
    }
}
