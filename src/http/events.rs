//! `GET /api/events`: the events as Server-Sent Events, live. Each carries the outbox id as
//! its `id:`, so a client reconnecting with `Last-Event-ID` gets what it missed from the
//! outbox, then the live ones, with no gap and no repeat. With `?logs=1` the stream also
//! carries the access-log requests stored from now on that match `domain` and `status` (a
//! live tail; these have no id, and resume from now). A keep-alive comment goes out every
//! 15 s; a client that does not keep up is dropped (it reconnects and catches up from the
//! outbox) rather than buffered without bound.

use std::{collections::HashSet, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::State,
    http::HeaderMap,
    response::sse::{Event as Sse, KeepAlive},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tower_sessions::SessionStore as _;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ApiError, ErrorBody, Result},
    extract::AppQuery,
    guard::CurrentUser,
    logs::entry,
    AppState,
};
use crate::{
    accounts::{
        self,
        tokens::{self, Scope},
    },
    db::Db,
    events::{self, Event},
    logs::query::{
        self,
        filter::{self, RawFilter},
        Filter,
    },
};

/// Messages a client may fall behind by before it is dropped.
const BUFFER: usize = 512;
const TAIL_EVERY: Duration = Duration::from_millis(500);
/// Requests one look at the store may carry; more arrived in half a second are skipped (and
/// said to be).
const TAIL_BATCH: i64 = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// `1`: also carry the access-log requests stored from now on (needs `read:logs`).
    logs: Option<String>,
    /// Live tail: only requests to this domain.
    domain: Option<String>,
    /// Live tail: only this status (`404`) or class (`4xx`).
    status: Option<String>,
}

/// Which events a caller may see: vhost and proxy events with `read:vhosts` or
/// `read:changelog`, account and token events with `admin`.
fn visible(me: &CurrentUser, event: &str) -> bool {
    if event.starts_with("user.") || event.starts_with("token.") {
        me.may(Scope::Admin)
    } else {
        me.may(Scope::ReadVhosts) || me.may(Scope::ReadChangelog)
    }
}

/// Live events (Server-Sent Events)
///
/// `text/event-stream`: each change or proxy event as `event: <name>`, `id: <seq>`, `data:
/// {id, event, timestamp, data}` (the body webhooks get). Send `Last-Event-ID` to resume after
/// an event. With `logs=1`, also `event: log` for each stored request matching `domain` and
/// `status`, as `/api/logs` shows it. Comments keep the connection alive every 15 s.
#[utoipa::path(get, path = "/api/events", tag = "events", operation_id = "streamEvents",
    params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (its `id:`)")),
    responses(
        (status = 200, description = "The stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "A bad filter, or a `Last-Event-ID` that is not an event id", body = ErrorBody),
        (status = 403, description = "`MISSING_SCOPE`: no read scope at all (or no `read:logs` for `logs=1`)", body = ErrorBody),
    ))]
async fn stream(
    State(state): State<AppState>,
    me: CurrentUser,
    session: tower_sessions::Session,
    headers: HeaderMap,
    AppQuery(q): AppQuery<StreamQuery>,
) -> Result<Response> {
    let tail = match q.logs.as_deref().map(str::trim) {
        None | Some("") | Some("0") | Some("false") => None,
        Some("1") | Some("true") => {
            me.need(Scope::ReadLogs)?;
            let (f, _, _) = filter::validate(RawFilter {
                domain: q.domain,
                status: q.status,
                ..RawFilter::default()
            })?;
            Some(f)
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "logs must be 1 or 0, got {other:?}"
            )))
        }
    };
    // Any read scope opens the stream; each event goes to those who may see it.
    let reads = [
        Scope::ReadVhosts,
        Scope::ReadChangelog,
        Scope::ReadLogs,
        Scope::Admin,
    ];
    if !reads.iter().any(|s| me.may(*s)) {
        me.need(Scope::ReadVhosts)?;
    }
    let resume = match headers
        .get("last-event-id")
        .map(|v| v.to_str().map(str::trim))
    {
        None | Some(Ok("")) => None,
        Some(Ok(v)) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::bad_request(format!("Last-Event-ID must be an event id, got {v:?}"))
        })?),
        Some(Err(_)) => return Err(ApiError::bad_request("Last-Event-ID is not text")),
    };
    let (tx, rx) = mpsc::channel::<Sse>(BUFFER);
    let me = Arc::new(me);
    let session_id = session.id();
    // One task carries the stream: when any part of it ends (the client gone or too slow,
    // the store failing, the caller signed out or no longer allowed), all of it ends, and
    // the client reconnects and resumes from its last event.
    tokio::spawn(async move {
        let db = state.db.clone();
        let tail = async {
            match tail {
                Some(f) => tail_logs(db.clone(), f, tx.clone()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = changes(state.clone(), me.clone(), resume, tx.clone()) => {}
            _ = tail => {}
            _ = still_allowed(&state, &me, session_id) => {}
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(axum::response::Sse::new(stream)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("keep-alive"),
        )
        .into_response())
}

fn message(e: &Event) -> Sse {
    Sse::default()
        .id(e.seq.to_string())
        .event(e.event.clone())
        .data(e.body().to_string())
}

/// Whether the client still takes messages (false: gone, or too far behind, and dropped).
fn offer(tx: &mpsc::Sender<Sse>, m: Sse) -> bool {
    tx.try_send(m).is_ok()
}

/// Returns when the caller may no longer read the stream: the account deleted, disabled or
/// given another role, the API token revoked or expired, the session ended. Checked every
/// 15 s.
async fn still_allowed(
    state: &AppState,
    me: &CurrentUser,
    session: Option<tower_sessions::session::Id>,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(15)).await;
        let user = accounts::by_id(&state.reads, &me.user.id).await;
        let user_ok = matches!(&user, Ok(Some(u)) if !u.disabled && u.role == me.user.role);
        let grant_ok = match &me.token {
            Some(g) => tokens::still_valid(&state.reads, &g.id)
                .await
                .unwrap_or(false),
            None => match session {
                Some(id) => state.sessions().load(&id).await.is_ok_and(|r| r.is_some()),
                None => false,
            },
        };
        if !(user_ok && grant_ok) {
            return;
        }
    }
}

/// The change and proxy events: missed ones from the outbox, then live ones.
async fn changes(
    state: AppState,
    me: Arc<CurrentUser>,
    resume: Option<i64>,
    tx: mpsc::Sender<Sse>,
) {
    // Listen first, then read the past: nothing falls between the two.
    let mut live = state.feed.subscribe();
    // From now on: what the feed has handed out is past (it cannot reach this listener),
    // what it hands out next is not.
    let mut sent = match (resume, state.feed.seen()) {
        (Some(after), _) => after,
        (None, seen) if seen >= 0 => seen,
        (None, _) => match events::newest(&state.db).await {
            Ok(n) => n,
            Err(_) => return,
        },
    };
    if resume.is_some() {
        loop {
            let Ok(missed) = events::after(&state.db, sent, 200).await else {
                return;
            };
            let Some(last) = missed.last().map(|e| e.seq) else {
                break;
            };
            // The client reads what it missed at its own pace (a reader stuck for 30 s is
            // dropped).
            for e in missed.iter().filter(|e| visible(&me, &e.event)) {
                match tokio::time::timeout(Duration::from_secs(30), tx.send(message(e))).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
            sent = last;
        }
    }
    loop {
        let got = tokio::select! {
            got = live.recv() => got,
            _ = tx.closed() => return,
        };
        match got {
            Ok(e) => {
                if e.seq <= sent {
                    continue;
                }
                sent = e.seq;
                if visible(&me, &e.event) && !offer(&tx, message(&e)) {
                    return;
                }
            }
            // Too far behind: drop the client; it resumes from the outbox.
            Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
        }
    }
}

/// The live tail: every half second, the requests stored since the last look.
async fn tail_logs(db: Db, mut f: Filter, tx: mpsc::Sender<Sse>) {
    let now_us = || (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64;
    let mut since = now_us();
    // Requests at exactly `since` already sent (the next look starts there again).
    let mut at_since: HashSet<String> = HashSet::new();
    loop {
        tokio::time::sleep(TAIL_EVERY).await;
        if tx.is_closed() {
            return;
        }
        f.from_us = Some(since);
        let Ok(page) = query::page(&db, &f, TAIL_BATCH, 0, 0).await else {
            continue;
        };
        if page.rows.len() as i64 >= TAIL_BATCH {
            let skipped = Sse::default().event("log.skipped").data(
                "{\"message\":\"more requests arrived than a live view shows; some were skipped\"}",
            );
            if !offer(&tx, skipped) {
                return;
            }
        }
        // Oldest first, as they happened.
        for r in page.rows.into_iter().rev() {
            let key = format!(
                "{}|{}|{}|{}|{}",
                r.ts_us, r.domain, r.path, r.ip, r.latency_us
            );
            if r.ts_us == since && at_since.contains(&key) {
                continue;
            }
            if r.ts_us > since {
                since = r.ts_us;
                at_since.clear();
            }
            at_since.insert(key);
            let data = serde_json::to_string(&entry(r)).unwrap_or_default();
            if !offer(&tx, Sse::default().event("log").data(data)) {
                return;
            }
        }
    }
}
