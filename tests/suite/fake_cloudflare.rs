//! Self-test of the fake Cloudflare API in `tests/support/`: it must accept what the real API
//! accepts, reject what the README's rules forbid (and record a violation), answer auth errors
//! with Cloudflare's codes, play scripted faults, and work with a pooled reqwest client.

use crate::support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::cloudflare::{
    API_KEY, Behaviour, Config, EMAIL, FakeCloudflare, TOKEN, TOKEN_ID, TokenStatus, ZONE_ID,
    ZONE_NAME, Zone, error_envelope, url_problem,
};
use support::expect::{assert_clean, purge_path};
use support::openapi::{self, Spec};

// ------------------------------------------------------------------------------------------
// A tiny blocking HTTP/1.1 client (one request per connection) for full control of headers.
// ------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("response body is JSON")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first error code of an error envelope.
    fn code(&self) -> i64 {
        self.json()["errors"][0]["code"]
            .as_i64()
            .expect("errors[0].code")
    }
}

/// Sends one request; `None` if the server closed the connection without answering.
fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Option<Answer> {
    let mut stream = TcpStream::connect(addr).expect("connect to fake");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    stream.write_all(request.as_bytes()).expect("write request");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    if raw.is_empty() {
        return None;
    }
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_string(),
    })
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// A purge with the good token and a JSON content type.
fn purge(cf: &FakeCloudflare, body: &str) -> Option<Answer> {
    let auth = bearer();
    send(
        cf.addr(),
        "POST",
        &purge_path(ZONE_ID),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(body),
    )
}

fn purge_json(cf: &FakeCloudflare, body: &Value) -> Answer {
    purge(cf, &body.to_string()).expect("an answer")
}

// ------------------------------------------------------------------------------------------
// The schema validator
// ------------------------------------------------------------------------------------------

#[test]
fn validator_knows_every_keyword_of_the_subset() {
    let spec = Spec::get();
    let doc = spec.document();
    let mut unknown = Vec::new();
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .expect("components")
    {
        for problem in openapi::unsupported_keywords(schema) {
            unknown.push(format!("{name}{problem}"));
        }
    }
    for (path, method, status) in [
        ("/zones/{zone_id}/purge_cache", "post", "200"),
        ("/zones/{zone_id}/purge_cache", "post", "4XX"),
        ("/zones", "get", "200"),
        ("/zones", "get", "4XX"),
        ("/user/tokens/verify", "get", "200"),
        ("/user/tokens/verify", "get", "4XX"),
    ] {
        unknown.extend(openapi::unsupported_keywords(
            spec.response_schema(path, method, status),
        ));
    }
    unknown.extend(openapi::unsupported_keywords(
        spec.request_schema("/zones/{zone_id}/purge_cache", "post"),
    ));
    assert!(unknown.is_empty(), "{unknown:#?}");
}

#[test]
fn validator_rejects_bad_input_for_each_keyword() {
    let spec = Spec::get();
    let failure = spec.component("cache-purge_api-response-common-failure");
    let good = error_envelope(1012, "x");
    assert!(
        openapi::is_valid(failure, &good),
        "{:?}",
        openapi::validate(failure, &good)
    );

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "required",
            json!({"success": false, "errors": [], "messages": []}),
            "required",
        ),
        (
            "enum",
            json!({"success": true, "errors": [], "messages": [], "result": null}),
            "enum",
        ),
        (
            "type",
            json!({"success": "no", "errors": [], "messages": [], "result": null}),
            "type",
        ),
        (
            "items/required",
            json!({"success": false, "errors": [{"code": 1012}], "messages": [], "result": null}),
            "required",
        ),
        (
            "minimum",
            json!({"success": false, "errors": [{"code": 12, "message": "m"}], "messages": [], "result": null}),
            "minimum",
        ),
        (
            "integer",
            json!({"success": false, "errors": [{"code": 1012.5, "message": "m"}], "messages": [], "result": null}),
            "type",
        ),
        (
            "enum null",
            json!({"success": false, "errors": [], "messages": [], "result": {}}),
            "enum",
        ),
    ];
    for (what, instance, keyword) in cases {
        let errors = openapi::validate(failure, &instance);
        assert!(
            errors.iter().any(|e| e.keyword == keyword),
            "{what}: expected a `{keyword}` error, got {errors:?}"
        );
    }

    // nullable (quirk 3): `result: null` passes `type: object` only because of `nullable`.
    let mut strict = failure.clone();
    strict["properties"]["result"]
        .as_object_mut()
        .expect("result schema")
        .remove("nullable");
    assert!(!openapi::is_valid(&strict, &good));

    // maxLength and pattern, on the zone object.
    let zone = spec.component("zones_zone");
    let name_errors = openapi::validate(&zone["properties"]["name"], &json!("not a zone"));
    assert!(
        name_errors.iter().any(|e| e.keyword == "pattern"),
        "{name_errors:?}"
    );
    let id_errors = openapi::validate(&zone["properties"]["id"], &json!("x".repeat(33)));
    assert!(
        id_errors.iter().any(|e| e.keyword == "maxLength"),
        "{id_errors:?}"
    );

    // anyOf and allOf.
    let any = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
    assert!(openapi::is_valid(&any, &json!(3)));
    assert!(!openapi::is_valid(&any, &json!([])));
    let all = json!({"allOf": [{"minimum": 1}, {"maximum": 3}]});
    assert!(openapi::is_valid(&all, &json!(2)));
    assert!(!openapi::is_valid(&all, &json!(4)));

    // An unknown keyword is an error, never silently ignored.
    let odd = json!({"type": "object", "propertyNames": {"maxLength": 1}});
    assert!(!openapi::is_valid(&odd, &json!({})));
}

#[test]
fn request_schema_is_permissive_but_accepts_its_own_examples() {
    let spec = Spec::get();
    let path = "/zones/{zone_id}/purge_cache";
    let schema = spec.request_schema(path, "post");
    // README quirk 1: the published schema accepts nonsense ...
    assert!(openapi::is_valid(schema, &json!({})));
    assert!(openapi::is_valid(schema, &json!({"files": "nope"})));
    // ... and only rejects bodies that are not objects.
    assert!(!openapi::is_valid(schema, &json!(["https://example.com/"])));
    let examples =
        spec.operation(path, "post")["requestBody"]["content"]["application/json"]["examples"]
            .as_object()
            .expect("examples");
    assert_eq!(examples.len(), 6);
    for (name, example) in examples {
        assert!(openapi::is_valid(schema, &example["value"]), "{name}");
    }
    // README quirk 2: the published 4XX schema cannot be satisfied by any error body.
    let four = spec.response_schema(path, "post", "4XX");
    assert!(!openapi::is_valid(four, &error_envelope(1012, "x")));
}

// ------------------------------------------------------------------------------------------
// Purge: the happy paths
// ------------------------------------------------------------------------------------------

#[test]
fn good_purge_succeeds_and_is_recorded() {
    let cf = FakeCloudflare::start();
    assert_eq!(
        cf.base_url(),
        format!("http://127.0.0.1:{}/client/v4", cf.addr().port())
    );
    let body = json!({"files": [
        "https://example.com/",
        "https://example.com/caf%C3%A9/menu.html?lang=en&x=%2F",
    ]});
    let answer = purge_json(&cf, &body);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.json(),
        json!({"success": true, "errors": [], "messages": [], "result": {"id": ZONE_ID}})
    );
    assert!(
        answer
            .header("content-type")
            .is_some_and(|v| v.starts_with("application/json"))
    );
    assert_clean(&cf);
    assert_eq!(
        cf.purged_files().into_iter().collect::<Vec<_>>(),
        vec![
            "https://example.com/".to_string(),
            "https://example.com/caf%C3%A9/menu.html?lang=en&x=%2F".to_string(),
        ]
    );
    let requests = cf.purge_requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, purge_path(ZONE_ID));
    assert_eq!(r.purge_zone(), Some(ZONE_ID));
    assert_eq!(r.status, Some(200));
    assert_eq!(r.json(), Some(&body));
    assert_eq!(r.header_values("Authorization"), vec![bearer().as_str()]);
    assert!(r.header("x-auth-key").is_none());
    assert!(r.received <= Instant::now());
    assert_eq!(
        r.response.as_ref().map(|v| v["success"].clone()),
        Some(json!(true))
    );
}

#[test]
fn every_purge_variant_is_accepted_and_recorded() {
    let cf = FakeCloudflare::start();
    let bodies = [
        json!({"files": [
            {"url": "https://example.com/a.jpg", "headers": {"CF-IPCountry": "US", "Accept-Language": "en"}},
            {"url": "https://example.com/b.jpg"},
            {"url": "https://example.com/c.jpg", "headers": {}},
        ]}),
        json!({"hosts": ["www.example.com"]}),
        json!({"tags": ["blog"]}),
        json!({"prefixes": ["www.example.com/blog"]}),
        json!({"purge_everything": true}),
    ];
    for body in &bodies {
        let answer = purge_json(&cf, body);
        assert_eq!(answer.status, 200, "{body}: {}", answer.body);
    }
    assert_clean(&cf);
    let files: Vec<String> = cf.purged_files().into_iter().collect();
    assert_eq!(
        files,
        vec![
            r#"https://example.com/a.jpg {"Accept-Language":"en","CF-IPCountry":"US"}"#,
            "https://example.com/b.jpg",
            "https://example.com/c.jpg",
        ]
    );
    assert!(cf.purged_hosts().contains("www.example.com"));
    assert!(cf.purged_tags().contains("blog"));
    assert!(cf.purged_prefixes().contains("www.example.com/blog"));
    assert_eq!(cf.purged_everything(), 1);
}

#[test]
fn max_files_is_configurable() {
    let cf = FakeCloudflare::with_config(Config {
        max_files: 2,
        ..Config::default()
    });
    let two = json!({"files": ["https://example.com/1", "https://example.com/2"]});
    assert_eq!(purge_json(&cf, &two).status, 200);
    let three = json!({"files": ["https://example.com/1", "https://example.com/2", "https://example.com/3"]});
    let answer = purge_json(&cf, &three);
    assert_eq!((answer.status, answer.code()), (400, 1015));
    assert_eq!(cf.violations().len(), 1);
    cf.set_max_files(3);
    assert_eq!(purge_json(&cf, &three).status, 200);
}

#[test]
fn a_plan_limit_refuses_larger_purges_without_a_violation() {
    let cf = FakeCloudflare::start();
    cf.set_plan_limit(2);
    let three = json!({"files": ["https://example.com/1", "https://example.com/2", "https://example.com/3"]});
    let answer = purge_json(&cf, &three);
    assert_eq!((answer.status, answer.code()), (400, 1015));
    assert!(cf.violations().is_empty(), "{:?}", cf.violations());
    assert!(cf.purged_files().is_empty());
    let two = json!({"files": ["https://example.com/1", "https://example.com/2"]});
    assert_eq!(purge_json(&cf, &two).status, 200);
}

// ------------------------------------------------------------------------------------------
// Purge: every stricter rule rejects a bad body and records a violation
// ------------------------------------------------------------------------------------------

#[test]
fn each_rule_rejects_a_bad_body_and_records_a_violation() {
    let too_many: Vec<String> = (0..101)
        .map(|i| format!("https://example.com/page-{i}.html"))
        .collect();
    let cases: Vec<(&str, String, i64)> = vec![
        ("no purge key", json!({}).to_string(), 1012),
        ("empty body", String::new(), 1012),
        (
            "two purge keys",
            json!({"files": ["https://example.com/"], "tags": ["a"]}).to_string(),
            1012,
        ),
        ("101 files", json!({"files": too_many}).to_string(), 1015),
        (
            "relative URL",
            json!({"files": ["/index.html"]}).to_string(),
            1016,
        ),
        (
            "no scheme",
            json!({"files": ["example.com/index.html"]}).to_string(),
            1016,
        ),
        (
            "ftp URL",
            json!({"files": ["ftp://example.com/a"]}).to_string(),
            1016,
        ),
        (
            "raw space",
            json!({"files": ["https://example.com/a b.html"]}).to_string(),
            1016,
        ),
        (
            "lower-case hex",
            json!({"files": ["https://example.com/a%2fb.html"]}).to_string(),
            1016,
        ),
        (
            "stray percent",
            json!({"files": ["https://example.com/100%.html"]}).to_string(),
            1016,
        ),
        (
            "raw non-ASCII",
            json!({"files": ["https://example.com/café.html"]}).to_string(),
            1016,
        ),
        (
            "raw fragment",
            json!({"files": ["https://example.com/a#b"]}).to_string(),
            1016,
        ),
        (
            "purge_everything false",
            json!({"purge_everything": false}).to_string(),
            1012,
        ),
        (
            "purge_everything as string",
            json!({"purge_everything": "true"}).to_string(),
            1012,
        ),
        (
            "files not an array",
            json!({"files": "nope"}).to_string(),
            1014,
        ),
        ("files empty", json!({"files": []}).to_string(), 1014),
        ("file is a number", json!({"files": [7]}).to_string(), 1014),
        (
            "mixed strings and objects",
            json!({"files": ["https://example.com/a", {"url": "https://example.com/b"}]})
                .to_string(),
            1014,
        ),
        (
            "object without url",
            json!({"files": [{"headers": {}}]}).to_string(),
            1014,
        ),
        (
            "null headers",
            json!({"files": [{"url": "https://example.com/a", "headers": null}]}).to_string(),
            1014,
        ),
        (
            "non-string header value",
            json!({"files": [{"url": "https://example.com/a", "headers": {"Origin": null}}]})
                .to_string(),
            1014,
        ),
        (
            "tags not strings",
            json!({"tags": [1, 2]}).to_string(),
            1014,
        ),
        (
            "hosts with scheme",
            json!({"hosts": ["https://example.com"]}).to_string(),
            1014,
        ),
        (
            "prefixes not an array",
            json!({"prefixes": "a"}).to_string(),
            1014,
        ),
        (
            "unknown field",
            json!({"files": ["https://example.com/"], "force": true}).to_string(),
            1012,
        ),
        (
            "not an object",
            json!(["https://example.com/"]).to_string(),
            1012,
        ),
        ("malformed JSON", "{\"files\": [".to_string(), 6007),
    ];
    let cf = FakeCloudflare::start();
    for (i, (what, body, code)) in cases.iter().enumerate() {
        let answer = purge(&cf, body).expect("an answer");
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        assert_eq!(answer.code(), *code, "{what}: {}", answer.body);
        let json = answer.json();
        assert_eq!(json["success"], json!(false), "{what}");
        assert_eq!(json["result"], Value::Null, "{what}");
        let violations = cf.violations();
        assert!(
            violations
                .iter()
                .any(|v| v.starts_with(&format!("request #{i} "))),
            "{what}: no violation recorded: {violations:#?}"
        );
        assert!(
            !violations.iter().any(|v| v.starts_with("response")),
            "{what}: the fake's own answer broke the schema: {violations:#?}"
        );
    }
    assert!(cf.purged_files().is_empty());
    assert_eq!(cf.purged_everything(), 0);
}

#[test]
fn wrong_content_type_is_a_violation() {
    let cf = FakeCloudflare::start();
    let auth = bearer();
    let answer = send(
        cf.addr(),
        "POST",
        &purge_path(ZONE_ID),
        &[("authorization", &auth), ("content-type", "text/plain")],
        Some(r#"{"files":["https://example.com/"]}"#),
    )
    .expect("an answer");
    assert_eq!((answer.status, answer.code()), (400, 6003));
    assert_eq!(
        answer.json()["errors"][0]["error_chain"][0]["code"],
        json!(6105)
    );
    assert_eq!(cf.violations().len(), 1);
    // A charset parameter is fine.
    let answer = send(
        cf.addr(),
        "POST",
        &purge_path(ZONE_ID),
        &[
            ("authorization", &auth),
            ("content-type", "application/json; charset=utf-8"),
        ],
        Some(r#"{"files":["https://example.com/"]}"#),
    )
    .expect("an answer");
    assert_eq!(answer.status, 200);
}

#[test]
fn url_rules() {
    for good in [
        "https://example.com/",
        "http://example.com",
        "HTTPS://Example.com/A%20B?q=%C3%A9",
        "https://example.com:8443/a|b^c'd",
        "https://example.com/search?q={x}",
    ] {
        assert_eq!(url_problem(good), None, "{good}");
    }
    for bad in [
        "example.com/",
        "https:///path",
        "https://example.com/a\tb",
        "https://example.com/%e2%82%ac",
        "https://example.com/%E2%82%A",
        "https://example.com/{x}",
        "https://example.com/a\"b",
        "https://example.com/ü",
    ] {
        assert!(url_problem(bad).is_some(), "{bad}");
    }
}

// ------------------------------------------------------------------------------------------
// Authentication
// ------------------------------------------------------------------------------------------

#[test]
fn auth_errors_use_cloudflare_codes() {
    let cf = FakeCloudflare::start();
    let body = r#"{"files":["https://example.com/"]}"#;
    let json_ct = ("content-type", "application/json");
    let path = purge_path(ZONE_ID);
    let post = |headers: &[(&str, &str)]| {
        let mut all = vec![json_ct];
        all.extend_from_slice(headers);
        send(cf.addr(), "POST", &path, &all, Some(body)).expect("an answer")
    };

    let wrong = "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let answer = post(&[("authorization", wrong)]);
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.json(),
        json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": [], "result": null})
    );

    let answer = post(&[]);
    assert_eq!((answer.status, answer.code()), (400, 9106));
    assert!(answer.body.contains("Authorization headers"));

    // A 40-character API token sent as a global API key.
    let answer = post(&[("x-auth-email", EMAIL), ("x-auth-key", TOKEN)]);
    assert_eq!((answer.status, answer.code()), (400, 6003));
    let json = answer.json();
    assert_eq!(
        json["errors"][0]["message"],
        json!("Invalid request headers")
    );
    assert_eq!(
        json["errors"][0]["error_chain"],
        json!([{"code": 6103, "message": "Invalid format for X-Auth-Key header"}])
    );

    let answer = post(&[("x-auth-email", "not-an-email"), ("x-auth-key", API_KEY)]);
    assert_eq!(
        answer.json()["errors"][0]["error_chain"][0]["code"],
        json!(6102)
    );

    let answer = post(&[("authorization", "Token abc")]);
    assert_eq!(
        answer.json()["errors"][0]["error_chain"][0]["code"],
        json!(6111)
    );

    let other_key = "0123456789abcdef0123456789abcdef01234";
    let answer = post(&[("x-auth-email", EMAIL), ("x-auth-key", other_key)]);
    assert_eq!((answer.status, answer.code()), (403, 9103));

    let answer = post(&[("x-auth-email", EMAIL)]);
    assert_eq!((answer.status, answer.code()), (400, 9106));

    // Email + key is accepted.
    let answer = post(&[("x-auth-email", EMAIL), ("x-auth-key", API_KEY)]);
    assert_eq!(answer.status, 200, "{}", answer.body);

    // Unknown zone.
    let auth = bearer();
    let zone = "ffffffffffffffffffffffffffffffff";
    let answer = send(
        cf.addr(),
        "POST",
        &purge_path(zone),
        &[json_ct, ("authorization", &auth)],
        Some(body),
    )
    .expect("an answer");
    assert_eq!((answer.status, answer.code()), (400, 7003));
    assert_eq!(
        answer.json()["errors"][0]["message"],
        json!(format!(
            "Could not route to /zones/{zone}/purge_cache, perhaps your object identifier is invalid?"
        ))
    );

    // None of these are client-side rule breaks, and every answer fits the failure schema.
    assert_clean(&cf);
    assert_eq!(cf.purged_files().len(), 1);
    let statuses: Vec<Option<u16>> = cf.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [403, 400, 400, 400, 400, 403, 400, 200, 400]
            .map(Some)
            .to_vec()
    );
}

#[test]
fn token_only_and_key_only_configs() {
    let cf = FakeCloudflare::with_config(Config {
        email_key: None,
        ..Config::default()
    });
    let answer = send(
        cf.addr(),
        "GET",
        "/client/v4/zones?name=example.com",
        &[("x-auth-email", EMAIL), ("x-auth-key", API_KEY)],
        None,
    )
    .expect("an answer");
    assert_eq!((answer.status, answer.code()), (403, 9103));

    let cf = FakeCloudflare::with_config(Config {
        token: None,
        ..Config::default()
    });
    let auth = bearer();
    let answer = send(
        cf.addr(),
        "GET",
        "/client/v4/zones?name=example.com",
        &[("authorization", &auth)],
        None,
    )
    .expect("an answer");
    assert_eq!((answer.status, answer.code()), (403, 10000));
}

#[test]
fn sending_both_schemes_or_a_header_twice_is_a_violation() {
    let cf = FakeCloudflare::start();
    let auth = bearer();
    let answer = send(
        cf.addr(),
        "GET",
        "/client/v4/zones?name=example.com",
        &[
            ("authorization", &auth),
            ("x-auth-email", EMAIL),
            ("x-auth-key", API_KEY),
        ],
        None,
    )
    .expect("an answer");
    assert_eq!(answer.status, 200);
    assert_eq!(cf.violations().len(), 1, "{:?}", cf.violations());
    send(
        cf.addr(),
        "GET",
        "/client/v4/zones?name=example.com",
        &[("authorization", &auth), ("authorization", &auth)],
        None,
    )
    .expect("an answer");
    assert!(
        cf.violations()[1].contains("sent 2 times"),
        "{:?}",
        cf.violations()
    );
}

#[test]
fn token_verify() {
    let cf = FakeCloudflare::start();
    let verify = |auth: Option<&str>| {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        send(
            cf.addr(),
            "GET",
            "/client/v4/user/tokens/verify",
            &headers,
            None,
        )
        .expect("an answer")
    };
    let good = bearer();
    let answer = verify(Some(&good));
    assert_eq!(answer.status, 200);
    let json = answer.json();
    assert_eq!(json["success"], json!(true));
    assert_eq!(json["result"], json!({"id": TOKEN_ID, "status": "active"}));

    let answer = verify(Some("Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json()["errors"],
        json!([{"code": 1000, "message": "Invalid API Token"}])
    );
    assert_clean(&cf);

    cf.set_token_status(TokenStatus::Disabled);
    assert_eq!(
        verify(Some(&good)).json()["result"]["status"],
        json!("disabled")
    );
    cf.set_token_status(TokenStatus::Expired);
    let expired = verify(Some(&good)).json();
    assert_eq!(expired["result"]["status"], json!("expired"));
    assert!(expired["result"]["expires_on"].is_string());
    // An expired token cannot purge.
    assert_eq!(
        purge(&cf, r#"{"files":["https://example.com/"]}"#)
            .expect("an answer")
            .code(),
        10000
    );
    assert_clean(&cf);

    // Verify is a token-only operation.
    let answer = verify(None);
    assert_eq!((answer.status, answer.code()), (400, 9106));
    assert_eq!(cf.violations().len(), 1);
}

// ------------------------------------------------------------------------------------------
// Zone lookup
// ------------------------------------------------------------------------------------------

#[test]
fn zone_lookup() {
    let cf = FakeCloudflare::with_config(Config {
        zones: vec![
            Zone::new(ZONE_ID, ZONE_NAME),
            Zone::new("5f3c8a4e2b1d4c6e8f0a1b2c3d4e5f60", "example.org").with_status("pending"),
            Zone::new("6f3c8a4e2b1d4c6e8f0a1b2c3d4e5f61", "blog.example.net"),
        ],
        ..Config::default()
    });
    let auth = bearer();
    let get = |query: &str| {
        send(
            cf.addr(),
            "GET",
            &format!("/client/v4/zones{query}"),
            &[("authorization", &auth)],
            None,
        )
        .expect("an answer")
    };

    let answer = get("?name=example.com&status=active&per_page=50");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let json = answer.json();
    assert_eq!(json["success"], json!(true));
    let result = json["result"].as_array().expect("result array");
    assert_eq!(result.len(), 1);
    assert_eq!(result[0]["id"], json!(ZONE_ID));
    assert_eq!(result[0]["name"], json!(ZONE_NAME));
    assert_eq!(result[0]["status"], json!("active"));
    assert_eq!(json["result_info"]["count"], json!(1));
    assert_eq!(json["result_info"]["total_count"], json!(1));
    assert_eq!(json["result_info"]["per_page"], json!(50));

    let answer = get("?name=example.org&status=active");
    assert_eq!(answer.json()["result"], json!([]));
    assert_eq!(answer.json()["result_info"]["total_count"], json!(0));

    assert_eq!(
        get("?name=ends_with:.net").json()["result"][0]["name"],
        json!("blog.example.net")
    );
    let all = get("?order=name&direction=desc&per_page=5").json();
    let names: Vec<&str> = all["result"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|z| z["name"].as_str())
        .collect();
    assert_eq!(names, ["example.org", "example.com", "blog.example.net"]);
    assert_clean(&cf);

    // Out-of-range and ill-typed parameters break the published parameter schemas.
    for query in [
        "?name=example.com&per_page=100",
        "?page=zero",
        "?status=gone",
    ] {
        let answer = get(query);
        assert_eq!((answer.status, answer.code()), (400, 1001), "{query}");
    }
    assert_eq!(cf.violations().len(), 3, "{:?}", cf.violations());

    let answer = send(
        cf.addr(),
        "GET",
        "/client/v4/zones?name=example.com",
        &[],
        None,
    )
    .expect("an answer");
    assert_eq!((answer.status, answer.code()), (400, 9106));
}

#[test]
fn unknown_routes_and_methods_are_violations() {
    let cf = FakeCloudflare::start();
    let auth = bearer();
    let answer = send(
        cf.addr(),
        "DELETE",
        &purge_path(ZONE_ID),
        &[("authorization", &auth)],
        None,
    )
    .expect("an answer");
    assert_eq!(answer.status, 405);
    let answer = send(
        cf.addr(),
        "GET",
        "/client/v4/accounts",
        &[("authorization", &auth)],
        None,
    )
    .expect("an answer");
    assert_eq!((answer.status, answer.code()), (400, 7003));
    assert_eq!(cf.violations().len(), 2, "{:?}", cf.violations());
}

// ------------------------------------------------------------------------------------------
// Scripted faults
// ------------------------------------------------------------------------------------------

#[test]
fn scripted_faults_play_in_order_then_success() {
    let cf = FakeCloudflare::start();
    cf.script([
        Behaviour::rate_limited("1"),
        Behaviour::status(500),
        Behaviour::SuccessFalse,
        Behaviour::Drop,
        Behaviour::Status {
            code: 503,
            retry_after: Some("0".into()),
            body: error_envelope(10001, "Service Unavailable"),
        },
        Behaviour::status(408),
        Behaviour::Raw {
            code: 502,
            content_type: "text/html".into(),
            body: "<html>502 Bad Gateway</html>".into(),
        },
    ]);
    assert_eq!(cf.pending_script(), 7);
    let body = r#"{"files":["https://example.com/"]}"#;

    let a = purge(&cf, body).expect("429 answer");
    assert_eq!((a.status, a.header("retry-after")), (429, Some("1")));
    assert_eq!(a.code(), 971);
    let a = purge(&cf, body).expect("500 answer");
    assert_eq!((a.status, a.header("retry-after")), (500, None));
    let a = purge(&cf, body).expect("success:false answer");
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["success"], json!(false));
    assert!(purge(&cf, body).is_none(), "Drop must answer nothing");
    let a = purge(&cf, body).expect("503 answer");
    assert_eq!((a.status, a.header("retry-after")), (503, Some("0")));
    assert_eq!(purge(&cf, body).expect("408 answer").status, 408);
    let a = purge(&cf, body).expect("502 answer");
    assert_eq!(
        (a.status, a.body.as_str()),
        (502, "<html>502 Bad Gateway</html>")
    );
    assert_eq!(cf.pending_script(), 0);
    assert!(
        cf.purged_files().is_empty(),
        "no scripted fault purges anything"
    );

    let a = purge(&cf, body).expect("normal answer");
    assert_eq!(a.status, 200);
    assert!(cf.purged_files().contains("https://example.com/"));

    let statuses: Vec<Option<u16>> = cf.purge_requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![
            Some(429),
            Some(500),
            Some(200),
            None,
            Some(503),
            Some(408),
            Some(502),
            Some(200)
        ]
    );
    // Rate-limit code 971 is below the schema's minimum 1000 but is what Cloudflare sends.
    assert_clean(&cf);
}

#[test]
fn scripted_faults_still_report_bad_bodies() {
    let cf = FakeCloudflare::start();
    cf.push(Behaviour::Drop);
    assert!(purge(&cf, r#"{"files":["/relative"]}"#).is_none());
    assert_eq!(cf.violations().len(), 1, "{:?}", cf.violations());
}

#[test]
fn a_bad_scripted_body_is_reported_as_a_response_violation() {
    let cf = FakeCloudflare::start();
    cf.push(Behaviour::Status {
        code: 500,
        retry_after: None,
        body: json!({"success": false, "errors": [], "messages": []}),
    });
    assert_eq!(
        purge(&cf, r#"{"purge_everything":true}"#)
            .expect("answer")
            .status,
        500
    );
    let violations = cf.violations();
    assert!(!violations.is_empty());
    assert!(
        violations.iter().all(|v| v.starts_with("response 500")),
        "{violations:?}"
    );
}

#[test]
fn fail_all_and_restore() {
    let cf = FakeCloudflare::start();
    let body = r#"{"files":["https://example.com/"]}"#;
    cf.fail_all(Some(503));
    for _ in 0..3 {
        assert_eq!(purge(&cf, body).expect("answer").status, 503);
    }
    cf.push(Behaviour::rate_limited("2"));
    assert_eq!(
        purge(&cf, body).expect("answer").status,
        429,
        "queue goes first"
    );
    assert_eq!(purge(&cf, body).expect("answer").status, 503);
    cf.fail_all(None);
    assert_eq!(purge(&cf, body).expect("answer").status, 200);
    assert_eq!(cf.purged_files().len(), 1);
    assert_clean(&cf);
}

#[test]
fn delay_then_success() {
    let cf = FakeCloudflare::start();
    cf.push(Behaviour::Delay(Duration::from_millis(200)));
    let started = Instant::now();
    let answer = purge(&cf, r#"{"files":["https://example.com/"]}"#).expect("answer");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(answer.status, 200);
    assert_eq!(cf.purged_files().len(), 1);
}

#[test]
fn chunked_body_after_expect_continue_is_read() {
    let cf = FakeCloudflare::start();
    let mut stream = TcpStream::connect(cf.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
        purge_path(ZONE_ID)
    );
    stream.write_all(head.as_bytes()).expect("write head");
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).expect("100 Continue");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    let body = r#"{"files":["https://example.com/chunked"]}"#;
    let (a, b) = body.split_at(10);
    let chunked = format!(
        "{:x}\r\n{a}\r\n{:X};ext=1\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    stream.write_all(chunked.as_bytes()).expect("write body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(cf.purged_files().contains("https://example.com/chunked"));
    assert_clean(&cf);
}

#[test]
fn server_stops_when_dropped() {
    let cf = FakeCloudflare::start();
    let addr = cf.addr();
    assert!(TcpStream::connect(addr).is_ok());
    drop(cf);
    assert!(TcpStream::connect(addr).is_err());
}

// ------------------------------------------------------------------------------------------
// A pooled reqwest client (what sitepurge uses)
// ------------------------------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
}

fn reqwest_client() -> reqwest::Client {
    // reqwest is built with `rustls-no-provider`: install one, even though only plain
    // http is used here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("reqwest client")
}

#[test]
fn pooled_reqwest_client_reuses_connections_and_survives_drops() {
    let cf = FakeCloudflare::start();
    let client = reqwest_client();
    let url = format!("{}/zones/{ZONE_ID}/purge_cache", cf.base_url());
    runtime().block_on(async {
        let post = |n: usize| {
            client
                .post(&url)
                .bearer_auth(TOKEN)
                .json(&json!({"files": [format!("https://example.com/{n}.html")]}))
                .send()
        };
        for n in 0..5 {
            let response = post(n).await.expect("purge");
            assert_eq!(response.status(), 200);
            let json: Value = response.json().await.expect("json");
            assert_eq!(json["result"]["id"], json!(ZONE_ID));
        }
        assert_eq!(
            cf.connections(),
            1,
            "keep-alive: one connection for five requests"
        );

        cf.push(Behaviour::Drop);
        assert!(post(5).await.is_err(), "a dropped connection is an error");
        let response = post(6).await.expect("purge after drop");
        assert_eq!(response.status(), 200);

        let zones = client
            .get(format!(
                "{}/zones?name={ZONE_NAME}&status=active",
                cf.base_url()
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("zones");
        let json: Value = zones.json().await.expect("json");
        assert_eq!(json["result"][0]["id"], json!(ZONE_ID));
        let verify = client
            .get(format!("{}/user/tokens/verify", cf.base_url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("verify");
        assert_eq!(verify.status(), 200);
    });
    assert_clean(&cf);
    assert_eq!(cf.purged_files().len(), 6);
    let purges = cf.purge_requests();
    assert_eq!(purges.len(), 7);
    assert!(
        purges
            .iter()
            .all(|r| r.header_values("authorization") == [bearer().as_str()])
    );
}

#[test]
fn max_in_flight_counts_concurrent_purges() {
    let cf = FakeCloudflare::start();
    // Long enough that the four are in flight together even on a loaded machine.
    cf.set_latency(Duration::from_secs(1));
    let client = reqwest_client();
    let url = format!("{}/zones/{ZONE_ID}/purge_cache", cf.base_url());
    runtime().block_on(async {
        let sends = (0..4).map(|n| {
            client
                .post(&url)
                .bearer_auth(TOKEN)
                .json(&json!({"files": [format!("https://example.com/{n}")]}))
                .send()
        });
        for response in futures_join(sends).await {
            assert_eq!(response.expect("purge").status(), 200);
        }
    });
    assert_eq!(cf.max_in_flight(), 4);
    assert_eq!(cf.purged_files().len(), 4);
    assert_clean(&cf);
}

/// Runs futures concurrently on the current task (avoids a `futures` dev-dependency).
async fn futures_join<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}
