//! Accounts reached through single sign-on. A provider's subject identifier, once linked,
//! names its account for good; the first sign-in links by email, and only by an email the
//! provider says it verified. An account created this way has no password.

use super::{
    by_email, by_id, check_email, check_image, check_name, other_active_admins, AuthCache, Evict,
    Role, User,
};
use crate::{db::Db, sso::Identity, timestamps};

/// Who may sign in through the provider, and as what.
pub struct Policy<'a> {
    /// Email domains allowed; empty: any.
    pub allowed_domains: &'a [String],
    /// The role of a new account, and of one the role claim grants nothing.
    pub default_role: Role,
    /// Whether a role claim is configured (then it decides the role at every sign-in).
    pub role_claim: bool,
    pub admin_value: &'a str,
    pub editor_value: &'a str,
}

/// Why an SSO sign-in was refused; `code()` is what the error page is told.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the provider gave no email address")]
    EmailNotFound,
    #[error("the provider has not verified this email address")]
    EmailNotVerified,
    #[error("the provider's email address is not one proxyhub accepts")]
    InvalidEmail,
    #[error("accounts of this email domain may not sign in here")]
    DomainNotAllowed,
    #[error("this account is disabled")]
    Disabled,
    #[error("no account exists yet: create the first admin at /setup")]
    SetupRequired,
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

impl LinkError {
    pub fn code(&self) -> &'static str {
        match self {
            LinkError::EmailNotFound => "email_not_found",
            LinkError::EmailNotVerified => "email_not_verified",
            LinkError::InvalidEmail => "invalid_email",
            LinkError::DomainNotAllowed => "email_domain_not_allowed",
            LinkError::Disabled => "account_disabled",
            LinkError::SetupRequired => "setup_required",
            LinkError::Store(_) => "internal_error",
        }
    }
}

/// The account an SSO sign-in is for, and whether it was created just now.
pub struct Linked {
    pub user: User,
    pub created: bool,
}

/// Finds, links or creates the account `who` signs in as, and sets its role from the role
/// claim when one is configured.
pub async fn sign_in(
    db: &Db,
    cache: &AuthCache,
    provider: &str,
    who: &Identity,
    policy: &Policy<'_>,
) -> Result<Linked, LinkError> {
    let email = who.email.as_deref().map(|e| e.trim().to_lowercase());
    if let Some(email) = &email {
        if !domain_allowed(email, policy.allowed_domains) {
            return Err(LinkError::DomainNotAllowed);
        }
    }
    let linked: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM linked_accounts WHERE provider_id = $1 AND account_id = $2",
    )
    .bind(provider)
    .bind(&who.subject)
    .fetch_optional(db)
    .await?;
    let (user, created) = match linked {
        Some(id) => match by_id(db, &id).await? {
            Some(user) => (user, false),
            None => return Err(LinkError::Store(sqlx::Error::RowNotFound)),
        },
        None => {
            let email = email.ok_or(LinkError::EmailNotFound)?;
            if !who.email_verified {
                return Err(LinkError::EmailNotVerified);
            }
            check_email(&email).map_err(|_| LinkError::InvalidEmail)?;
            let (user, created) = match by_email(db, &email).await? {
                Some(user) => (user, false),
                None => (create(db, who, &email, policy.default_role).await?, true),
            };
            let linked = sqlx::query(
                "INSERT INTO linked_accounts (provider_id, account_id, user_id, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(provider)
            .bind(&who.subject)
            .bind(&user.id)
            .bind(timestamps::now())
            .execute(db)
            .await;
            match linked {
                Ok(_) => (user, created),
                // The same identity's other sign-in linked it a moment ago: that link holds.
                Err(e) if crate::db::is_unique_violation(&e) => {
                    let id: String = sqlx::query_scalar(
                        "SELECT user_id FROM linked_accounts WHERE provider_id = $1 AND account_id = $2",
                    )
                    .bind(provider)
                    .bind(&who.subject)
                    .fetch_one(db)
                    .await?;
                    let user = by_id(db, &id)
                        .await?
                        .ok_or(LinkError::Store(sqlx::Error::RowNotFound))?;
                    (user, false)
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    if user.disabled {
        return Err(LinkError::Disabled);
    }
    let user = if policy.role_claim {
        claimed_role(db, cache, user, who, policy).await?
    } else {
        user
    };
    Ok(Linked { user, created })
}

fn domain_allowed(email: &str, allowed: &[String]) -> bool {
    allowed.is_empty()
        || email.rsplit_once('@').is_some_and(|(_, domain)| {
            allowed.iter().any(|a| {
                a.trim()
                    .trim_start_matches('@')
                    .eq_ignore_ascii_case(domain)
            })
        })
}

/// A new account without a password, its email verified by the provider. The first account
/// is made at `/setup`, never by a provider.
async fn create(db: &Db, who: &Identity, email: &str, role: Role) -> Result<User, LinkError> {
    let local = email.split('@').next().unwrap_or(email);
    let name = who
        .name
        .as_deref()
        .and_then(|n| check_name(n).ok())
        .unwrap_or(local)
        .to_string();
    let new = super::NewUser {
        name: &name,
        email,
        password_hash: String::new(),
        image: check_image(who.picture.clone()).ok().flatten(),
        email_verified: true,
    };
    if !super::any_exist(db).await? {
        return Err(LinkError::SetupRequired);
    }
    match super::create(db, new, role, true).await? {
        super::Created::Yes(user) => {
            tracing::info!(user = %user.email, role = user.role.as_str(), "account created at its first single sign-on");
            Ok(user)
        }
        // Made by someone else a moment ago: that account is the one.
        super::Created::EmailTaken | super::Created::SignupClosed => by_email(db, email)
            .await?
            .ok_or(LinkError::Store(sqlx::Error::RowNotFound)),
    }
}

/// The role the claim grants (else the default role); the last active admin keeps theirs.
async fn claimed_role(
    db: &Db,
    cache: &AuthCache,
    mut user: User,
    who: &Identity,
    policy: &Policy<'_>,
) -> Result<User, LinkError> {
    let has = |v: &str| who.role_values.iter().any(|x| x == v);
    let role = if has(policy.admin_value) {
        Role::Admin
    } else if has(policy.editor_value) {
        Role::Editor
    } else {
        policy.default_role
    };
    if role == user.role {
        return Ok(user);
    }
    let mut tx = crate::db::begin_write(db).await?;
    let changing = cache
        .changing(&mut tx, Evict::User(user.id.clone()))
        .await?;
    if user.role == Role::Admin && other_active_admins(&mut tx, &user.id).await? == 0 {
        tracing::warn!(user = %user.email, "the role claim would demote the last active admin: kept admin");
        return Ok(user);
    }
    let before = user.clone();
    user.role = role;
    user.updated_at = timestamps::now();
    super::update(&mut tx, &user, &changing).await?;
    super::updated(&mut tx, &before, &user).await?;
    tx.commit().await?;
    changing.done().await;
    tracing::info!(user = %user.email, role = role.as_str(), "role set from the identity provider's claim");
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::domain_allowed;

    #[test]
    fn only_listed_domains_pass_when_there_is_a_list() {
        let list = vec!["example.com".to_string(), "@Corp.example".to_string()];
        assert!(domain_allowed("a@example.com", &list));
        assert!(domain_allowed("a@corp.example", &list));
        assert!(!domain_allowed("a@evil-example.com", &list));
        assert!(!domain_allowed("a@sub.example.com", &list));
        assert!(!domain_allowed("a@example.com.evil", &list));
        assert!(domain_allowed("a@anything.test", &[]));
    }
}
