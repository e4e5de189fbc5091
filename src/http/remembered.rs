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
    pub vhosts: ByVersion<(Vec<Vhost>, i64)>,
    pub changelog: ByVersion<Bytes>,
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
}
