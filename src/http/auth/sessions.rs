//! Better Auth's session and account routes: list and revoke sessions, change the password
//! (optionally ending the other sessions), update the name and picture. For the signed-in
//! account (a session, or an API token's account).

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_sessions::Session;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    super::{
        error::{ApiError, ErrorBody, Result},
        extract::AppJson,
        guard::{self, CurrentUser},
        AppState,
    },
    bodies::SessionDetails,
};
use crate::{
    accounts::{self, password, sessions::SqlSessionStore, User},
    timestamps,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_other_sessions))
        .routes(routes!(revoke_sessions))
        .routes(routes!(change_password))
        .routes(routes!(update_user))
}

use timestamps::iso_epoch as iso;

/// A stored session as Better Auth shows it.
pub(super) fn details(
    token: Option<String>,
    data: &Value,
    expiry: i64,
    user: &str,
) -> SessionDetails {
    let until = data[guard::UNTIL_KEY].as_i64();
    let ends = until.map_or(expiry, |u| u.min(expiry));
    SessionDetails {
        id: data["sid"].as_str().map(str::to_string),
        token,
        user_id: user.to_string(),
        expires_at: iso(Some(ends)).unwrap_or_default(),
        created_at: iso(data[guard::STARTED_KEY].as_i64()),
        updated_at: iso(data[guard::REFRESHED_KEY].as_i64()),
        ip_address: data["ip"].as_str().map(str::to_string),
        user_agent: data["ua"].as_str().map(str::to_string),
    }
}

/// `{"status": true}`, Better Auth's answer to these changes.
#[derive(Serialize, ToSchema)]
struct Done {
    status: bool,
}

const DONE: Json<Done> = Json(Done { status: true });

/// List your sessions
#[utoipa::path(get, path = "/api/auth/list-sessions", tag = "auth", operation_id = "listSessions",
    responses(
        (status = 200, description = "Your live sessions", body = [SessionDetails]),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn list_sessions(
    State(state): State<AppState>,
    me: CurrentUser,
) -> Result<Json<Vec<SessionDetails>>> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let list = SqlSessionStore::for_user(&state.db, &me.user.id)
        .await?
        .into_iter()
        .filter(|(_, data, _)| data[guard::UNTIL_KEY].as_i64().is_none_or(|u| u > now))
        .map(|(id, data, exp)| details(Some(id), &data, exp, &me.user.id))
        .collect();
    Ok(Json(list))
}

#[derive(Deserialize, ToSchema)]
struct RevokeOne {
    /// The session's token, as `list-sessions` shows it.
    token: String,
}

/// Revoke one of your sessions
#[utoipa::path(post, path = "/api/auth/revoke-session", tag = "auth", operation_id = "revokeSession",
    request_body = RevokeOne,
    responses(
        (status = 200, description = "Ended (also when it had already ended)", body = Done),
        (status = 400, description = "The body is not JSON or lacks `token`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn revoke_session(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(body): AppJson<RevokeOne>,
) -> Result<Json<Done>> {
    state
        .sessions()
        .delete_one(&me.user.id, &body.token)
        .await?;
    Ok(DONE)
}

/// Revoke your other sessions
///
/// Every session of yours but the one this request comes with.
#[utoipa::path(post, path = "/api/auth/revoke-other-sessions", tag = "auth", operation_id = "revokeOtherSessions",
    responses(
        (status = 200, description = "Ended", body = Done),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn revoke_other_sessions(
    State(state): State<AppState>,
    me: CurrentUser,
    session: Session,
) -> Result<Json<Done>> {
    let keep = if me.token.is_some() {
        String::new()
    } else {
        session.id().map(|i| i.to_string()).unwrap_or_default()
    };
    state.sessions().delete_others(&me.user.id, &keep).await?;
    Ok(DONE)
}

/// Revoke all your sessions
///
/// This one too: you are signed out.
#[utoipa::path(post, path = "/api/auth/revoke-sessions", tag = "auth", operation_id = "revokeSessions",
    responses(
        (status = 200, description = "Ended", body = Done),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn revoke_sessions(
    State(state): State<AppState>,
    me: CurrentUser,
    session: Session,
) -> Result<Json<Done>> {
    state.sessions().delete_others(&me.user.id, "").await?;
    if me.token.is_none() {
        session.flush().await.map_err(ApiError::internal)?;
    }
    Ok(DONE)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PasswordChange {
    current_password: String,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
    /// End every other session of yours (this one goes on under a new token).
    revoke_other_sessions: Option<bool>,
}

/// The answer of a password change.
#[derive(Serialize, ToSchema)]
struct PasswordChanged {
    /// The session's new token when the other sessions were revoked, else `null`.
    token: Option<String>,
    user: User,
}

/// Change your password
#[utoipa::path(post, path = "/api/auth/change-password", tag = "auth", operation_id = "changePassword",
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed", body = PasswordChanged),
        (status = 400, description = "`INVALID_PASSWORD`: the current password is wrong; or the new one is too short or long", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn change_password(
    State(state): State<AppState>,
    me: CurrentUser,
    session: Session,
    AppJson(body): AppJson<PasswordChange>,
) -> Result<Json<PasswordChanged>> {
    password::check_length(&body.new_password)?;
    super::check_password(&me.user, body.current_password).await?;
    let hash = password::hash(body.new_password).await?;
    accounts::set_password(&state.db, &state.auth, &me.user.id, &hash).await?;
    let mut token = None;
    if body.revoke_other_sessions.unwrap_or(false) {
        if me.token.is_none() {
            session.cycle_id().await.map_err(ApiError::internal)?;
            session.save().await.map_err(ApiError::internal)?;
            token = session.id().map(|i| i.to_string());
        }
        let keep = token.clone().unwrap_or_default();
        state.sessions().delete_others(&me.user.id, &keep).await?;
    }
    tracing::info!(user = %me.user.email, "password changed");
    let user = accounts::by_id(&state.db, &me.user.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(PasswordChanged { token, user }))
}

#[derive(Deserialize, ToSchema)]
struct ProfileChange {
    /// Not changeable here: a 400 `EMAIL_CAN_NOT_BE_UPDATED`, as Better Auth answers.
    #[schema(value_type = Option<String>)]
    email: Option<serde_json::Value>,
    /// 1 to 100 characters once trimmed.
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    /// A picture's address, at most 2,048 characters; `null` or empty removes it.
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    #[schema(value_type = Option<String>, max_length = 2048)]
    image: Option<Option<String>>,
}

/// Update your name or picture
#[utoipa::path(post, path = "/api/auth/update-user", tag = "auth", operation_id = "updateProfile",
    request_body = ProfileChange,
    responses(
        (status = 200, description = "Updated", body = Done),
        (status = 400, description = "A field is invalid, no field is given, `email` is given (`EMAIL_CAN_NOT_BE_UPDATED`), or the body is not JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn update_user(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(body): AppJson<ProfileChange>,
) -> Result<Json<Done>> {
    if body.email.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "EMAIL_CAN_NOT_BE_UPDATED",
            "Email can not be updated",
        ));
    }
    if body.name.is_none() && body.image.is_none() {
        return Err(ApiError::bad_request("No fields to update"));
    }
    let name = body.name.as_deref().map(accounts::check_name).transpose()?;
    let image = body.image.map(accounts::check_image).transpose()?;
    accounts::set_profile(&state.db, &state.auth, &me.user.id, name, image).await?;
    Ok(DONE)
}
