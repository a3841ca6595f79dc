//! What a server on 127.0.0.1 answers whom: requests naming another host are refused (DNS
//! rebinding), and the page may not be framed.

use nn_serve::Config;

mod common;
use common::{TestServer, address, raw, two_models};

fn get_with_host(address: &str, host: Option<&str>, target: &str) -> (u16, String) {
    let host = host.map(|host| format!("Host: {host}\r\n")).unwrap_or_default();
    let (status, _, body) =
        raw(address, format!("GET {target} HTTP/1.1\r\n{host}Connection: close\r\n\r\n").as_bytes());
    (status, body)
}

#[test]
fn a_loopback_server_refuses_requests_for_other_hosts() {
    let server = TestServer::start(two_models(), Config::default());
    let address = address(&server.url);
    let port = address.rsplit(':').next().unwrap();
    for host in [
        address.clone(),
        format!("localhost:{port}"),
        "localhost".to_string(),
        "LOCALHOST:8080".to_string(),
        "digits.localhost:1".to_string(),
        "127.0.0.1".to_string(),
        format!("[::1]:{port}"),
    ] {
        let (status, body) = get_with_host(&address, Some(&host), "/healthz");
        assert_eq!(status, 200, "{host}: {body}");
    }
    for host in [
        "evil.example",
        "evil.example:8080",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "192.168.1.2:8080",
        "localhost:8080:1",
        "",
    ] {
        for target in ["/healthz", "/", "/api/models", "/metrics", "/nothing"] {
            let (status, body) = get_with_host(&address, Some(host), target);
            assert_eq!(status, 403, "{host} {target}: {body}");
            let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
            let message = error["error"].as_str().unwrap();
            assert!(message.starts_with("this server answers only requests for localhost"), "{message}");
        }
    }
    // A prediction is refused before any work.
    let request = "POST /api/predict HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\n\
                   Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    assert_eq!(raw(&address, request.as_bytes()).0, 403);
    // A request in absolute form names its host in the target.
    let request = "GET http://evil.example/healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(&address, request.as_bytes()).0, 403);
    // Two Host headers: both must be loopback.
    let request = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(&address, request.as_bytes()).0, 403);
    // HTTP/1.0 without Host is no browser's request.
    assert_eq!(raw(&address, b"GET /healthz HTTP/1.0\r\n\r\n").0, 200);
    // The refusals are counted like any answer.
    let (_, metrics) = get_with_host(&address, Some("localhost"), "/metrics");
    assert!(metrics.contains("http_requests_total{route=\"/healthz\",method=\"GET\",status=\"403\"}"), "{metrics}");
}

#[test]
fn the_page_may_not_be_framed_and_loads_nothing_from_elsewhere() {
    let server = TestServer::start(two_models(), Config::default());
    for path in ["/", "/app.js", "/engine.js", "/style.css", "/nn.wasm"] {
        let response = common::agent().get(&format!("{}{path}", server.url)).call().unwrap();
        assert_eq!(response.status(), 200);
        let policy = response.headers().get("content-security-policy").unwrap().to_str().unwrap();
        assert_eq!(
            policy,
            // `'wasm-unsafe-eval'`: the page's scripts may compile its WebAssembly module, and
            // nothing else is allowed beyond the page's own files.
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data: blob:; object-src \
             'none'; base-uri 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(response.headers().get("x-content-type-options").unwrap(), "nosniff");
    }
}
