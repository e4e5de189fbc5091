//! A status class: one scan per code of the class the store holds, merged newest first.

use sqlx::Row as _;

use super::{open::Key, Filter, Hit, Scan};
use crate::db::Tx;

/// What [`page`](super::page()) reads: one [`Scan`], or for a status class one per code of the
/// class the store holds, merged newest first (a request has one code: none is met twice).
pub(super) struct Merged {
    scans: Vec<Scan>,
    /// Each scan's next request, read ahead; `None` once it has no more.
    heads: Vec<Option<(Hit, bool)>>,
}

impl Merged {
    pub(super) async fn new(tx: &mut Tx, f: &Filter) -> Result<Merged, sqlx::Error> {
        let mut scans = Vec::new();
        match (f.status, f.status_class) {
            (None, Some(class)) => {
                for code in codes_of_class(tx, class).await? {
                    let one = Filter {
                        status: Some(code),
                        status_class: None,
                        ..f.clone()
                    };
                    scans.push(Scan::new(tx, &one, false).await?);
                }
            }
            // A code and a class: the code, if it is of the class; else nothing.
            (Some(code), Some(class)) => {
                if code / 100 == class {
                    let one = Filter {
                        status_class: None,
                        ..f.clone()
                    };
                    scans.push(Scan::new(tx, &one, false).await?);
                }
            }
            _ => scans.push(Scan::new(tx, f, false).await?),
        }
        let mut heads = Vec::with_capacity(scans.len());
        if scans.len() > 1 {
            for s in &mut scans {
                heads.push(s.next(tx).await?);
            }
        }
        Ok(Merged { scans, heads })
    }

    pub(super) async fn next(&mut self, tx: &mut Tx) -> Result<Option<(Hit, bool)>, sqlx::Error> {
        if let [one] = &mut self.scans[..] {
            return one.next(tx).await;
        }
        let newest = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|(h, _)| (key_of(h), i)))
            .max();
        let Some((_, i)) = newest else {
            return Ok(None);
        };
        let next = self.scans[i].next(tx).await?;
        Ok(std::mem::replace(&mut self.heads[i], next))
    }

    /// [`Scan::count_rest`] over all scans.
    pub(super) async fn count_rest(
        &mut self,
        tx: &mut Tx,
        cap: i64,
    ) -> Result<(i64, bool), sqlx::Error> {
        let mut n = self.heads.iter().flatten().count() as i64;
        for s in &mut self.scans {
            if n >= cap {
                return Ok((n, false));
            }
            let (k, all) = s.count_rest(tx, cap - n).await?;
            n += k;
            if !all {
                return Ok((n, false));
            }
        }
        Ok((n, true))
    }
}

/// A hit's place in the merge order (the order of [`Key`]).
fn key_of(h: &Hit) -> Key {
    (h.ts_us, h.block, std::cmp::Reverse(h.pos as usize))
}

/// The status codes of class `class` (5 for 500–599) found in the store, ascending: one index
/// seek each.
async fn codes_of_class(tx: &mut Tx, class: i64) -> Result<Vec<i64>, sqlx::Error> {
    let (mut after, end) = (class * 100 - 1, class * 100 + 100);
    let mut codes = Vec::new();
    loop {
        let code: Option<i64> = sqlx::query(
            "SELECT MIN(status) FROM access_log_block_statuses WHERE status > $1 AND status < $2",
        )
        .bind(after)
        .bind(end)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
        match code {
            Some(c) => {
                codes.push(c);
                after = c;
            }
            None => return Ok(codes),
        }
    }
}
