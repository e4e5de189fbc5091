//! The blocks a scan may find rows in, newest first, fetched a page at a time by keyset
//! pagination; the statements are built here, every value bound.

use sqlx::{any::AnyRow, Row as _};

use super::Filter;
use crate::db::Tx;

/// The blocks a filter may find rows in, newest first, fetched a few at a time (keyset
/// pagination on `(max_ts, min_ts, id)`, the order of the block and status indexes).
pub(super) struct Blocks {
    /// Fetches blocks with what opening them needs.
    sql: String,
    /// Fetches only what counting them needs (`id, min_ts, max_ts, n`), from the index.
    pub(super) count_sql: String,
    /// Counts in the database, over what `count_sql` would fetch: `entries`, the requests
    /// of those wholly inside `[from, to]` (two more binds after the limit), how many are
    /// `partial` (straddling a bound: their rows must be looked at), and the oldest entry's
    /// key; no row when there is no entry.
    pub(super) sum_sql: String,
    pub(super) binds: Vec<i64>,
    pub(super) after: (i64, i64, i64),
    /// Fetched blocks not opened yet, with their `max_ts`.
    pub(super) fetched: std::collections::VecDeque<(i64, AnyRow)>,
    page: i64,
    pub(super) done: bool,
}

impl Blocks {
    /// `ids`: the filter's domain and node as stored; `span`: the longest time a stored
    /// block spans.
    pub(super) fn new(
        f: &Filter,
        (domain_id, node_id): (Option<i64>, Option<i64>),
        paths: bool,
        span: i64,
    ) -> Self {
        let mut binds = Vec::new();
        let mut cond = Vec::new();
        let bind = |binds: &mut Vec<i64>, v: i64| {
            binds.push(v);
            format!("${}", binds.len())
        };
        // A status narrows best through its postings, which also count the block's requests
        // of that status; otherwise the block index (by domain or overall).
        let (t, id) = match f.status {
            Some(s) => {
                cond.push(format!("s.status = {}", bind(&mut binds, s)));
                ("s", "s.block_id")
            }
            None => ("b", "b.id"),
        };
        // `hits`: the block's requests passing the status filter.
        let mut cols = format!(
            "b.id, b.domain_id, b.node_id, b.min_ts, b.max_ts, b.n, {t}.n AS hits, b.ts_data, \
             b.status_data"
        );
        if f.method.is_some() {
            cols += ", b.method_data";
        }
        if paths {
            cols += ", b.path_data";
        }
        if let Some(d) = domain_id {
            cond.push(format!("{t}.domain_id = {}", bind(&mut binds, d)));
        }
        // The node is the block's (postings have none: with a status, checked on the join).
        if let Some(n) = node_id {
            cond.push(format!("b.node_id = {}", bind(&mut binds, n)));
        }
        if let Some(v) = f.from_us {
            cond.push(format!("{t}.max_ts >= {}", bind(&mut binds, v)));
        }
        if let Some(v) = f.to_us {
            // Blocks ending later than `to` plus the longest span cannot hold any.
            cond.push(format!(
                "{t}.max_ts <= {}",
                bind(&mut binds, v.saturating_add(span))
            ));
            cond.push(format!("{t}.min_ts <= {}", bind(&mut binds, v)));
        }
        let k = binds.len();
        cond.push(format!(
            "({t}.max_ts, {t}.min_ts, {id}) < (${}, ${}, ${})",
            k + 1,
            k + 2,
            k + 3
        ));
        let order = format!(
            "WHERE {} ORDER BY {t}.max_ts DESC, {t}.min_ts DESC, {id} DESC LIMIT ${}",
            cond.join(" AND "),
            k + 4
        );
        let (sql, count_sql) = if t == "s" {
            let join = match node_id {
                Some(_) => " JOIN access_log_blocks b ON b.id = s.block_id",
                None => "",
            };
            (
                format!("SELECT {cols} FROM access_log_block_statuses s JOIN access_log_blocks b ON b.id = s.block_id {order}"),
                format!("SELECT s.block_id AS id, s.min_ts, s.max_ts, s.n FROM access_log_block_statuses s{join} {order}"),
            )
        } else {
            (
                format!("SELECT {cols} FROM access_log_blocks b {order}"),
                format!("SELECT b.id, b.min_ts, b.max_ts, b.n FROM access_log_blocks b {order}"),
            )
        };
        // The oldest entry's key (to go on after it) beside the sums over all of them.
        let inside = format!("c.min_ts >= ${} AND c.max_ts <= ${}", k + 5, k + 6);
        let sum_sql = format!(
            "SELECT c.max_ts, c.min_ts, c.id, COUNT(*) OVER () AS entries, \
             CAST(SUM(CASE WHEN {inside} THEN c.n ELSE 0 END) OVER () AS BIGINT) AS inside, \
             CAST(SUM(CASE WHEN {inside} THEN 0 ELSE 1 END) OVER () AS BIGINT) AS partial \
             FROM ({count_sql}) AS c ORDER BY c.max_ts, c.min_ts, c.id LIMIT 1"
        );
        Blocks {
            sql,
            count_sql,
            sum_sql,
            binds,
            after: (i64::MAX, i64::MAX, i64::MAX),
            fetched: Default::default(),
            page: 4,
            done: false,
        }
    }

    /// The next block's `max_ts`, fetching more when needed.
    pub(super) async fn peek(&mut self, tx: &mut Tx) -> Result<Option<i64>, sqlx::Error> {
        if self.fetched.is_empty() && !self.done {
            let mut q = sqlx::query(&self.sql);
            for &b in &self.binds {
                q = q.bind(b);
            }
            let rows = q
                .bind(self.after.0)
                .bind(self.after.1)
                .bind(self.after.2)
                .bind(self.page)
                .fetch_all(&mut **tx)
                .await?;
            self.done = (rows.len() as i64) < self.page;
            self.page = (self.page * 2).min(32);
            if let Some(last) = rows.last() {
                self.after = (
                    last.try_get("max_ts")?,
                    last.try_get("min_ts")?,
                    last.try_get("id")?,
                );
            }
            for r in rows {
                self.fetched.push_back((r.try_get("max_ts")?, r));
            }
        }
        Ok(self.fetched.front().map(|f| f.0))
    }

    pub(super) fn take(&mut self) -> Option<AnyRow> {
        self.fetched.pop_front().map(|f| f.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::store::block::DAY_US;

    #[test]
    fn block_queries_bind_every_value_and_use_the_index_for_the_filter() {
        let f = Filter {
            status: Some(500),
            from_us: Some(10),
            to_us: Some(20),
            method: Some("GET' OR 1=1".into()),
            ..Filter::default()
        };
        let b = Blocks::new(&f, (None, None), false, DAY_US);
        assert_eq!(
            b.sql,
            "SELECT b.id, b.domain_id, b.node_id, b.min_ts, b.max_ts, b.n, s.n AS hits, b.ts_data, b.status_data, \
             b.method_data FROM access_log_block_statuses s JOIN access_log_blocks b ON b.id = \
             s.block_id WHERE s.status = $1 AND s.max_ts >= $2 AND s.max_ts <= $3 AND s.min_ts \
             <= $4 AND (s.max_ts, s.min_ts, s.block_id) < ($5, $6, $7) ORDER BY s.max_ts DESC, \
             s.min_ts DESC, s.block_id DESC LIMIT $8"
        );
        assert_eq!(b.binds, [500, 10, 20 + DAY_US, 20]);
        // Summing wraps the counting statement; the range's bounds are two more binds.
        assert!(
            b.sum_sql.contains(&format!("FROM ({}) AS c", b.count_sql))
                && b.sum_sql.contains("c.min_ts >= $9 AND c.max_ts <= $10"),
            "{}",
            b.sum_sql
        );
        let ds = Blocks::new(&f, (Some(7), None), false, DAY_US);
        assert!(
            ds.sql
                .contains("WHERE s.status = $1 AND s.domain_id = $2 AND"),
            "{}",
            ds.sql
        );
        let unfiltered_status = Filter {
            status: None,
            ..f.clone()
        };
        let d = Blocks::new(&unfiltered_status, (Some(7), None), true, DAY_US);
        assert!(
            d.sql
                .contains("FROM access_log_blocks b WHERE b.domain_id = $1 AND b.max_ts >= $2"),
            "{}",
            d.sql
        );
        assert!(
            d.count_sql
                .starts_with("SELECT b.id, b.min_ts, b.max_ts, b.n FROM access_log_blocks b WHERE"),
            "counting reads the index only: {}",
            d.count_sql
        );
        // A node picks blocks by its index; with a status, on the postings' blocks.
        let n = Blocks::new(&unfiltered_status, (None, Some(3)), false, DAY_US);
        assert!(
            n.sql
                .contains("FROM access_log_blocks b WHERE b.node_id = $1 AND b.max_ts >= $2"),
            "{}",
            n.sql
        );
        let ns = Blocks::new(&f, (None, Some(3)), false, DAY_US);
        assert!(
            ns.count_sql.contains(
                "FROM access_log_block_statuses s JOIN access_log_blocks b ON b.id = s.block_id \
                 WHERE s.status = $1 AND b.node_id = $2"
            ),
            "{}",
            ns.count_sql
        );
        assert_eq!(ns.binds, [500, 3, 10, 20 + DAY_US, 20]);
    }
}
