//! The nodes of a fleet, as the proxy backend is told of them (by the applier, from the store,
//! before every push and drift check) and as it reports on them afterwards.

/// An active node: where to reach its admin API, what its config carries of its own, and what
/// proxyhub last loaded onto it (shared by every replica through the store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    pub id: i64,
    pub name: String,
    /// `http://host:port` of its admin API.
    pub admin_url: String,
    /// `host:port` written into its config's `admin.listen`.
    pub admin_listen: String,
    /// The address its sites listen on (all of the machine's when `None`).
    pub bind: Option<String>,
    /// Where it writes its access log (proxyhub's `PROXYHUB_ACCESS_LOG` when `None`).
    pub access_log: Option<String>,
    /// The hash (hex) of the sites last loaded onto it; `None`: not known (never loaded, or a
    /// load whose outcome is unknown), so the next push or drift check loads it.
    pub config_hash: Option<String>,
    /// The marker (the admin object's `@id`) of that load.
    pub marker: Option<String>,
    /// The ETag of the config that load made, once a drift check read it (`None` until then:
    /// the check reads the config, finds the marker, and keeps the ETag).
    pub etag: Option<String>,
    /// What went wrong with it last, until it is over.
    pub error: Option<String>,
}

/// What a push or a drift check did to a node, for the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReport {
    pub id: i64,
    /// Its name: how the store finds it (a node a change adds has its id only once the
    /// change is committed).
    pub name: String,
    /// What it runs now (`None`: not known).
    pub config_hash: Option<String>,
    pub marker: Option<String>,
    pub etag: Option<String>,
    /// Whether a configuration was loaded onto it and kept.
    pub applied: bool,
    /// Whether that load repaired drift (the node ran something else).
    pub repaired: bool,
    /// What went wrong with it, if anything.
    pub error: Option<String>,
}
