use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use super::*;
use crate::accounts::Role;

fn user(id: &str) -> User {
    User {
        id: id.into(),
        name: "Ada".into(),
        email: "ada@example.com".into(),
        email_verified: false,
        image: None,
        role: Role::Admin,
        created_at: String::new(),
        updated_at: String::new(),
        disabled: false,
        two_factor_enabled: false,
        password_hash: String::new(),
    }
}

fn session(user_id: &str, ends_in: time::Duration) -> Record {
    let mut data = HashMap::new();
    data.insert(USER_KEY.to_string(), serde_json::json!(user_id));
    Record {
        id: Id::default(),
        data,
        expiry_date: OffsetDateTime::now_utc() + ends_in,
    }
}

fn token(id: &str, user_id: &str) -> TokenRow {
    TokenRow {
        id: id.into(),
        user_id: user_id.into(),
        name: "ci".into(),
        scopes: "read:vhosts".into(),
        expires_at: None,
        last_used_at: None,
    }
}

#[test]
fn a_read_that_raced_an_eviction_is_not_kept() {
    let cache = AuthCache::default();
    let ticket = cache.ticket().unwrap();
    cache.evict(&Evict::User("u1".into()));
    cache.put_user(ticket, &user("u1"));
    assert!(cache.user("u1").is_none());
    cache.put_user(cache.ticket().unwrap(), &user("u1"));
    assert!(cache.user("u1").is_some());
}

#[test]
fn evicting_an_account_forgets_its_sessions_and_tokens() {
    let cache = AuthCache::default();
    let t = cache.ticket().unwrap();
    let (mine, theirs) = (
        session("u1", time::Duration::hours(1)),
        session("u2", time::Duration::hours(1)),
    );
    cache.put_session(t, &mine);
    cache.put_session(t, &theirs);
    cache.put_token(t, "h1", &token("t1", "u1"));
    cache.put_user(t, &user("u1"));
    cache.evict(&Evict::User("u1".into()));
    assert!(cache.user("u1").is_none());
    assert!(cache.session(&mine.id.to_string()).is_none());
    assert!(cache.token("h1").is_none());
    assert!(cache.session(&theirs.id.to_string()).is_some());
}

#[test]
fn an_expired_session_is_not_served() {
    let cache = AuthCache::default();
    let ended = session("u1", time::Duration::seconds(-1));
    cache.put_session(cache.ticket().unwrap(), &ended);
    assert!(cache.session(&ended.id.to_string()).is_none());
}

#[test]
fn an_off_cache_serves_and_keeps_nothing() {
    let cache = AuthCache::default();
    cache.put_token(cache.ticket().unwrap(), "h1", &token("t1", "u1"));
    cache.set_enabled(false);
    assert!(cache.ticket().is_none());
    assert!(cache.token("h1").is_none());
    cache.set_enabled(true);
    assert!(cache.token("h1").is_none(), "emptied when it went off");
}

/// Every statement that changes or ends access (rows of `users`, `sessions`, `api_tokens`
/// updated or deleted) is in a function that marks it with `changing`, or takes the
/// [`Changing`] proof; the two exceptions are named.
#[test]
fn every_write_of_access_is_marked() {
    const UNMARKED: [&str; 2] = [
        // The cache never serves a session past its expiry.
        "delete_expired",
        // When a token was last used changes no access.
        "record_use",
    ];
    let statements = [
        "UPDATE users",
        "DELETE FROM users",
        "UPDATE sessions",
        "DELETE FROM sessions",
        "UPDATE api_tokens",
        "DELETE FROM api_tokens",
    ];
    let mut files = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    let mut checked = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("cache/tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for statement in statements {
            for (at, _) in text.match_indices(statement) {
                let start = text[..at].rfind("fn ").expect("inside a function");
                let name: String = text[start + 3..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let body = &text[start..at];
                assert!(
                    body.contains("changing")
                        || body.contains("Changing")
                        || UNMARKED.contains(&name.as_str()),
                    "{} `{name}` writes `{statement}` without marking the auth cache",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 10,
        "found only {checked} writes: is the scan looking?"
    );
}
