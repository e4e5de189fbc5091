//! The request and answer bodies of `/api/auth/*` (Better Auth's shapes).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::User;

/// A new account: the first one becomes the admin; later ones are viewers, and only while
/// sign-up is open (`PROXYHUB_ALLOW_SIGNUP`).
#[derive(Deserialize, ToSchema)]
pub struct SignUp {
    /// 1 to 100 characters once trimmed.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^\\s*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        example = "Ada Lovelace"
    )]
    pub name: String,
    #[schema(
        max_length = 254,
        pattern = "^[^\\s@\\u0000-\\u001f\\u007f-\\u009f]+@[^\\s.\\u0000-\\u001f\\u007f-\\u009f][^\\s\\u0000-\\u001f\\u007f-\\u009f]*\\.[^\\s\\u0000-\\u001f\\u007f-\\u009f]*[^\\s.\\u0000-\\u001f\\u007f-\\u009f]$",
        example = "ada@example.com"
    )]
    pub email: String,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// A picture's address, at most 2,048 characters.
    #[schema(max_length = 2048)]
    pub image: Option<String>,
    /// `false`: the cookie ends with the browser session (and the session within a day).
    #[serde(rename = "rememberMe")]
    pub remember_me: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
pub struct SignIn {
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub password: String,
    /// Where the client goes next: a path (`/vhosts`) or a URL of this server. Answered as
    /// `{redirect: true, url}`; another site's URL is a 400.
    #[serde(rename = "callbackURL")]
    pub callback_url: Option<String>,
    /// `false`: the cookie ends with the browser session (and the session within a day).
    #[serde(rename = "rememberMe")]
    pub remember_me: Option<bool>,
}

/// The answer of a sign-up: the new session's token (also set as the session cookie) and
/// the account.
#[derive(Serialize, ToSchema)]
pub struct SignedUp {
    pub token: String,
    pub user: User,
}

/// The answer of a sign-in (Better Auth's shape).
#[derive(Serialize, ToSchema)]
pub struct SignedIn {
    /// Whether the client should go to `url` (a `callbackURL` was given).
    pub redirect: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub token: String,
    pub user: User,
}

/// The signed-in session and its account.
#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    pub session: SessionDetails,
    pub user: User,
}

/// A session (Better Auth's shape).
#[derive(Serialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetails {
    /// `null` for sessions started before sessions had ids.
    pub id: Option<String>,
    /// The session's token (its cookie's value).
    pub token: Option<String>,
    pub user_id: String,
    /// When the session ends unless used (ISO-8601, UTC).
    pub expires_at: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}
