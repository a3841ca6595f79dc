//! Connections the server must not keep forever, on 127.0.0.1: a client that never reads its
//! answers is disconnected after the write timeout, and cannot hold the server past the
//! shutdown grace.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use nn_serve::Config;

mod common;
use common::{TestServer, address, never_reading_client, two_models, wait_closed};

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
