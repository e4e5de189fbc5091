//! Single sign-on with an OpenID Connect provider, done by the `openidconnect` crate: the
//! provider's discovery document, the authorization code flow with PKCE, `state` and `nonce`,
//! and the ID token verified against the provider's published keys (issuer, audience, expiry,
//! signature). What a sign-in yields is an [`Identity`]; which account that is, is
//! `accounts::linked`'s business, and the routes are `http/auth/social.rs`.

mod states;

use std::time::Duration;

use base64::Engine;
use openidconnect::{
    core::{
        CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJwsSigningAlgorithm,
        CoreProviderMetadata,
    },
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::OidcConfig;
pub use states::{save, take, Pending, LIFETIME_SECS};

/// The provider's id in Better Auth's routes: `sign-in/social {provider: "oidc"}`,
/// `/api/auth/callback/oidc`.
pub const PROVIDER_ID: &str = "oidc";

/// Why a sign-in through the provider failed; `code` is Better Auth's callback error code.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct SsoError {
    pub code: &'static str,
    pub detail: String,
}

fn fail(code: &'static str, detail: impl std::fmt::Display) -> SsoError {
    SsoError {
        code,
        detail: detail.to_string(),
    }
}

/// Who the provider says signed in.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The provider's subject identifier (`sub`): stable, unlike the email.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub picture: Option<String>,
    /// The values of the role claim, when one is configured.
    pub role_values: Vec<String>,
}

/// A sign-in on its way to the provider: where to send the browser, and what to keep until it
/// comes back.
pub struct Begun {
    pub url: String,
    pub state: String,
    pub code_verifier: String,
    pub nonce: String,
}

/// The configured provider.
pub struct Sso {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    scopes: Vec<String>,
    role_claim: Option<String>,
    http: reqwest::Client,
}

/// A client made from the provider's discovery document: an authorization endpoint, and a
/// token and a userinfo endpoint when the document has them.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Claims beyond the standard ones (the role claim), kept as they came.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct Extra {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}
impl AdditionalClaims for Extra {}

impl Sso {
    /// The provider `config` names, or `None` when single sign-on is off; an issuer without a
    /// client id, or one that is no URL, is a configuration error.
    pub fn from_config(config: &OidcConfig) -> anyhow::Result<Option<Sso>> {
        let Some(issuer) = config.issuer.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        let issuer = IssuerUrl::new(issuer.trim().to_string())
            .map_err(|e| anyhow::anyhow!("PROXYHUB_OIDC_ISSUER: {e}"))?;
        let client_id = config
            .client_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("PROXYHUB_OIDC_ISSUER is set: set PROXYHUB_OIDC_CLIENT_ID too")
            })?;
        // The provider's answers are never followed elsewhere (no redirects: a redirect could
        // lead the server to an address of an attacker's choice).
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut scopes: Vec<String> = config
            .scopes
            .split_whitespace()
            .filter(|s| *s != "openid")
            .map(str::to_string)
            .collect();
        scopes.dedup();
        Ok(Some(Sso {
            issuer,
            client_id: ClientId::new(client_id),
            client_secret: config
                .client_secret
                .clone()
                .filter(|s| !s.is_empty())
                .map(ClientSecret::new),
            scopes,
            role_claim: config.role_claim.clone().filter(|s| !s.trim().is_empty()),
            http,
        }))
    }

    /// Whether `iss` (the callback's RFC 9207 parameter) names this provider.
    pub fn issued_by(&self, iss: &str) -> bool {
        iss.trim_end_matches('/') == self.issuer.as_str().trim_end_matches('/')
    }

    /// The client of this provider, from its metadata read afresh each time (sign-ins are
    /// rare, and keys rotate).
    async fn client(&self, redirect_uri: &str) -> Result<Client, SsoError> {
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| fail("provider_unreachable", chain(&e)))?;
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| fail("invalid_redirect_uri", e))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            self.client_secret.clone(),
        )
        .set_redirect_uri(redirect))
    }

    /// Where to send the browser to sign in, with a fresh `state`, PKCE verifier and nonce.
    pub async fn begin(&self, redirect_uri: &str) -> Result<Begun, SsoError> {
        let client = self.client(redirect_uri).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Begun {
            url: url.to_string(),
            state: state.secret().clone(),
            code_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
        })
    }

    /// Trades the provider's `code` for tokens, verifies the ID token (signature against the
    /// published keys, issuer, audience, expiry, the nonce this sign-in sent), and reads who
    /// signed in from it and from the userinfo endpoint.
    pub async fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        pending: &Pending,
    ) -> Result<Identity, SsoError> {
        let client = self.client(redirect_uri).await?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| fail("invalid_code", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.code_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| fail("invalid_code", chain(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| fail("invalid_id_token", "the provider sent no ID token"))?;
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(ALLOWED_ALGS.iter().cloned());
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce.clone()))
            .map_err(|e| fail("invalid_id_token", chain(&e)))?;
        let mut identity = Identity {
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.to_string())
                .or_else(|| claims.preferred_username().map(|n| n.to_string())),
            picture: claims
                .picture()
                .and_then(|p| p.get(None))
                .map(|p| p.to_string()),
            role_values: Vec::new(),
        };
        // The ID token is verified: what else it says (the role claim) can be read from it.
        let payload = id_token
            .to_string()
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|p| serde_json::from_slice::<serde_json::Map<String, Value>>(&p).ok())
            .unwrap_or_default();
        // The userinfo endpoint has what the ID token may leave out (emails, groups); its
        // answer must be about the same subject.
        let mut extra = payload;
        if let Ok(request) = client.user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        ) {
            let info: UserInfoClaims<Extra, CoreGenderClaim> = request
                .request_async(&self.http)
                .await
                .map_err(|e| fail("unable_to_get_user_info", chain(&e)))?;
            if identity.email.is_none() {
                identity.email = info.email().map(|e| e.to_string());
                identity.email_verified = info.email_verified().unwrap_or(false);
            }
            if identity.name.is_none() {
                identity.name = info
                    .name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.to_string())
                    .or_else(|| info.preferred_username().map(|n| n.to_string()));
            }
            if identity.picture.is_none() {
                identity.picture = info
                    .picture()
                    .and_then(|p| p.get(None))
                    .map(|p| p.to_string());
            }
            for (k, v) in &info.additional_claims().claims {
                extra.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if let Some(claim) = &self.role_claim {
            identity.role_values = match extra.get(claim) {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
        }
        Ok(identity)
    }
}

/// The signature algorithms an ID token may use: the asymmetric ones (a provider's keys are
/// published; a shared-secret signature proves nothing about the provider).
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// An error with its causes, for the log and the error page's description.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
