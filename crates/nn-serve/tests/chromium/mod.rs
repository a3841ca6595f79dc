//! Headless Chromium driven through chromedriver (WebDriver), for the tests of the page.
//!
//! Skipped with a note when `chromium` or `chromedriver` is not installed (Debian:
//! `apt-get install chromium chromium-driver`), except under CI (`CI` set), where it fails.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

pub const WAIT: Duration = Duration::from_secs(30);

/// A program on the PATH (or one of Debian's names for it).
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name))).find(|p| p.is_file())
}

/// chromedriver on a free port of 127.0.0.1, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(program: &PathBuf) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(program)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < WAIT, "chromedriver did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium and chromedriver, or `None` (with a note) outside CI when they are not installed.
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let found = (find_program(&["chromium", "chromium-browser", "google-chrome"]), find_program(&["chromedriver"]));
    if let (Some(chromium), Some(chromedriver)) = found {
        return Some((chromium, chromedriver));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the browser test is required under CI: install chromium and chromium-driver"
    );
    eprintln!(
        "note: browser test skipped: chromium or chromedriver is not installed (apt-get install chromium chromium-driver)"
    );
    None
}

/// Opens a headless Chromium session, runs `test` in it and closes it.
pub fn in_browser<T>(extra_args: &[&str], test: impl AsyncFnOnce(&Client) -> T) -> Option<T> {
    let (chromium, chromedriver) = browser()?;
    let driver = Driver::start(&chromedriver);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    Some(runtime.block_on(async {
        // Root in a container has no sandbox; no display, no GPU.
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1100,820",
        ];
        args.extend_from_slice(extra_args);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_string(), json!({ "binary": chromium, "args": args }));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a Chromium session");
        let result = test(&client).await;
        client.close().await.unwrap();
        result
    }))
}
