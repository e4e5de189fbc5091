//! `Idempotency-Key` on a creating route: the first answer to a key is remembered (see
//! `crate::idempotency`), a retry with the same key and body gets it again, the same key with
//! another body is a 422, and a request whose key is still being answered is a 409.

use std::future::Future;

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use super::{
    error::{ApiError, Result},
    AppState,
};
use crate::idempotency::{self, Begin, Remembered};

/// Answers with `answer` once per key of `user` (the request's `Idempotency-Key`, if any);
/// `body` is the request's, which a retry must repeat. A failed answer is not remembered.
pub async fn once(
    state: &AppState,
    user: &str,
    headers: &HeaderMap,
    body: &[u8],
    answer: impl Future<Output = Result<Response>>,
) -> Result<Response> {
    let Some(key) = headers.get("idempotency-key") else {
        return answer.await;
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| idempotency::valid_key(k))
        .ok_or_else(|| {
            ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")
        })?;
    match idempotency::begin(&state.db, user, key, &idempotency::fingerprint(body)).await? {
        Begin::Replay(r) => Ok(replay(r)),
        Begin::OtherBody => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was used with another request body: use a new key for a new request",
        )),
        Begin::InProgress => Err(ApiError::new(
            StatusCode::CONFLICT,
            "IDEMPOTENCY_KEY_IN_USE",
            "a request with this Idempotency-Key is still being answered; retry in a moment",
        )),
        Begin::New => match answer.await {
            Ok(resp) => remember(state, user, key, resp).await,
            Err(e) => {
                idempotency::abandon(&state.db, user, key).await?;
                Err(e)
            }
        },
    }
}

/// Stores a first answer for its key and gives it back.
async fn remember(state: &AppState, user: &str, key: &str, resp: Response) -> Result<Response> {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(ApiError::internal)?;
    let answer = Remembered {
        status: parts.status.as_u16(),
        etag: parts
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    idempotency::finish(&state.db, user, key, &answer).await?;
    Ok(Response::from_parts(parts, axum::body::Body::from(bytes)))
}

fn replay(r: Remembered) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let mut resp = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        r.body,
    )
        .into_response();
    if let Some(etag) = r.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        resp.headers_mut().insert(header::ETAG, etag);
    }
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}
