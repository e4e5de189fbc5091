//! The auth cache across replicas on one PostgreSQL: a write that ends or changes access
//! notifies [`CHANNEL`] in its transaction; every replica listens (on a connection named
//! [`LISTENER`]), evicts, and acknowledges on [`ACKS`]. The write is answered once every
//! listening replica acknowledged it (2 s at most), so none of them answers a caller from
//! what the write ended after that. A replica that is not listening (not yet, or its
//! connection dropped) keeps its cache empty and off, so it asks the store, until it listens
//! again.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::{AuthCache, Evict};

/// The PostgreSQL notification channel of auth evictions.
pub const CHANNEL: &str = "proxyhub_auth";
/// Where replicas acknowledge an eviction (its sender's `origin.seq`).
pub const ACKS: &str = "proxyhub_auth_ack";
/// The `application_name` of the listening connections, counted by writers.
const LISTENER: &str = "proxyhub_auth_listener";
/// How long to wait before listening again after the connection dropped.
const RETRY: Duration = Duration::from_secs(1);

/// How many replicas listen for evictions now (inside the write's transaction).
pub(super) async fn listeners(conn: &mut sqlx::AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(LISTENER)
    .fetch_one(conn)
    .await
}

/// Tells every replica, when `conn`'s transaction commits, what it ends (PostgreSQL);
/// `from`: the sender and its number for the write, `origin.seq`.
pub(super) async fn notify(
    conn: &mut sqlx::AnyConnection,
    from: &str,
    what: &Evict,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)::text")
        .bind(CHANNEL)
        .bind(format!("{from} {}", payload(what)))
        .execute(conn)
        .await?;
    Ok(())
}

/// Evicts what a notification names; returns its sender's tag, to acknowledge.
fn heard<'n>(cache: &AuthCache, notification: &'n str) -> &'n str {
    let (from, what) = notification.split_once(' ').unwrap_or(("", notification));
    cache.evict(&parse(what));
    from
}

/// A replica acknowledged the eviction tagged `tag`: counted if the write was this one's.
fn acknowledged(cache: &AuthCache, tag: &str) {
    if let Some(seq) = tag
        .strip_prefix(cache.origin.as_str())
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|seq| seq.parse().ok())
    {
        cache.acknowledged(seq);
    }
}

/// The store's URL with the listening connection's name.
fn named(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={LISTENER}")
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
    let (cache, url) = (&*cache, named(&url));
    let _off = Off(cache);
    // Said once per outage, not at every try.
    let mut said = false;
    loop {
        let listening = async {
            let mut l = PgListener::connect(&url).await?;
            l.listen_all([CHANNEL, ACKS]).await?;
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

/// Evicts what each notification names and acknowledges it, and counts the
/// acknowledgements of this replica's writes; returns why it stopped hearing them.
async fn follow(l: &mut PgListener, cache: &AuthCache) -> String {
    loop {
        let n = match l.try_recv().await {
            Ok(Some(n)) => n,
            Ok(None) => return "the connection was lost".into(),
            Err(e) => return e.to_string(),
        };
        if n.channel() == ACKS {
            acknowledged(cache, n.payload());
            continue;
        }
        let tag = heard(cache, n.payload()).to_string();
        let acked = sqlx::query("SELECT pg_notify($1, $2)::text")
            .bind(ACKS)
            .bind(&tag)
            .execute(&mut *l)
            .await;
        if let Err(e) = acked {
            return e.to_string();
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

    #[tokio::test]
    async fn a_write_counts_the_acknowledgements_of_its_own_tag_only() {
        let cache = AuthCache::default();
        let mut rx = cache.wait_for(7, 2);
        assert_eq!(heard(&cache, "another-replica.7 u:u1"), "another-replica.7");
        acknowledged(&cache, "another-replica.7");
        acknowledged(&cache, &format!("{}.7", cache.origin));
        assert!(rx.try_recv().is_err(), "one of two replicas acknowledged");
        acknowledged(&cache, &format!("{}.7", cache.origin));
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn the_listening_connection_is_named() {
        assert!(named("postgres://h/db").ends_with("/db?application_name=proxyhub_auth_listener"));
        assert!(named("postgres://h/db?sslmode=disable").contains("disable&application_name="));
    }
}
