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
}

#[derive(Deserialize, ToSchema)]
pub struct SignIn {
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub password: String,
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
    /// Always false.
    pub redirect: bool,
    pub token: String,
    pub user: User,
}

/// The signed-in session and its account.
#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    pub session: SessionDetails,
    pub user: User,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetails {
    /// `null` for sessions started before sessions had ids.
    pub id: Option<String>,
    pub user_id: String,
    /// When the session ends unless used (ISO-8601, UTC).
    pub expires_at: String,
}
