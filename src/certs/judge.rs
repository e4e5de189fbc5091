//! Judging a served chain: the leaf read for its issuer, validity and names, then whether it
//! is the certificate expected for the name: covering it, within its validity, and issued
//! (through the served intermediates) by the expected CA.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use tokio_rustls::rustls::{
    client::{danger::ServerCertVerifier, WebPkiServerVerifier},
    pki_types::{CertificateDer, ServerName, UnixTime},
    RootCertStore,
};
use x509_cert::{
    der::{asn1::ObjectIdentifier, Decode},
    ext::pkix::{name::GeneralName, SubjectAltName},
    Certificate,
};

use super::{probe, CertStatus, EXPIRING_DAYS};
use crate::timestamps;

/// What the leaf says of itself.
#[derive(Debug, PartialEq)]
pub struct Leaf {
    pub issuer: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub names: Vec<String>,
}

/// Reads a certificate (DER).
pub fn leaf(der: &[u8]) -> Result<Leaf, String> {
    let cert = Certificate::from_der(der).map_err(|e| format!("unreadable certificate: {e}"))?;
    let tbs = &cert.tbs_certificate;
    let time = |t: x509_cert::time::Time| {
        OffsetDateTime::from_unix_timestamp(t.to_unix_duration().as_secs() as i64)
            .map_err(|e| e.to_string())
    };
    let names = match tbs.get::<SubjectAltName>() {
        Ok(Some((_, san))) => san
            .0
            .iter()
            .filter_map(|n| match n {
                GeneralName::DnsName(d) => Some(d.as_str().to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => return Err(format!("unreadable subject alternative names: {e}")),
    };
    Ok(Leaf {
        issuer: common_name(&tbs.issuer).unwrap_or_else(|| tbs.issuer.to_string()),
        not_before: time(tbs.validity.not_before)?,
        not_after: time(tbs.validity.not_after)?,
        names,
    })
}

fn common_name(name: &x509_cert::name::Name) -> Option<String> {
    const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == CN)
        .and_then(|atv| std::str::from_utf8(atv.value.value()).ok())
        .map(str::to_string)
}

/// Whether a certificate name (`app.example.com`, `*.example.com`) covers `host`: the same
/// name, or a wildcard for exactly one more label, without regard to case.
pub fn covers(pattern: &str, host: &str) -> bool {
    let (pattern, host) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    match pattern.strip_prefix("*.") {
        None => pattern == host,
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && label != "*" && rest == parent),
    }
}

/// Whether a certificate with `left` of its `lifetime` remaining is to be flagged: fewer
/// than 14 days left, or for a short-lived certificate less than a quarter of its lifetime
/// (Caddy renews at a third).
pub fn expiring_soon(left: Duration, lifetime: Duration) -> bool {
    left < Duration::days(EXPIRING_DAYS).min(lifetime / 4)
}

/// The status of the chain served for `host` (the name sent, a wildcard's one label filled
/// in), against `roots` (`Err`: why the expected CA is not known).
pub fn status(
    chain: &[CertificateDer<'static>],
    host: &str,
    roots: &Result<Arc<RootCertStore>, String>,
    ca: &str,
    now: OffsetDateTime,
) -> CertStatus {
    let leaf = match chain.first().map(|c| leaf(c)) {
        Some(Ok(l)) => l,
        Some(Err(e)) => return failed(e, now),
        None => return failed("no certificate was served".into(), now),
    };
    let mut problems = Vec::new();
    if !leaf.names.iter().any(|n| covers(n, host)) {
        problems.push(format!(
            "not covered: the certificate is for {}",
            if leaf.names.is_empty() {
                "no DNS name".to_string()
            } else {
                leaf.names.join(", ")
            }
        ));
    }
    if now > leaf.not_after {
        problems.push(format!("expired at {}", timestamps::iso(leaf.not_after)));
    } else if now < leaf.not_before {
        problems.push(format!(
            "not valid before {}",
            timestamps::iso(leaf.not_before)
        ));
    }
    match roots {
        Err(e) => problems.push(format!("not checked against {ca}: {e}")),
        Ok(roots) => {
            if let Err(e) = verify(chain, host, roots.clone(), now) {
                problems.push(format!("not issued by the expected CA ({ca}): {e}"));
            }
        }
    }
    let left = leaf.not_after - now;
    CertStatus {
        issuer: Some(leaf.issuer),
        not_after: Some(timestamps::iso(leaf.not_after)),
        days_left: Some(left.whole_days()),
        names: leaf.names,
        matches: problems.is_empty(),
        expiring_soon: expiring_soon(left, leaf.not_after - leaf.not_before),
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
        checked_at: timestamps::iso(now),
    }
}

/// A status for a name whose handshake failed or whose certificate could not be read.
pub fn failed(problem: String, now: OffsetDateTime) -> CertStatus {
    CertStatus {
        issuer: None,
        not_after: None,
        days_left: None,
        names: Vec::new(),
        matches: false,
        expiring_soon: false,
        problem: Some(problem),
        checked_at: timestamps::iso(now),
    }
}

/// The chain verified as a client would: up to one of `roots`, for `host`, at `now`.
fn verify(
    chain: &[CertificateDer<'static>],
    host: &str,
    roots: Arc<RootCertStore>,
    now: OffsetDateTime,
) -> Result<(), String> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, probe::provider())
        .build()
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        now.unix_timestamp().max(0) as u64,
    ));
    verifier
        .verify_server_cert(&chain[0], &chain[1..], &name, &[], at)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_themselves_and_wildcards_one_label() {
        assert!(covers("app.example.com", "APP.example.com"));
        assert!(covers("*.example.com", "check.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("app.example.com", "www.example.com"));
    }

    #[test]
    fn expiring_soon_is_two_weeks_or_a_quarter_of_a_short_lifetime() {
        let (day, hour) = (Duration::days(1), Duration::hours(1));
        assert!(expiring_soon(day * 13, day * 90));
        assert!(!expiring_soon(day * 15, day * 90));
        // Caddy's local CA: 12-hour certificates, renewed with 4 hours left.
        assert!(!expiring_soon(hour * 11, hour * 12));
        assert!(!expiring_soon(hour * 4, hour * 12));
        assert!(expiring_soon(hour * 2, hour * 12));
        assert!(expiring_soon(-hour, hour * 12));
    }

    /// What a Caddy (2.6.2) served for `app.example.com` from its local CA, that CA's root,
    /// and another local CA's root (certificates only, captured once).
    const CHAIN: &str = include_str!("testdata/chain.pem");
    const ROOT: &str = include_str!("testdata/root.pem");
    const OTHER_ROOT: &str = include_str!("testdata/other-root.pem");

    fn pems(text: &str) -> Vec<CertificateDer<'static>> {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        CertificateDer::pem_slice_iter(text.as_bytes())
            .map(|c| c.unwrap())
            .collect()
    }

    fn roots(text: &str) -> Result<Arc<RootCertStore>, String> {
        let mut store = RootCertStore::empty();
        store.add_parsable_certificates(pems(text));
        Ok(Arc::new(store))
    }

    #[test]
    fn a_local_ca_certificate_is_judged_on_names_validity_and_chain() {
        let chain = pems(CHAIN);
        let issued = leaf(&chain[0]).unwrap();
        assert_eq!(issued.issuer, "Caddy Local Authority - ECC Intermediate");
        assert_eq!(issued.names, ["app.example.com"]);
        let (ca, hour) = ("Caddy's local CA", Duration::hours(1));
        let now = issued.not_before + hour;
        let ok = status(&chain, "app.example.com", &roots(ROOT), ca, now);
        assert!(
            ok.matches && !ok.expiring_soon && ok.problem.is_none(),
            "{ok:?}"
        );
        assert_eq!(ok.days_left, Some(0));
        assert_eq!(
            ok.not_after.as_deref(),
            Some(&*timestamps::iso(issued.not_after))
        );

        let problem = |host: &str, roots: &str, now: OffsetDateTime| {
            let s = status(&chain, host, &self::roots(roots), ca, now);
            assert!(!s.matches, "{s:?}");
            s.problem.unwrap()
        };
        let other = problem("www.example.com", ROOT, now);
        assert!(
            other.starts_with("not covered: the certificate is for app.example.com"),
            "{other}"
        );
        let late = problem("app.example.com", ROOT, issued.not_after + hour);
        assert!(late.starts_with("expired at "), "{late}");
        let foreign = problem("app.example.com", OTHER_ROOT, now);
        assert!(
            foreign.starts_with("not issued by the expected CA (Caddy's local CA)"),
            "{foreign}"
        );
        let soon = status(
            &chain,
            "app.example.com",
            &roots(ROOT),
            ca,
            issued.not_after - hour,
        );
        assert!(soon.matches && soon.expiring_soon, "{soon:?}");
    }

    #[test]
    fn an_unreadable_certificate_is_a_problem_not_a_panic() {
        let s = status(
            &[CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01])],
            "app.example.com",
            &Err("unused".into()),
            "the system's roots",
            OffsetDateTime::now_utc(),
        );
        assert!(!s.matches);
        assert!(
            s.problem.as_deref().unwrap().contains("unreadable"),
            "{s:?}"
        );
    }
}
