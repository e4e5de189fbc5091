//! What a change sets, and the checks that put a vhost's fields in their stored form.

use super::{features, validate, Vhost};
use crate::proxy::site::{Headers, HealthCheck, LoadBalancing, Redirect, Tls};

/// What a change sets: `None` leaves a field as it is; for the optional ones, `Some(None)`
/// clears it.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub domain: Option<String>,
    pub config: Option<Option<String>>,
    pub upstream: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub aliases: Option<Vec<String>>,
    pub redirect: Option<Option<Redirect>>,
    pub upstreams: Option<Vec<String>>,
    pub load_balancing: Option<Option<LoadBalancing>>,
    pub health_check: Option<Option<HealthCheck>>,
    pub access: Option<Option<features::AccessInput>>,
    pub headers: Option<Option<Headers>>,
    pub tls: Option<Option<Tls>>,
}

impl Changes {
    /// Sets the fields given on `v` (passwords hashed here; a user sent without one keeps
    /// its hash). `upstream` and `upstreams` are one list: given together, they must agree.
    pub async fn apply_to(self, v: &mut Vhost) -> Result<(), (String, String)> {
        // bcrypt is slow on purpose: off the async threads.
        let access = match self.access {
            None => None,
            Some(None) => Some(None),
            Some(Some(input)) => {
                let old = v.features.access.clone();
                let hashed =
                    tokio::task::spawn_blocking(move || features::access(&input, old.as_ref()))
                        .await
                        .map_err(|e| ("access".to_string(), e.to_string()))??;
                Some(hashed)
            }
        };
        if let Some(d) = self.domain {
            v.domain = d;
        }
        if let Some(c) = self.config {
            v.config = c;
        }
        if let Some(e) = self.enabled {
            v.enabled = e;
        }
        let single = self.upstream.map(|u| {
            u.filter(|u| !u.trim().is_empty())
                .into_iter()
                .collect::<Vec<_>>()
        });
        let list = match (single, self.upstreams) {
            (Some(one), Some(all)) if one.is_empty() || all.first() == one.first() => Some(all),
            (Some(_), Some(_)) => {
                return Err((
                    "upstream".into(),
                    "give upstream or upstreams; when both, upstream is the first of upstreams"
                        .into(),
                ))
            }
            (one, all) => all.or(one),
        };
        let f = &mut v.features;
        if let Some(list) = list {
            // `upstream` follows, or `normalize` would bring a cleared one back.
            v.upstream = list.first().cloned();
            f.upstreams = list;
        }
        if let Some(a) = self.aliases {
            f.aliases = a;
        }
        if let Some(r) = self.redirect {
            f.redirect = r;
        }
        if let Some(lb) = self.load_balancing {
            f.load_balancing = lb;
        }
        if let Some(h) = self.health_check {
            f.health_check = h;
        }
        if let Some(a) = access {
            f.access = a;
        }
        if let Some(h) = self.headers {
            f.headers = h;
        }
        if let Some(t) = self.tls {
            f.tls = t.filter(|t| *t != Tls::default());
        }
        Ok(())
    }
}

/// Checks a vhost's fields and puts them in their stored form (lowercased names, empty texts
/// as none, canonical upstreams and networks); a refusal names the field (`vhost` for one
/// about the whole).
pub fn normalize(v: &mut Vhost) -> Result<(), (String, String)> {
    v.domain = validate::domain(&v.domain).map_err(|m| ("domain".to_string(), m))?;
    // An empty string means "none", as a cleared form field would send it.
    v.config = v.config.take().filter(|c| !c.trim().is_empty());
    if let Some(c) = &v.config {
        validate::snippet(c).map_err(|m| ("config".to_string(), m))?;
    }
    let f = &mut v.features;
    let raw: Vec<String> = f
        .upstreams
        .drain(..)
        .filter(|u| !u.trim().is_empty())
        .collect();
    f.upstreams = if raw.is_empty() {
        // A vhost read before upstreams existed, or set through `upstream` alone.
        match v.upstream.take().filter(|u| !u.trim().is_empty()) {
            Some(u) => vec![validate::upstream(&u).map_err(|m| ("upstream".to_string(), m))?],
            None => vec![],
        }
    } else if raw.len() == 1 {
        vec![validate::upstream(&raw[0]).map_err(|m| ("upstream".to_string(), m))?]
    } else {
        features::upstreams(&raw)?
    };
    v.upstream = f.upstreams.first().cloned();
    f.aliases = features::aliases(&v.domain, &f.aliases)?;
    if let Some(r) = &f.redirect {
        f.redirect = Some(features::redirect(r)?);
    }
    if let Some(h) = &f.health_check {
        f.health_check = Some(features::health_check(h)?);
    }
    if let Some(h) = &f.headers {
        f.headers = features::headers(h)?;
    }
    features::whole(f, v.config.as_deref())?;
    if v.config.is_none() && f.upstreams.is_empty() && f.redirect.is_none() {
        return Err((
            "vhost".into(),
            "give a config snippet, an upstream or a redirect".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn upstreams_given_empty_clear_the_upstream() {
        let mut v = Vhost {
            id: 1,
            domain: "a.example.com".into(),
            config: None,
            enabled: true,
            upstream: Some("127.0.0.1:1".into()),
            features: crate::proxy::site::Features {
                upstreams: vec!["127.0.0.1:1".into()],
                ..Default::default()
            },
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
        };
        let to_redirect = Changes {
            upstreams: Some(vec![]),
            redirect: Some(Some(Redirect {
                target: "https://b.example.com/".into(),
                code: 301,
                preserve_path: false,
                include_www: false,
            })),
            ..Changes::default()
        };
        to_redirect.apply_to(&mut v).await.unwrap();
        normalize(&mut v).unwrap();
        assert_eq!(v.upstream, None);
        assert!(v.features.upstreams.is_empty());
    }
}
