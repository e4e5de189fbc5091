//! Reads of the configuration remembered by its version. A busy team's dashboards and scripts
//! list the vhosts and the changelog over and over, while the configuration changes now and
//! then: a list is read once per version of the configuration (`changelog::version`, moved in
//! the transaction of every change) and given again while the version stays. Each request
//! still looks at the version, in the read transaction that would read the list, so a change
//! committed before the request began (by this process or by another replica) is always seen.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::body::Bytes;
use sqlx::AnyConnection;

use super::error::ApiError;
use crate::{apply::BoxFuture, changelog, db, vhosts::Vhost};

/// Lists remembered at most per kind (beyond, all are forgotten).
const KEPT: usize = 64;

/// Answers by question, each with the configuration version it was read at.
pub struct ByVersion<T> {
    kept: Mutex<HashMap<String, (i64, Arc<T>)>>,
}

impl<T> Default for ByVersion<T> {
    fn default() -> Self {
        Self {
            kept: Mutex::default(),
        }
    }
}

impl<T> ByVersion<T> {
    /// The answer to `question`: the one remembered when the configuration is still at the
    /// version it was read at (looked at in one statement), else read by `read` in a read
    /// transaction that reads the version too, and remembered under it.
    pub async fn answer<F>(
        &self,
        reads: &db::Db,
        question: String,
        read: F,
    ) -> Result<Arc<T>, ApiError>
    where
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, ApiError>>,
    {
        let version = changelog::version(&mut *reads.acquire().await?).await?;
        if let Some(kept) = self.get(&question, version) {
            return Ok(kept);
        }
        let mut tx = db::begin_read(reads).await?;
        let version = changelog::version(&mut tx).await?;
        let answer = Arc::new(read(&mut tx).await?);
        tx.rollback().await?;
        self.keep(question, version, answer.clone());
        Ok(answer)
    }

    /// The answer to `question` read at `version`, if remembered.
    fn get(&self, question: &str, version: i64) -> Option<Arc<T>> {
        let kept = self.kept.lock().expect("not poisoned");
        kept.get(question)
            .filter(|(v, _)| *v == version)
            .map(|(_, a)| a.clone())
    }

    /// Remembers `answer` to `question`, read at `version`.
    fn keep(&self, question: String, version: i64, answer: Arc<T>) {
        let mut kept = self.kept.lock().expect("not poisoned");
        kept.retain(|_, (v, _)| *v >= version);
        if kept.len() >= KEPT {
            kept.clear();
        }
        kept.insert(question, (version, answer));
    }
}

/// The configuration reads remembered: pages of vhosts (the rows and the total; an answer adds
/// each one's certificate status, which changes on its own) and pages of the changelog (JSON).
#[derive(Default)]
pub struct ConfigReads {
    pub vhosts: ByVersion<Listed>,
    pub changelog: ByVersion<Bytes>,
}

/// A page of vhosts read at one version, and its JSON answer as last made, with the
/// generations of what the answer adds (certificate statuses, upstream verdicts) it was made
/// at: 200 vhosts are serialized once per change of any of them, not once per request.
pub struct Listed {
    pub rows: Vec<Vhost>,
    /// How many vhosts the filters keep, in all.
    pub total: i64,
    body: Mutex<Option<((u64, u64), Bytes)>>,
}

impl Listed {
    pub fn new(rows: Vec<Vhost>, total: i64) -> Self {
        Self {
            rows,
            total,
            body: Mutex::default(),
        }
    }

    /// The answer at `generations` (read before anything `make` reads), made by `make`
    /// unless it was made at those. Made outside the lock: a slow one blocks no other.
    pub fn body(
        &self,
        generations: (u64, u64),
        make: impl FnOnce(&[Vhost]) -> Result<Bytes, ApiError>,
    ) -> Result<Bytes, ApiError> {
        if let Some((at, body)) = &*self.body.lock().expect("not poisoned") {
            if *at == generations {
                return Ok(body.clone());
            }
        }
        let body = make(&self.rows)?;
        let mut kept = self.body.lock().expect("not poisoned");
        // A newer answer made meanwhile stays.
        if kept.as_ref().is_none_or(|(at, _)| *at < generations) {
            *kept = Some((generations, body.clone()));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_given_again_at_its_version_only() {
        let kept: ByVersion<u8> = ByVersion::default();
        kept.keep("a".into(), 3, Arc::new(1));
        assert_eq!(kept.get("a", 3).as_deref(), Some(&1));
        assert_eq!(kept.get("a", 4), None, "the configuration changed since");
        assert_eq!(kept.get("b", 3), None);
        kept.keep("b".into(), 4, Arc::new(2));
        assert_eq!(kept.get("a", 3), None, "older versions are forgotten");
        assert_eq!(kept.get("b", 4).as_deref(), Some(&2));
    }

    #[test]
    fn a_vhost_list_is_made_again_when_what_it_adds_changed_only() {
        let listed = Listed::new(Vec::new(), 0);
        let made = std::cell::Cell::new(0);
        let make = |n: u8| {
            let made = &made;
            move |_: &[Vhost]| {
                made.set(made.get() + 1);
                Ok(Bytes::from(vec![n]))
            }
        };
        assert_eq!(listed.body((1, 1), make(1)).unwrap(), [1][..]);
        assert_eq!(listed.body((1, 1), make(2)).unwrap(), [1][..], "kept");
        assert_eq!(made.get(), 1);
        assert_eq!(
            listed.body((2, 1), make(3)).unwrap(),
            [3][..],
            "a certificate changed"
        );
        assert_eq!(
            listed.body((2, 2), make(4)).unwrap(),
            [4][..],
            "a verdict changed"
        );
        assert_eq!(listed.body((2, 2), make(5)).unwrap(), [4][..]);
        assert_eq!(made.get(), 3);
    }
}
