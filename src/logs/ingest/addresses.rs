//! How a request's client address is stored (`PROXYHUB_LOG_CLIENT_IP`): as the proxy logged
//! it, hashed, or not at all. A hash is the SHA-256 of the address and a secret of the UTC
//! day, cut to 16 hex digits: one client's requests of a day share it, and without the
//! secret it cannot be turned back into the address (IPv4 has few enough addresses to try
//! them all against a hash without a secret). The secret is random, lives in this process's
//! memory only, and is replaced (forgotten) when the UTC day changes.

use std::{
    borrow::Cow,
    sync::{Arc, Mutex},
};

use foldhash::{HashMap, HashMapExt};
use sha2::{Digest, Sha256};

use crate::{config::ClientIp, logs::parse::Entry};

/// A UTC day (days since 1970) and its secret.
type DaySecret = Option<(i64, [u8; 32])>;

/// The storing mode, and the day's secret shared by every reader of one proxyhub.
#[derive(Clone, Debug, Default)]
pub struct Addresses {
    mode: ClientIp,
    secret: Arc<Mutex<DaySecret>>,
}

impl Addresses {
    pub fn new(mode: ClientIp) -> Self {
        Self {
            mode,
            secret: Default::default(),
        }
    }

    pub fn mode(&self) -> ClientIp {
        self.mode
    }

    /// Rewrites a batch's client addresses as the mode stores them (one lock a batch, one
    /// hash per distinct address).
    pub fn apply(&self, entries: &mut [Entry<'_>]) {
        let day = time::OffsetDateTime::now_utc()
            .unix_timestamp()
            .div_euclid(86_400);
        self.apply_on(entries, day);
    }

    fn apply_on(&self, entries: &mut [Entry<'_>], day: i64) {
        match self.mode {
            ClientIp::Full => {}
            ClientIp::None => entries.iter_mut().for_each(|e| e.ip = Cow::Borrowed("")),
            ClientIp::Hashed => {
                let secret = self.secret_of(day);
                let mut hashed: HashMap<String, String> = HashMap::new();
                for e in entries.iter_mut().filter(|e| !e.ip.is_empty()) {
                    let h = match hashed.get(e.ip.as_ref()) {
                        Some(h) => h.clone(),
                        None => {
                            let h = hash(&e.ip, &secret);
                            hashed.insert(e.ip.to_string(), h.clone());
                            h
                        }
                    };
                    e.ip = Cow::Owned(h);
                }
            }
        }
    }

    /// Drops a secret whose day is over, even when no request comes to replace it (the
    /// tailer calls this as it polls).
    pub fn forget_past_days(&self) {
        let day = time::OffsetDateTime::now_utc()
            .unix_timestamp()
            .div_euclid(86_400);
        let mut kept = self.secret.lock().expect("client address secret");
        if kept.is_some_and(|(d, _)| d != day) {
            *kept = None;
        }
    }

    /// The secret of `day`: the one kept if it is that day's, else a new one (the old one
    /// is dropped).
    fn secret_of(&self, day: i64) -> [u8; 32] {
        let mut kept = self.secret.lock().expect("client address secret");
        match *kept {
            Some((d, s)) if d == day => s,
            _ => {
                let s: [u8; 32] = rand::random();
                *kept = Some((day, s));
                s
            }
        }
    }
}

fn hash(ip: &str, secret: &[u8; 32]) -> String {
    let digest = Sha256::new()
        .chain_update(ip.as_bytes())
        .chain_update(secret)
        .finalize();
    crate::digest::hex(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries<'a>(ips: &[&'a str]) -> Vec<Entry<'a>> {
        ips.iter()
            .map(|ip| Entry {
                ts_us: 0,
                domain: "a.example.com".into(),
                method: "GET".into(),
                path: "/".into(),
                status: 200,
                latency_us: 1,
                ip: Cow::Borrowed(ip),
                size: 0,
                protocol: "HTTP/1.1".into(),
                user_agent: "".into(),
            })
            .collect()
    }

    fn ips(entries: &[Entry]) -> Vec<String> {
        entries.iter().map(|e| e.ip.to_string()).collect()
    }

    #[test]
    fn hashes_tell_clients_apart_within_a_day_and_change_with_the_day() {
        let a = Addresses::new(ClientIp::Hashed);
        let mut today = entries(&["192.0.2.1", "192.0.2.2", "192.0.2.1", ""]);
        a.apply_on(&mut today, 20_000);
        let today = ips(&today);
        assert_eq!(today[0], today[2], "one client, one hash a day");
        assert_ne!(today[0], today[1]);
        assert_eq!(today[3], "", "no address, no hash");
        assert!(today[0].len() == 16 && today[0].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!today.iter().any(|h| h.contains("192.0.2")));
        let mut later = entries(&["192.0.2.1"]);
        a.apply_on(&mut later, 20_000);
        assert_eq!(ips(&later)[0], today[0], "the same all day long");
        let mut tomorrow = entries(&["192.0.2.1"]);
        a.apply_on(&mut tomorrow, 20_001);
        assert_ne!(ips(&tomorrow)[0], today[0], "a new secret the next day");
        let mut other = entries(&["192.0.2.1"]);
        Addresses::new(ClientIp::Hashed).apply_on(&mut other, 20_001);
        assert_ne!(
            ips(&other)[0],
            ips(&tomorrow)[0],
            "each process its own secret"
        );
    }

    #[test]
    fn a_past_days_secret_is_forgotten_without_waiting_for_a_request() {
        let a = Addresses::new(ClientIp::Hashed);
        let today = time::OffsetDateTime::now_utc()
            .unix_timestamp()
            .div_euclid(86_400);
        a.secret_of(today - 1);
        a.forget_past_days();
        assert!(
            a.secret.lock().unwrap().is_none(),
            "yesterday's secret is gone"
        );
        a.secret_of(today);
        a.forget_past_days();
        assert!(a.secret.lock().unwrap().is_some(), "today's stays");
    }

    #[test]
    fn full_keeps_the_address_and_none_keeps_nothing() {
        let mut kept = entries(&["192.0.2.1"]);
        Addresses::new(ClientIp::Full).apply_on(&mut kept, 1);
        assert_eq!(ips(&kept), ["192.0.2.1"]);
        let mut dropped = entries(&["192.0.2.1"]);
        Addresses::new(ClientIp::None).apply_on(&mut dropped, 1);
        assert_eq!(ips(&dropped), [""]);
    }
}
