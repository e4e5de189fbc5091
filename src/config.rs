//! Runtime configuration, read once from flags and `PROXYHUB_*` environment variables.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, ValueEnum};

/// How site addresses are rendered: `auto` lets the proxy obtain certificates (ACME),
/// `internal` has Caddy issue them from its own local CA (offline; never installed in the
/// host's trust store), `off` serves plain HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    Auto,
    Internal,
    Off,
}

/// Which reverse proxy proxyhub drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProxyKind {
    Caddy,
    Nginx,
}

/// How the access-log store keeps a request's client address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ClientIp {
    /// As the proxy logged it.
    #[default]
    Full,
    /// A hash of it with a secret of the UTC day (kept in memory only, replaced each day):
    /// requests of one client can be told apart within a day; the address cannot be read
    /// back.
    Hashed,
    /// Nothing.
    None,
}

impl ClientIp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Hashed => "hashed",
            Self::None => "none",
        }
    }
}

/// Everything `proxyhub serve` needs; each field is a flag and a `PROXYHUB_*` variable.
#[derive(Clone, Args)]
pub struct Config {
    /// Address the API and dashboard listen on.
    #[arg(long, env = "PROXYHUB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Database URL: sqlite://path (created if missing) or postgres://...
    #[arg(
        long,
        env = "PROXYHUB_DATABASE_URL",
        default_value = "sqlite://data/proxyhub.db"
    )]
    pub database_url: String,

    /// Which proxy to manage.
    #[arg(long, env = "PROXYHUB_PROXY", value_enum, default_value = "caddy")]
    pub proxy: ProxyKind,

    /// Caddy's admin API; keep it on localhost or a private network.
    #[arg(
        long,
        env = "PROXYHUB_CADDY_ADMIN",
        default_value = "http://localhost:2019"
    )]
    pub caddy_admin: String,

    /// The admin address written into every pushed Caddy config (default: host:port of
    /// PROXYHUB_CADDY_ADMIN). Set it when Caddy must listen elsewhere than proxyhub dials,
    /// e.g. `:2019` inside a container network.
    #[arg(long, env = "PROXYHUB_CADDY_ADMIN_LISTEN")]
    pub caddy_admin_listen: Option<String>,

    /// Directory proxyhub writes its nginx files into (`proxyhub-*.conf`); nginx's main
    /// config includes `<dir>/*.conf` inside its `http` block.
    #[arg(
        long,
        env = "PROXYHUB_NGINX_CONF_DIR",
        default_value = "/etc/nginx/proxyhub.d"
    )]
    pub nginx_conf_dir: PathBuf,

    /// nginx's main config, passed to nginx as `-c`.
    #[arg(
        long,
        env = "PROXYHUB_NGINX_CONF",
        default_value = "/etc/nginx/nginx.conf"
    )]
    pub nginx_conf: PathBuf,

    /// The `address:port` proxyhub's nginx servers listen on (`127.0.0.1:80`, `[::1]:8080`,
    /// `*:80`). Default: the port alone (`PROXYHUB_HTTP_PORT`, else 80), and `[::]:port` too
    /// when the host has IPv6. Set it when the main config listens on one address of that
    /// port: nginx cannot add a listener on every address then.
    #[arg(long, env = "PROXYHUB_NGINX_LISTEN")]
    pub nginx_listen: Option<String>,

    /// DNS servers nginx asks for host-name upstreams, at request time (space- or
    /// comma-separated addresses). Default: the nameservers of /etc/resolv.conf.
    #[arg(long, env = "PROXYHUB_NGINX_RESOLVER")]
    pub nginx_resolver: Option<String>,

    /// The nginx binary proxyhub runs (`-t`, `-s reload`).
    #[arg(long, env = "PROXYHUB_NGINX_BIN", default_value = "nginx")]
    pub nginx_bin: PathBuf,

    /// The proxy's JSON access log, written by the proxy and tailed by proxyhub.
    #[arg(long, env = "PROXYHUB_ACCESS_LOG", default_value = "data/access.log")]
    pub access_log: PathBuf,

    /// `auto`: HTTPS with automatic (ACME) certificates; `internal`: HTTPS with certificates
    /// from Caddy's local CA, never added to the host's trust store; `off`: plain HTTP site
    /// addresses.
    #[arg(long, env = "PROXYHUB_TLS", value_enum, default_value = "auto")]
    pub tls: TlsMode,

    /// Port the proxy serves plain HTTP on.
    #[arg(long, env = "PROXYHUB_HTTP_PORT")]
    pub http_port: Option<u16>,

    /// Port the proxy serves HTTPS on.
    #[arg(long, env = "PROXYHUB_HTTPS_PORT")]
    pub https_port: Option<u16>,

    /// The URL users reach proxyhub at; https here makes the session cookie Secure.
    #[arg(long, env = "PROXYHUB_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Let anyone create an account after the first (new accounts are viewers).
    #[arg(long, env = "PROXYHUB_ALLOW_SIGNUP", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_signup: bool,

    /// Sign-in and sign-up attempts allowed per client address in each 10 s window.
    #[arg(long, env = "PROXYHUB_AUTH_RATE_LIMIT", default_value_t = 3)]
    pub auth_rate_limit: u32,

    /// API reads (GET) allowed per minute to each API token, session, or anonymous client
    /// address.
    #[arg(long, env = "PROXYHUB_API_RATE_LIMIT_READS", default_value_t = 600)]
    pub api_rate_limit_reads: u32,

    /// API writes (POST, PUT, PATCH, DELETE) allowed per minute to each API token, session,
    /// or anonymous client address. (Sign-in and sign-up have their own limit.)
    #[arg(long, env = "PROXYHUB_API_RATE_LIMIT_WRITES", default_value_t = 120)]
    pub api_rate_limit_writes: u32,

    /// Addresses (IPs or CIDR ranges, comma-separated) of reverse proxies in front of proxyhub:
    /// for a request from one of them, the client address (what sign-in attempts are limited
    /// by) is taken from `X-Forwarded-For`. Empty: the connection's address, always.
    #[arg(long, env = "PROXYHUB_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Days a session lasts at most, however often it is used (signing in again starts a new
    /// one). A session signed in with `rememberMe: false` lasts a day at most, and its cookie
    /// ends with the browser session.
    #[arg(long, env = "PROXYHUB_SESSION_MAX_DAYS", default_value_t = 30)]
    pub session_max_days: u32,

    /// Every account must set up two-factor (an authenticator app) at its next sign-in: until
    /// it has, only `/api/auth/*` answers it (`403 TWO_FACTOR_REQUIRED` elsewhere).
    #[arg(long, env = "PROXYHUB_REQUIRE_2FA", default_value_t = false, action = clap::ArgAction::Set)]
    pub require_2fa: bool,

    /// Let webhooks reach loopback, link-local and private addresses (refused by default:
    /// a webhook must not be a way into the server's own network).
    #[arg(long, env = "PROXYHUB_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,

    /// Seconds between checks that the proxy runs the desired config.
    #[arg(long, env = "PROXYHUB_RECONCILE_INTERVAL", default_value_t = 3)]
    pub reconcile_interval: u64,

    /// Days of access-log rows to keep.
    #[arg(long, env = "PROXYHUB_LOG_RETENTION_DAYS", default_value_t = 30)]
    pub log_retention_days: u32,

    /// The most access-log rows to keep; the oldest are pruned first.
    #[arg(long, env = "PROXYHUB_LOG_MAX_ROWS", default_value_t = 10_000_000)]
    pub log_max_rows: u64,

    /// Seconds between two prunings of the access-log store.
    #[arg(long, env = "PROXYHUB_LOG_RETENTION_INTERVAL", default_value_t = 10)]
    pub log_retention_interval: u64,

    /// How client addresses of new requests are stored: `full`, `hashed` (a hash with a
    /// daily secret: one client's requests can be told apart within a UTC day, the address
    /// cannot be read back) or `none`.
    #[arg(
        long,
        env = "PROXYHUB_LOG_CLIENT_IP",
        value_enum,
        default_value = "full"
    )]
    pub log_client_ip: ClientIp,

    /// The bearer token `GET /metrics` asks for (`Authorization: Bearer <token>`). Unset,
    /// `/metrics` on the main listener is open when it listens on a loopback address only.
    #[arg(long, env = "PROXYHUB_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// An address of its own serving only `GET /metrics`, open (e.g. `127.0.0.1:9464`, or an
    /// address only the Prometheus server reaches).
    #[arg(long, env = "PROXYHUB_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Single sign-on through an OpenID Connect provider (off unless an issuer is set).
    #[command(flatten)]
    pub oidc: OidcConfig,
}

/// Sign-in through an OpenID Connect provider: `Sign in with SSO` on the dashboard, Better
/// Auth's `/api/auth/sign-in/social` with `provider: "oidc"`.
#[derive(Clone, Args)]
pub struct OidcConfig {
    /// The provider's issuer URL (its discovery document is `<issuer>/.well-known/openid-configuration`).
    #[arg(long = "oidc-issuer", env = "PROXYHUB_OIDC_ISSUER")]
    pub issuer: Option<String>,

    /// The client id proxyhub is registered under at the provider.
    #[arg(long = "oidc-client-id", env = "PROXYHUB_OIDC_CLIENT_ID")]
    pub client_id: Option<String>,

    /// The client's secret.
    #[arg(
        long = "oidc-client-secret",
        env = "PROXYHUB_OIDC_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,

    /// Email domains allowed to sign in (comma-separated, e.g. `example.com`); empty: any
    /// domain the provider vouches for.
    #[arg(
        long = "oidc-allowed-domains",
        env = "PROXYHUB_OIDC_ALLOWED_DOMAINS",
        value_delimiter = ','
    )]
    pub allowed_domains: Vec<String>,

    /// The role of accounts created at their first SSO sign-in (and of accounts the role
    /// claim grants nothing, when that is set).
    #[arg(long = "oidc-default-role", env = "PROXYHUB_OIDC_DEFAULT_ROLE", default_value = "viewer",
        value_parser = ["viewer", "editor", "admin"])]
    pub default_role: String,

    /// A claim (in the ID token or the userinfo answer, e.g. `groups`) that grants a role:
    /// when set, each SSO sign-in sets the account's role from it.
    #[arg(long = "oidc-role-claim", env = "PROXYHUB_OIDC_ROLE_CLAIM")]
    pub role_claim: Option<String>,

    /// The role claim's value (or one of its values) that grants the admin role.
    #[arg(
        long = "oidc-admin-value",
        env = "PROXYHUB_OIDC_ADMIN_VALUE",
        default_value = "admin"
    )]
    pub admin_value: String,

    /// The role claim's value (or one of its values) that grants the editor role.
    #[arg(
        long = "oidc-editor-value",
        env = "PROXYHUB_OIDC_EDITOR_VALUE",
        default_value = "editor"
    )]
    pub editor_value: String,

    /// Scopes asked for, space-separated (`openid` is always asked for).
    #[arg(
        long = "oidc-scopes",
        env = "PROXYHUB_OIDC_SCOPES",
        default_value = "openid email profile"
    )]
    pub scopes: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            client_id: None,
            client_secret: None,
            allowed_domains: Vec::new(),
            default_role: "viewer".into(),
            role_claim: None,
            admin_value: "admin".into(),
            editor_value: "editor".into(),
            scopes: "openid email profile".into(),
        }
    }
}

/// `10.0.0.0/8`, or one address (`192.0.2.7`, `::1`).
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is not an IP address or a CIDR range like 10.0.0.0/8"))
}

impl Config {
    /// Whether cookies must be marked Secure.
    pub fn public_url_is_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"))
    }

    /// The token `GET /metrics` asks for; an empty one is none.
    pub fn metrics_token(&self) -> Option<&str> {
        self.metrics_token.as_deref().filter(|t| !t.is_empty())
    }

    /// The access log as an absolute path: the proxy runs with another working directory.
    pub fn access_log_absolute(&self) -> PathBuf {
        if self.access_log.is_absolute() {
            self.access_log.clone()
        } else {
            std::env::current_dir()
                .map(|d| d.join(&self.access_log))
                .unwrap_or_else(|_| self.access_log.clone())
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The database URL can carry a password.
        let db = match self.database_url.split_once('@') {
            Some((_, host)) => format!("<redacted>@{host}"),
            None => self.database_url.clone(),
        };
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &db)
            .field("proxy", &self.proxy)
            .field("caddy_admin", &self.caddy_admin)
            .field("nginx_conf_dir", &self.nginx_conf_dir)
            .field("nginx_conf", &self.nginx_conf)
            .field("nginx_bin", &self.nginx_bin)
            .field("nginx_listen", &self.nginx_listen)
            .field("nginx_resolver", &self.nginx_resolver)
            .field("access_log", &self.access_log)
            .field("tls", &self.tls)
            .field("http_port", &self.http_port)
            .field("https_port", &self.https_port)
            .field("public_url", &self.public_url)
            .field("allow_signup", &self.allow_signup)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("log_client_ip", &self.log_client_ip)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("metrics_listen", &self.metrics_listen)
            .finish_non_exhaustive()
    }
}
