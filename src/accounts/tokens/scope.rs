//! What a token may be used for: the scopes, the least role each needs, and reading them
//! from a request.

use serde::Serialize;

use super::TokenError;
use crate::accounts::Role;

/// What a token may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
pub enum Scope {
    #[serde(rename = "read:vhosts")]
    ReadVhosts,
    #[serde(rename = "write:vhosts")]
    WriteVhosts,
    #[serde(rename = "read:logs")]
    ReadLogs,
    /// Ship access logs from another node (`proxyhub logs ship`).
    #[serde(rename = "write:logs")]
    WriteLogs,
    #[serde(rename = "read:changelog")]
    ReadChangelog,
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::ReadVhosts,
        Scope::WriteVhosts,
        Scope::ReadLogs,
        Scope::WriteLogs,
        Scope::ReadChangelog,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadVhosts => "read:vhosts",
            Scope::WriteVhosts => "write:vhosts",
            Scope::ReadLogs => "read:logs",
            Scope::WriteLogs => "write:logs",
            Scope::ReadChangelog => "read:changelog",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The least role that may hold this scope.
    pub fn role(self) -> Role {
        match self {
            Scope::ReadVhosts | Scope::ReadLogs | Scope::ReadChangelog => Role::Viewer,
            Scope::WriteVhosts | Scope::WriteLogs => Role::Editor,
            Scope::Admin => Role::Admin,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a client asked for, in its order: known, each once, at least one.
pub fn parse_scopes(names: &[String]) -> Result<Vec<Scope>, TokenError> {
    let mut scopes = Vec::new();
    for n in names {
        let s = Scope::parse(n).ok_or_else(|| {
            TokenError::Invalid(format!(
                "unknown scope {n:?}: use {}",
                Scope::ALL.map(Scope::as_str).join(", ")
            ))
        })?;
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    if scopes.is_empty() {
        return Err(TokenError::Invalid("give at least one scope".into()));
    }
    Ok(scopes)
}
