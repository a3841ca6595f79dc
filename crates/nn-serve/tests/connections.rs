//! Connections the server must not keep forever, and heads over its limits, on 127.0.0.1: a
//! client that never reads its answers is disconnected after the write timeout, and cannot
//! hold the server past the shutdown grace; a request too long for the router is answered in
//! JSON like any other error.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use nn_serve::Config;

mod common;
use common::{TestServer, address, never_reading_client, raw, two_models, wait_closed};

/// Requests a never-reading client pipelines: their answers (9 kB each) are far more than the
/// sockets' buffers hold.
const PIPELINED: usize = 3_000;

#[test]
fn a_client_that_never_reads_is_disconnected_after_the_write_timeout() {
    let write_timeout = Duration::from_secs(1);
    // A long request timeout: only the write timeout can close the connection.
    let config = Config { write_timeout, request_timeout: Duration::from_secs(60), ..Config::default() };
    let server = TestServer::start(two_models(), config);
    let client = never_reading_client(&address(&server.url), PIPELINED);
    let waited = wait_closed(&client, Duration::from_secs(15));
    eprintln!("write timeout {write_timeout:?}: disconnected after {waited:?}");
    let waited = waited.expect("a client that never reads is disconnected");
    assert!(waited < write_timeout + Duration::from_secs(3), "disconnected after {waited:?}");
    // The server still answers others.
    assert_eq!(common::get(&format!("{}/healthz", server.url)).status, 200);
}

#[test]
fn a_client_that_never_reads_cannot_hold_the_server_past_the_shutdown_grace() {
    let grace = Duration::from_secs(1);
    let config = Config {
        shutdown_grace: grace,
        write_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(60),
        ..Config::default()
    };
    let server = TestServer::start(two_models(), config);
    let client = never_reading_client(&address(&server.url), PIPELINED);
    std::thread::sleep(Duration::from_millis(300));
    let (stopped, returned) = mpsc::channel();
    let stopping = Instant::now();
    // On a thread: a server that never returns fails the test instead of hanging it.
    std::thread::spawn(move || {
        let result = server.stop();
        let _ = stopped.send((result.is_ok(), stopping.elapsed()));
    });
    let (ok, waited) = returned.recv_timeout(Duration::from_secs(20)).expect("serve returns after the grace");
    eprintln!("shutdown grace {grace:?}: serve returned after {waited:?}");
    assert!(ok);
    assert!(waited >= grace.mul_f32(0.9), "the busy connection got its grace: {waited:?}");
    assert!(waited < grace + Duration::from_secs(2), "serve returned after {waited:?}");
    assert!(wait_closed(&client, Duration::from_secs(2)).is_some(), "the connection was dropped");
}

/// The router's limits answer in JSON before hyper's larger ones would answer without a body.
#[test]
fn heads_over_the_limits_get_json_errors() {
    let server = TestServer::start(two_models(), Config::default());
    let address = address(&server.url);
    let json_error = |request: String, status: u16, reason: &str| {
        let (got, head, body) = raw(&address, request.as_bytes());
        assert_eq!(got, status, "{head}\n{body}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        let message = error["error"].as_str().unwrap_or_else(|| panic!("{body}"));
        assert!(message.contains(reason), "{message}");
    };
    let long_target = format!("/healthz?q={}", "a".repeat(10_000));
    json_error(
        format!("GET {long_target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        414,
        "request target is over the limit of 8192 bytes",
    );
    let many: String = (0..150).map(|i| format!("X-Header-{i}: {i}\r\n")).collect();
    json_error(
        format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\n{many}Connection: close\r\n\r\n"),
        431,
        "over the limit of 100",
    );
    let large = "b".repeat(40_000);
    json_error(
        format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Large: {large}\r\nConnection: close\r\n\r\n"),
        431,
        "headers are over the limit of 32768 bytes",
    );
    // Just under the limits, the request is answered.
    let fits = format!("/healthz?q={}", "a".repeat(8_000));
    let (status, _, _) =
        raw(&address, format!("GET {fits} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(status, 200);
    // What remains hyper's, refused before any route and without a body: a malformed request
    // line, a target over 65,534 bytes, more than 200 headers.
    let (status, _, body) = raw(&address, b"GET /healthz HTTP/9\r\n\r\n");
    assert_eq!((status, body.as_str()), (400, ""));
    let huge_target = format!("GET /healthz?q={} HTTP/1.1\r\nHost: localhost\r\n\r\n", "a".repeat(70_000));
    let (status, _, body) = raw(&address, huge_target.as_bytes());
    assert_eq!((status, body.as_str()), (414, ""));
    let too_many: String = (0..250).map(|i| format!("X-Header-{i}: {i}\r\n")).collect();
    let (status, _, body) = raw(&address, format!("GET /healthz HTTP/1.1\r\n{too_many}\r\n").as_bytes());
    assert_eq!((status, body.as_str()), (431, ""));
}
