//! Every route of a server on 127.0.0.1, and every error status it answers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use image::{GrayImage, ImageFormat};
use nn_serve::{Config, NamedModel, Prediction, ServeError, Server};

mod common;
use common::{TestServer, encode, get, photo, pixels_json, post, trained_network, two_models};

fn server() -> TestServer {
    TestServer::start(two_models(), Config::default())
}

fn prediction(answer: &common::Answer) -> Prediction {
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    serde_json::from_str(&answer.body).unwrap()
}

#[test]
fn an_image_gets_the_answer_of_the_library_path_bit_for_bit() {
    let server = server();
    let network = trained_network(7);
    let url = format!("{}/api/predict", server.url);
    for (index, (format, content_type)) in
        [(ImageFormat::Png, Some("image/png")), (ImageFormat::Jpeg, None), (ImageFormat::Bmp, Some("image/bmp"))]
            .into_iter()
            .enumerate()
    {
        let bytes = encode(&photo(index), format);
        let answer = prediction(&post(&url, content_type, &bytes));
        // What `nn-cli predict` does with a file of these bytes.
        let prepared = mnist_data::image_file::prepare_bytes(&bytes).unwrap();
        let expected = network.predict(&prepared.input()).unwrap();
        assert_eq!(answer.probabilities, expected, "{format:?}");
        assert_eq!(answer.prepared, prepared.input());
        assert_eq!(answer.inverted, Some(true), "dark ink on light paper");
        assert_eq!(answer.model, "small");
        assert_eq!(usize::from(answer.digit), network.classify(&prepared.input()).unwrap());
        assert_eq!(answer.confidence, expected[usize::from(answer.digit)]);
        assert!(answer.elapsed_ms >= 0.0);
    }
}

#[test]
fn json_pixels_are_the_network_input() {
    let server = server();
    let digit = common::mnist().test.iter().next().unwrap();
    let pixels: Vec<f32> = digit.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    let answer = prediction(&post(
        &format!("{}/api/predict?model=other", server.url),
        Some("application/json"),
        pixels_json(&pixels).as_bytes(),
    ));
    assert_eq!(answer.model, "other");
    assert_eq!(answer.probabilities, trained_network(8).predict(&pixels).unwrap());
    assert_eq!(answer.prepared, pixels);
    assert_eq!(answer.inverted, None);
    // Without a type, JSON is told by its first character.
    let sniffed = prediction(&post(&format!("{}/api/predict", server.url), None, pixels_json(&pixels).as_bytes()));
    assert_eq!(sniffed.model, "small");
    assert_eq!(sniffed.probabilities.len(), 10);
}

#[test]
fn the_models_health_page_and_metrics_are_served() {
    let server = server();
    let models = get(&format!("{}/api/models", server.url)).json();
    let names: Vec<&str> = models.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["small", "other"]);
    assert_eq!(models[0]["parameters"], 784 * 32 + 32 + 32 * 10 + 10);
    assert!(models[0]["architecture"].as_str().unwrap().contains("dense(32)"), "{models}");
    assert!(models[0]["test_accuracy"].is_null());

    let health = get(&format!("{}/healthz", server.url));
    assert_eq!((health.status, health.json()["status"].as_str()), (200, Some("ok")));

    let page = get(&server.url);
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.body.contains("<canvas id=\"pad\""));
    for (path, kind) in [("/app.js", "text/javascript"), ("/style.css", "text/css")] {
        let asset = get(&format!("{}{path}", server.url));
        assert_eq!(asset.status, 200);
        assert!(asset.content_type.starts_with(kind), "{path}: {}", asset.content_type);
    }

    let digit = prediction(&post(
        &format!("{}/api/predict", server.url),
        Some("image/png"),
        &encode(&photo(0), ImageFormat::Png),
    ))
    .digit;
    post(&format!("{}/api/predict?model=nope", server.url), Some("image/png"), b"");
    let metrics = get(&format!("{}/metrics", server.url));
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type.starts_with("application/openmetrics-text"));
    for expected in [
        "http_requests_total{route=\"/api/predict\",method=\"POST\",status=\"200\"} 1".to_string(),
        "http_requests_total{route=\"/api/predict\",method=\"POST\",status=\"404\"} 1".to_string(),
        "http_requests_total{route=\"/api/models\",method=\"GET\",status=\"200\"} 1".to_string(),
        "http_request_duration_seconds_bucket{le=\"0.00005\",route=\"/api/predict\"}".to_string(),
        format!("predictions_total{{model=\"small\",digit=\"{digit}\"}} 1"),
    ] {
        assert!(metrics.body.contains(&expected), "no {expected} in\n{}", metrics.body);
    }
}

#[test]
fn bad_images_are_400_with_a_reason() {
    let server = server();
    let url = format!("{}/api/predict", server.url);
    let png = encode(&photo(1), ImageFormat::Png);
    let cases: [(&str, Option<&str>, Vec<u8>, &str); 5] = [
        ("not an image", None, b"hello, world".to_vec(), "not a readable image"),
        ("truncated", Some("image/png"), png[..png.len() / 2].to_vec(), "not a readable image"),
        ("empty", Some("image/png"), Vec::new(), "not a readable image"),
        (
            "no ink",
            Some("image/png"),
            encode(&GrayImage::from_pixel(40, 40, image::Luma([200])), ImageFormat::Png),
            "ink",
        ),
        ("a JSON body sent as PNG", Some("image/png"), b"{\"pixels\": []}".to_vec(), "not a readable image"),
    ];
    for (case, content_type, body, reason) in cases {
        let answer = post(&url, content_type, &body);
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        assert!(answer.error().contains(reason), "{case}: {}", answer.body);
    }
}

#[test]
fn bad_pixels_are_400_with_a_reason() {
    let server = server();
    let url = format!("{}/api/predict", server.url);
    let cases = [
        ("too few", pixels_json(&[0.5; 783]), "got 783"),
        ("too many", pixels_json(&[0.5; 785]), "got 785"),
        ("NaN", format!("{{\"pixels\": [NaN{}]}}", ",0".repeat(783)), "expected JSON"),
        ("null", format!("{{\"pixels\": [null{}]}}", ",0".repeat(783)), "expected JSON"),
        ("out of range", pixels_json(&[2.0; 784]), "pixel 0 is 2"),
        ("negative", format!("{{\"pixels\": [-0.1{}]}}", ",0".repeat(783)), "pixel 0 is -0.1"),
        ("too large for a float", format!("{{\"pixels\": [1e999{}]}}", ",0".repeat(783)), "expected JSON"),
        ("not JSON", "{pixels".to_string(), "expected JSON"),
        ("another field", "{\"pixels\": [], \"x\": 1}".to_string(), "expected JSON"),
    ];
    for (case, body, reason) in cases {
        let answer = post(&url, Some("application/json"), body.as_bytes());
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        assert!(answer.error().contains(reason), "{case}: {}", answer.body);
    }
}

#[test]
fn unknown_models_and_routes_are_404_and_other_methods_405() {
    let server = server();
    let png = encode(&photo(2), ImageFormat::Png);
    let answer = post(&format!("{}/api/predict?model=missing", server.url), Some("image/png"), &png);
    assert_eq!(answer.status, 404);
    assert_eq!(answer.error(), "no model named \"missing\"; this server has small, other");
    let answer = get(&format!("{}/api/nothing", server.url));
    assert_eq!((answer.status, answer.error()), (404, "no route for GET /api/nothing".to_string()));
    let answer = get(&format!("{}/api/predict", server.url));
    assert_eq!(answer.status, 405);
    assert!(answer.error().contains("does not take GET"));
}

#[test]
fn bodies_and_images_over_the_limits_are_413() {
    let config = Config { body_limit: 20_000, max_image_pixels: 200 * 200, ..Config::default() };
    let server = TestServer::start(two_models(), config);
    let url = format!("{}/api/predict", server.url);
    // Within the drain margin the body is read to its end, so the client sees the answer.
    let answer = post(&url, Some("image/png"), &vec![7u8; 30_000]);
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(answer.error(), "the body is over the limit of 20000 bytes");
    // A small PNG that claims many pixels is refused from its header.
    let large = encode(&GrayImage::new(300, 300), ImageFormat::Png);
    assert!(large.len() < 20_000);
    let answer = post(&url, Some("image/png"), &large);
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(answer.error().contains("300x300"), "{}", answer.body);
}

#[test]
fn the_default_limit_is_one_megabyte() {
    let server = server();
    let url = format!("{}/api/predict", server.url);
    let answer = post(&url, Some("application/json"), &vec![b' '; 1_000_001]);
    assert_eq!(answer.status, 413, "{}", answer.body);
    let answer = post(&url, Some("application/json"), &vec![b' '; 1_000_000]);
    assert_eq!(answer.status, 400, "{}", answer.body);
}

#[test]
fn unsupported_types_are_415() {
    let server = server();
    let url = format!("{}/api/predict", server.url);
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
    for (content_type, body) in [
        (Some("text/plain"), b"7".as_slice()),
        (Some("image/gif"), gif.as_slice()),
        (Some("multipart/form-data; boundary=x"), b"--x--".as_slice()),
        (None, gif.as_slice()),
    ] {
        let answer = post(&url, content_type, body);
        assert_eq!(answer.status, 415, "{content_type:?}: {}", answer.body);
        assert!(answer.error().starts_with("unsupported"), "{}", answer.body);
    }
}

#[test]
fn a_saturated_server_answers_503() {
    let server = TestServer::start(two_models(), Config { max_pending: 0, ..Config::default() });
    let answer = post(&format!("{}/api/predict", server.url), Some("image/png"), &encode(&photo(0), ImageFormat::Png));
    assert_eq!(answer.status, 503);
    assert_eq!(answer.error(), "the server is busy: try again shortly");
    // The other routes still answer.
    assert_eq!(get(&format!("{}/healthz", server.url)).status, 200);
}

#[test]
fn the_server_stops_when_asked() {
    let server = server();
    let url = server.url.clone();
    assert_eq!(get(&format!("{url}/healthz")).status, 200);
    server.stop().unwrap();
    assert!(common::agent().get(&format!("{url}/healthz")).call().is_err(), "nothing listens any more");
}

/// Sends `request` on a new connection and reads until the server closes it (or 10 s pass):
/// what came back, whether the server closed the connection, and how long that took from the
/// moment of connecting (the server's request timer starts when it accepts the connection, so
/// a clock started after the write could read a little less than the timeout).
fn send_and_wait(address: &str, request: &[u8]) -> (String, bool, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let closed = stream.read_to_end(&mut answer).is_ok();
    (String::from_utf8_lossy(&answer).into_owned(), closed, started.elapsed())
}

/// A client that stalls in its headers is disconnected, and one that stalls in its body gets
/// 408, after the request timeout; neither keeps the server from stopping.
#[test]
fn stalled_clients_time_out() {
    let timeout = Duration::from_millis(500);
    let server = TestServer::start(two_models(), Config { request_timeout: timeout, ..Config::default() });
    let address = server.url.trim_start_matches("http://").to_string();

    let headers = b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n";
    let (answer, closed, waited) = send_and_wait(&address, headers);
    assert!(closed, "a connection stalled in its headers is closed (got {answer:?} after {waited:?})");
    assert!(waited >= timeout && waited < Duration::from_secs(5), "closed after {waited:?}");

    let body = b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n\x89PNG";
    let (answer, _, waited) = send_and_wait(&address, body);
    assert!(answer.starts_with("HTTP/1.1 408"), "a body that stops coming gets 408, got {answer:?}");
    assert!(waited >= timeout && waited < Duration::from_secs(5), "answered after {waited:?}");

    let mut stalled = TcpStream::connect(&address).unwrap();
    stalled.write_all(headers).unwrap();
    let stopping = Instant::now();
    server.stop().unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "a stalled client held the server for {:?}",
        stopping.elapsed()
    );
}

#[test]
fn servers_refuse_models_that_do_not_fit() {
    let names = |models: Vec<NamedModel>| Server::new(models, Config::default()).map(|_| ()).unwrap_err();
    assert!(matches!(names(Vec::new()), ServeError::NoModels));
    let twice = vec![
        NamedModel::new("a", trained_network(1), None).unwrap(),
        NamedModel::new("a", trained_network(2), None).unwrap(),
    ];
    assert!(matches!(names(twice), ServeError::DuplicateName(name) if name == "a"));
    let small = nn_core::Network::dense(
        &[100, 10],
        nn_core::Activation::Relu,
        nn_core::Loss::SoftmaxCrossEntropy,
        nn_core::Init::HE,
        1,
    )
    .unwrap();
    let error = NamedModel::new("tiny", small, None).unwrap_err();
    assert!(error.to_string().starts_with("model tiny cannot read digits"), "{error}");
    let mut regression = trained_network(1);
    regression.set_loss(nn_core::Loss::IdentityMeanSquared).unwrap();
    let error = NamedModel::new("regression", regression, None).unwrap_err();
    assert!(
        error.to_string().contains("its outputs are identity (identity_mean_squared), not the probabilities"),
        "{error}"
    );
    assert!(matches!(NamedModel::new("", trained_network(1), None), Err(ServeError::InvalidName(_))));
    let error = NamedModel::load("/nonexistent/model.json").unwrap_err();
    assert!(error.to_string().starts_with("cannot load model /nonexistent/model.json"), "{error}");
}

#[test]
fn a_committee_is_served_as_one_model_answering_the_mean_of_its_members() {
    let (a, b) = (trained_network(7), trained_network(8));
    let committee = nn_core::Committee::new(vec![a.clone(), b.clone()]).unwrap();
    let server = TestServer::start(vec![NamedModel::new("both", committee, None).unwrap()], Config::default());
    let models = get(&format!("{}/api/models", server.url)).json();
    assert_eq!(models[0]["members"], 2, "{models}");
    assert_eq!(models[0]["architecture"], "committee of 2 × dense(32) relu dense(10)", "{models}");
    assert_eq!(models[0]["parameters"], 2 * (784 * 32 + 32 + 32 * 10 + 10));

    let bytes = encode(&photo(1), ImageFormat::Png);
    let answer = prediction(&post(&format!("{}/api/predict", server.url), Some("image/png"), &bytes));
    let input = mnist_data::image_file::prepare_bytes(&bytes).unwrap().input();
    let (pa, pb) = (a.predict(&input).unwrap(), b.predict(&input).unwrap());
    let mean: Vec<f32> = pa.iter().zip(&pb).map(|(x, y)| (x + y) / 2.0).collect();
    assert_eq!(answer.probabilities, mean);
    assert_eq!(answer.model, "both");
    // One network's info has no member count.
    let single = TestServer::start(vec![NamedModel::new("one", a, None).unwrap()], Config::default());
    assert!(get(&format!("{}/api/models", single.url)).json()[0].get("members").is_none());
}
