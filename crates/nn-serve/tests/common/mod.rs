//! What the server's tests share: a small trained model, a server on an ephemeral port of
//! 127.0.0.1, an HTTP client that returns every status as an answer, and test images.
#![allow(dead_code)]

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::thread::JoinHandle;

use image::{GrayImage, ImageFormat, Luma};
use nn_core::Network;
use nn_serve::{Config, NamedModel, Server};
use test_support::fixtures;

pub fn mnist() -> &'static mnist_data::Mnist {
    static DATA: OnceLock<mnist_data::Mnist> = OnceLock::new();
    DATA.get_or_init(|| mnist_data::Mnist::load(fixtures().join("mnist-100")).unwrap())
}

/// The network of the server's tests: [`test_support::trained_network`] after 40 epochs.
pub fn trained_network(seed: u64) -> Network {
    test_support::trained_network(seed, 40)
}

/// Two models, `small` and `other`.
pub fn two_models() -> Vec<NamedModel> {
    vec![
        NamedModel::new("small", trained_network(7), None).unwrap(),
        NamedModel::new("other", trained_network(8), None).unwrap(),
    ]
}

/// A server running on its own runtime, stopped (gracefully) when dropped.
pub struct TestServer {
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), nn_serve::ServeError>>>,
}

impl TestServer {
    pub fn start(models: Vec<NamedModel>, config: Config) -> Self {
        TestServer::serve(Server::new(models, config).unwrap())
    }

    /// A server built by the test (one that offers a data set, say).
    pub fn serve(server: Server) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(server.serve(listener, async {
                let _ = stopped.await;
            }))
        });
        TestServer { url, shutdown: Some(shutdown), thread: Some(thread) }
    }

    /// Stops the server and waits for `serve` to return.
    pub fn stop(mut self) -> Result<(), nn_serve::ServeError> {
        self.shutdown.take().map(|s| s.send(()));
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into()
}

/// Status and body text of an answer.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `error` of a JSON error answer.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_else(|| panic!("no error in {}", self.body)).to_string()
    }
}

fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = response.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = response.body_mut().read_to_string().unwrap();
    Answer { status, content_type, body }
}

pub fn get(url: &str) -> Answer {
    answer(agent().get(url).call())
}

/// POSTs `body` with `content_type`, or with none.
pub fn post(url: &str, content_type: Option<&str>, body: &[u8]) -> Answer {
    let mut request = agent().post(url);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    answer(request.send(body))
}

/// An image file's bytes.
pub fn encode(image: &GrayImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(image.clone()).to_rgb8().write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

/// Test digit `index` of the fixture as a photo: dark ink on light paper, 4 times larger,
/// off-centre on a 150x130 sheet.
pub fn photo(index: usize) -> GrayImage {
    let digit = mnist().test.iter().nth(index).unwrap();
    let mut sheet = GrayImage::from_pixel(150, 130, Luma([235]));
    for y in 0..112 {
        for x in 0..112 {
            let ink = digit.pixels[(y / 4) * 28 + x / 4];
            sheet.put_pixel(20 + x as u32, 9 + y as u32, Luma([235 - (f32::from(ink) * 0.85) as u8]));
        }
    }
    sheet
}

pub fn pixels_json(pixels: &[f32]) -> String {
    serde_json::json!({ "pixels": pixels }).to_string()
}

/// Opens a connection to `address` (`host:port`) and pipelines `count` requests for the page's
/// script (9 kB each) without ever reading an answer, until the socket takes no more (the
/// server has stopped reading too).
pub fn never_reading_client(address: &str, count: usize) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_write_timeout(Some(std::time::Duration::from_millis(500))).unwrap();
    let request = b"GET /app.js HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for _ in 0..count {
        if stream.write_all(request).is_err() {
            break;
        }
    }
    stream
}

/// Waits, `limit` at most, until the server has closed `stream`, without reading from it:
/// the time it took, or `None`. A closed connection shows as an error or an end of stream when
/// peeking, or an error when writing a byte (the server answers it with a reset).
pub fn wait_closed(stream: &std::net::TcpStream, limit: std::time::Duration) -> Option<std::time::Duration> {
    use std::io::{ErrorKind, Write};
    let started = std::time::Instant::now();
    stream.set_nonblocking(true).unwrap();
    let mut writer = stream;
    while started.elapsed() < limit {
        match stream.peek(&mut [0u8; 1]) {
            Ok(0) => return Some(started.elapsed()),
            Err(e) if e.kind() != ErrorKind::WouldBlock => return Some(started.elapsed()),
            _ => {}
        }
        match writer.write(b"x") {
            Err(e) if e.kind() != ErrorKind::WouldBlock => return Some(started.elapsed()),
            _ => {}
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}

/// Sends `request` as it is on a new connection and reads the answer until the server closes
/// the connection (10 s at most): its status, its head and its body.
pub fn raw(address: &str, request: &[u8]) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// The `host:port` of a server's URL.
pub fn address(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

/// Saves a screenshot of the page under the target directory, for people to look at.
pub fn save_screenshot(name: &str, png: &[u8]) {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot of the page: {}", path.display());
}
