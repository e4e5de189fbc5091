//! The allowlist on Caddy's adaptation of a site, on adaptations captured from Caddy.

use super::*;
use serde_json::json;

fn settings() -> CaddySettings {
    CaddySettings {
        admin_listen: "localhost:2019".into(),
        tls: false,
        local_certs: false,
        http_port: Some(8081),
        https_port: None,
        access_log: "/unused".into(),
    }
}

/// Caddy's adaptation of `http://a.example.com { ... }` whose route runs `handle`.
fn adapted(handle: Value) -> Value {
    json!({"apps": {"http": {"http_port": 8081, "servers": {"srv0": {
        "listen": [":8081"],
        "routes": [{"match": [{"host": ["a.example.com"]}], "handle": [{"handler": "subroute", "routes": [{"handle": handle}]}], "terminal": true}],
        "automatic_https": {"disable": true}
    }}}}})
}

fn check(v: &Value) -> Result<SiteRoutes, String> {
    check_site(v, &settings(), &[2019], &["a.example.com".to_string()])
}

#[test]
fn what_ordinary_snippets_adapt_to_passes() {
    for handle in [
        json!([{"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:9000"}]}]),
        json!([{"handler": "headers", "response": {"add": {"X-Extra": ["v"]}, "deferred": true, "delete": ["Server"]}},
               {"encodings": {"gzip": {}, "zstd": {}}, "handler": "encode", "prefer": ["zstd", "gzip"]},
               {"body": "hello {http.request.host}", "handler": "static_response", "status_code": 200}]),
        json!([{"handler": "authentication", "providers": {"http_basic": {"accounts": [{"password": "$2a$14$x", "username": "bob"}], "hash": {"algorithm": "bcrypt"}, "hash_cache": {}}}}]),
        json!([{"handler": "subroute", "routes": [{"handle": [{"handler": "rewrite", "strip_path_prefix": "/api"}]},
               {"handle": [{"handler": "reverse_proxy", "health_checks": {"active": {"interval": 10000000000u64, "uri": "/health"}, "passive": {"fail_duration": 30000000000u64}},
                 "load_balancing": {"selection_policy": {"policy": "round_robin"}}, "transport": {"dial_timeout": 5000000000u64, "protocol": "http", "tls": {"insecure_skip_verify": true}},
                 "upstreams": [{"dial": "127.0.0.1:9000"}]}], "match": [{"path": ["/api/*"], "not": [{"remote_ip": {"ranges": ["10.0.0.0/8"]}}]}]}]}]),
        json!([{"defaults": ["no"], "destinations": ["{my_var}"], "handler": "map", "mappings": [{"input": "a.example.com", "outputs": ["yes"]}], "source": "{http.request.host}"},
               {"foo": "bar", "handler": "vars"}]),
        json!([{"handle_response": [{"match": {"status_code": [5]}, "routes": [{"handle": [{"body": "bad", "handler": "static_response", "status_code": 502}]}]}],
                "handler": "reverse_proxy", "rewrite": {"method": "GET", "uri": "/verify"}, "upstreams": [{"dial": "127.0.0.1:9100"}]}]),
    ] {
        check(&adapted(handle.clone())).unwrap_or_else(|e| panic!("{handle}: {e}"));
    }
    let with_errors = {
        let mut v = adapted(json!([{"handler": "static_response"}]));
        v["apps"]["http"]["servers"]["srv0"]["errors"] = json!({"routes": [
            {"match": [{"host": ["a.example.com"]}], "handle": [{"handler": "static_response", "body": "{http.error.status_code}"}], "terminal": true}
        ]});
        v
    };
    assert!(check(&with_errors).unwrap().errors.is_some());
}

#[test]
fn placeholders_that_read_the_host_are_refused_in_keys_and_values() {
    for handle in [
        json!([{"handler": "static_response", "body": "{env.HOME}"}]),
        json!([{"handler": "static_response", "body": "{ENV.HOME}"}]),
        json!([{"handler": "static_response", "body": "{system.wd}"}]),
        json!([{"handler": "static_response", "body": "{file./etc/passwd}"}]),
        json!([{"handler": "headers", "response": {"set": {"X-Leak-{env.SECRET}": ["v"]}}}]),
        json!([{"handler": "vars", "{env.X}": "y"}]),
    ] {
        let e = check(&adapted(handle.clone())).expect_err(&handle.to_string());
        assert!(e.contains("read the host"), "{handle}: {e}");
    }
}

#[test]
fn handlers_matchers_and_fields_not_listed_are_refused() {
    for (handle, why) in [
        (
            json!([{"handler": "file_server", "root": "/"}]),
            "file_server",
        ),
        (json!([{"handler": "templates"}]), "templates"),
        (
            json!([{"handler": "reverse_proxy", "transport": {"protocol": "fastcgi"}, "upstreams": [{"dial": "127.0.0.1:9000"}]}]),
            "fastcgi",
        ),
        (
            json!([{"handler": "reverse_proxy", "upstreams": [{"dial": "localhost:2019"}]}]),
            "admin API",
        ),
        (
            json!([{"handler": "reverse_proxy", "upstreams": [{"dial": "[::1]:02019"}]}]),
            "admin API",
        ),
        (
            json!([{"handler": "reverse_proxy", "upstreams": [{"dial": "{http.request.header.X-Up}"}]}]),
            "fixed host:port",
        ),
        (
            json!([{"handler": "reverse_proxy", "upstreams": [{"dial": "unix//run/caddy.sock"}]}]),
            "fixed host:port",
        ),
        (
            json!([{"handler": "reverse_proxy", "dynamic_upstreams": {"source": "a"}}]),
            "dynamic_upstreams",
        ),
        (
            json!([{"handler": "reverse_proxy", "transport": {"protocol": "http", "tls": {"root_ca_pem_files": ["/etc/shadow"]}}, "upstreams": [{"dial": "a:443"}]}]),
            "root_ca_pem_files",
        ),
        (
            json!([{"handler": "reverse_proxy", "health_checks": {"active": {"port": 2019}}, "upstreams": [{"dial": "a:80"}]}]),
            "admin API",
        ),
        (
            json!([{"handler": "subroute", "routes": [{"match": [{"file": {"try_files": ["/etc/passwd"]}}], "handle": []}]}]),
            "file matcher",
        ),
        (
            json!([{"handler": "subroute", "routes": [{"match": [{"expression": "true"}], "handle": []}]}]),
            "expression matcher",
        ),
        (json!([{"handler": "some_plugin"}]), "some_plugin"),
        (
            json!([{"handler": "static_response", "surprise": 1}]),
            "surprise",
        ),
    ] {
        let e = check(&adapted(handle.clone())).expect_err(&handle.to_string());
        assert!(e.contains(why), "{handle}: {e}");
    }
}

#[test]
fn anything_beyond_the_sites_own_routes_is_refused() {
    let ok = adapted(json!([]));
    let mut other_host = ok.clone();
    other_host["apps"]["http"]["servers"]["srv0"]["routes"][0]["match"] =
        json!([{"host": ["victim.example.com"]}]);
    let mut two_hosts = ok.clone();
    two_hosts["apps"]["http"]["servers"]["srv0"]["routes"][0]["match"] =
        json!([{"host": ["a.example.com", "victim.example.com"]}]);
    let mut hostless = ok.clone();
    hostless["apps"]["http"]["servers"]["srv0"]["routes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"handle": []}));
    let mut listener = ok.clone();
    listener["apps"]["http"]["servers"]["srv0"]["listen"] = json!([":2020"]);
    let mut server = ok.clone();
    server["apps"]["http"]["servers"]["srv1"] = json!({"listen": [":8081"], "routes": []});
    let mut logs = ok.clone();
    logs["apps"]["http"]["servers"]["srv0"]["logs"] = json!({});
    let mut global = ok.clone();
    global["admin"] = json!({"listen": "0.0.0.0:2019"});
    let mut storage = ok.clone();
    storage["storage"] = json!({"module": "file_system", "root": "/etc"});
    let mut tls_app = ok.clone();
    tls_app["apps"]["tls"] = json!({});
    let mut port = ok.clone();
    port["apps"]["http"]["http_port"] = json!(80);
    for (v, why) in [
        (other_host, "another site"),
        (two_hosts, "another site"),
        (hostless, "another site"),
        (listener, "listen elsewhere"),
        (server, "add a server"),
        (logs, "\"logs\""),
        (global, "\"admin\""),
        (storage, "\"storage\""),
        (tls_app, "\"tls\" app"),
        (port, "http_port"),
    ] {
        let e = check(&v).expect_err(why);
        assert!(e.contains(why), "{why}: {e}");
    }
}

#[test]
fn with_tls_a_site_listens_on_the_https_port_with_automatic_https_on() {
    let tls = CaddySettings {
        tls: true,
        http_port: None,
        https_port: Some(8443),
        ..settings()
    };
    let site = json!({"apps": {"http": {"https_port": 8443, "servers": {"srv0": {
        "listen": [":8443"],
        "routes": [{"match": [{"host": ["a.example.com"]}], "handle": [{"handler": "subroute", "routes": [{"handle": [{"handler": "static_response", "body": "ok"}]}]}], "terminal": true}]
    }}}}});
    check_site(&site, &tls, &[2019], &["a.example.com".to_string()]).unwrap();
    let mut off = site.clone();
    off["apps"]["http"]["servers"]["srv0"]["automatic_https"] = json!({"disable": true});
    assert!(
        check_site(&off, &tls, &[2019], &["a.example.com".to_string()])
            .unwrap_err()
            .contains("automatic HTTPS")
    );
}

/// Caddy's adaptation (2.6.2 and 2.11 alike) of a site under `local_certs` and
/// `skip_install_trust`.
fn internal_site() -> Value {
    json!({"apps": {
        "http": {"https_port": 8443, "servers": {"srv0": {
            "listen": [":8443"],
            "routes": [{"match": [{"host": ["a.example.com"]}], "handle": [{"handler": "subroute", "routes": [{"handle": [{"handler": "static_response", "body": "ok"}]}]}], "terminal": true}]
        }}},
        "pki": {"certificate_authorities": {"local": {"install_trust": false}}},
        "tls": {"automation": {"policies": [{"issuers": [{"module": "internal"}]}]}}
    }})
}

#[test]
fn with_internal_certificates_only_proxyhubs_own_tls_and_pki_pass() {
    let internal = CaddySettings {
        tls: true,
        local_certs: true,
        http_port: None,
        https_port: Some(8443),
        ..settings()
    };
    let site = internal_site();
    let routes = check_site(&site, &internal, &[2019], &["a.example.com".to_string()]).unwrap();
    assert!(!routes.routes.contains("internal"), "{}", routes.routes);
    let mut without = site.clone();
    let apps = without["apps"].as_object_mut().unwrap();
    apps.remove("pki");
    apps.remove("tls");
    check_site(&without, &internal, &[2019], &["a.example.com".to_string()]).unwrap();
    let mut trusted = site.clone();
    trusted["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] = json!(true);
    let mut acme = site.clone();
    acme["apps"]["tls"]["automation"]["policies"][0]["issuers"] =
        json!([{"module": "acme", "ca": "https://evil.example/dir"}]);
    let mut subjects = site.clone();
    subjects["apps"]["tls"]["automation"]["policies"][0]["subjects"] =
        json!(["victim.example.com"]);
    let mut other_ca = site.clone();
    other_ca["apps"]["pki"]["certificate_authorities"]["evil"] = json!({"root": {}});
    for (v, why) in [
        (trusted, "\"pki\" app"),
        (acme, "\"tls\" app"),
        (subjects, "\"tls\" app"),
        (other_ca, "\"pki\" app"),
    ] {
        let e = check_site(&v, &internal, &[2019], &["a.example.com".to_string()]).expect_err(why);
        assert!(e.contains(why), "{why}: {e}");
    }
    let acme_mode = CaddySettings {
        local_certs: false,
        ..internal
    };
    assert!(
        check_site(&site, &acme_mode, &[2019], &["a.example.com".to_string()])
            .unwrap_err()
            .contains("\"pki\" app")
    );
}
