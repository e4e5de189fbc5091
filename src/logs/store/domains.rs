//! Domains are stored once; rows refer to them by id, which keeps rows and the per-domain
//! indexes small and their comparisons integer ones.

use foldhash::{HashMap, HashMapExt};

use sqlx::Row;

use crate::db::Tx;
use crate::logs::parse::Entry;

/// The ids of domains already stored, learned as batches are committed.
#[derive(Debug, Default)]
pub struct Domains {
    known: HashMap<String, i64>,
}

/// Ids of one batch's domains, and those learned while storing it.
pub struct Resolved {
    pub ids: Vec<i64>,
    learned: Vec<(String, i64)>,
}

impl Domains {
    /// The domain id of every entry, creating the missing domains in `tx`.
    pub async fn resolve(
        &self,
        tx: &mut Tx,
        entries: &[Entry<'_>],
    ) -> Result<Resolved, sqlx::Error> {
        let mut learned: HashMap<&str, i64> = HashMap::new();
        let mut ids = Vec::with_capacity(entries.len());
        for e in entries {
            let name = e.domain.as_ref();
            let id = match self.known.get(name).or_else(|| learned.get(name)) {
                Some(&id) => id,
                None => {
                    let id = create(tx, name).await?;
                    learned.insert(name, id);
                    id
                }
            };
            ids.push(id);
        }
        let learned = learned
            .into_iter()
            .map(|(n, id)| (n.to_string(), id))
            .collect();
        Ok(Resolved { ids, learned })
    }

    /// Keeps what a committed batch learned (not before: a rolled-back id does not exist).
    pub fn remember(&mut self, resolved: Resolved) {
        self.known.extend(resolved.learned);
    }
}

async fn create(tx: &mut Tx, name: &str) -> Result<i64, sqlx::Error> {
    sqlx::query("INSERT INTO access_log_domains (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query("SELECT id FROM access_log_domains WHERE name = $1")
        .bind(name)
        .fetch_one(&mut **tx)
        .await?;
    row.try_get(0)
}

/// The names of domain ids (unknown ids are left out).
pub async fn names(
    conn: &mut sqlx::AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, String>, sqlx::Error> {
    names_in(conn, "access_log_domains", ids).await
}

/// The names of ids in `table` (one of the store's id–name tables: domains, nodes), read 500
/// at a time; unknown ids are left out.
pub(super) async fn names_in(
    conn: &mut sqlx::AnyConnection,
    table: &'static str,
    ids: &[i64],
) -> Result<HashMap<i64, String>, sqlx::Error> {
    let mut names = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id, name FROM {table} WHERE id IN ({})",
            crate::db::placeholders(chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            names.insert(r.try_get("id")?, r.try_get("name")?);
        }
    }
    Ok(names)
}
