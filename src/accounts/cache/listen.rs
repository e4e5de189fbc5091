//! The auth cache across replicas on one PostgreSQL: a write that ends or changes access
//! notifies [`CHANNEL`] in its transaction, and every replica listens and evicts. A replica
//! that is not listening (not yet, or its connection dropped) keeps its cache empty and off,
//! so it asks the store, until it listens again.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::{AuthCache, Evict};

/// The PostgreSQL notification channel of auth evictions.
pub const CHANNEL: &str = "proxyhub_auth";
/// How long to wait before listening again after the connection dropped.
const RETRY: Duration = Duration::from_secs(1);

/// Tells the other replicas, when `conn`'s transaction commits, what it ends (PostgreSQL).
pub(super) async fn notify(
    conn: &mut sqlx::AnyConnection,
    what: &Evict,
) -> Result<(), sqlx::Error> {
    if crate::db::is_sqlite_conn(conn) {
        return Ok(());
    }
    sqlx::query("SELECT pg_notify($1, $2)::text")
        .bind(CHANNEL)
        .bind(payload(what))
        .execute(conn)
        .await?;
    Ok(())
}

fn payload(what: &Evict) -> String {
    match what {
        Evict::Session(id) => format!("s:{id}"),
        Evict::User(id) => format!("u:{id}"),
        Evict::Token(id) => format!("t:{id}"),
        Evict::All => "*".into(),
    }
}

fn parse(payload: &str) -> Evict {
    match payload.split_once(':') {
        Some(("s", id)) => Evict::Session(id.into()),
        Some(("u", id)) => Evict::User(id.into()),
        Some(("t", id)) => Evict::Token(id.into()),
        _ => Evict::All,
    }
}

/// Listens for the other replicas' evictions until `stop` (nothing to do on SQLite, where
/// one process serves the store). The cache is on only while listening.
pub async fn run(
    url: Option<String>,
    cache: std::sync::Arc<AuthCache>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(url) = url else {
        let _ = stop.wait_for(|s| *s).await;
        return Ok(());
    };
    let cache = &*cache;
    let _off = Off(cache);
    // Said once per outage, not at every try.
    let mut said = false;
    loop {
        let listening = async {
            let mut l = PgListener::connect(&url).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let failed = match tokio::time::timeout(Duration::from_secs(5), listening).await {
            Ok(Ok(mut l)) => {
                // Anything written before this point was read by nobody from the cache.
                cache.set_enabled(true);
                said = false;
                tokio::select! {
                    e = follow(&mut l, cache) => Some(e),
                    _ = stop.wait_for(|s| *s) => None,
                }
            }
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("timed out".into()),
        };
        cache.set_enabled(false);
        match failed {
            Some(e) if !said => {
                tracing::warn!(error = %e, "not listening for auth evictions: the auth cache is off until it listens again");
                said = true;
            }
            Some(_) => {}
            None => return Ok(()),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
}

/// Evicts what each notification names; returns why it stopped hearing them.
async fn follow(l: &mut PgListener, cache: &AuthCache) -> String {
    loop {
        match l.try_recv().await {
            Ok(Some(n)) => cache.evict(&parse(n.payload())),
            Ok(None) => return "the connection was lost".into(),
            Err(e) => return e.to_string(),
        }
    }
}

/// Turns the cache off when listening ends, however it ends (a panic included).
struct Off<'a>(&'a AuthCache);

impl Drop for Off<'_> {
    fn drop(&mut self) {
        self.0.set_enabled(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_back() {
        for e in [
            Evict::Session("abc".into()),
            Evict::User("u1".into()),
            Evict::Token("t1".into()),
            Evict::All,
        ] {
            assert_eq!(parse(&payload(&e)), e);
        }
    }
}
