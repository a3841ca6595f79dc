//! `cargo xtask loadtest`: the release `nn-cli serve` on an ephemeral port of 127.0.0.1, under
//! `wrk` (Debian's package) for a bounded time, with JSON pixels and with a PNG, on 1 and then 2
//! worker threads. Prints requests per second, p50/p99 latency and errors; stops the server.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::project_root;

pub struct Options {
    pub duration_s: u32,
    pub connections: u32,
    pub model: Option<PathBuf>,
}

/// One wrk run, from the summary line `report.lua` prints.
#[derive(Debug, Clone, PartialEq)]
struct Run {
    requests: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// wrk's Lua hooks: the request (method, type, body read from a file) and a summary line.
const SCRIPT: &str = r#"
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("LOADTEST_TYPE")
local file = assert(io.open(os.getenv("LOADTEST_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LOADTEST requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"#;

pub fn run(options: &Options) -> Result<()> {
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("wrk is not installed: it drives the load test (Debian: apt-get install wrk)");
    }
    let root = project_root();
    let work = root.join("target/loadtest");
    std::fs::create_dir_all(&work)?;
    let nn_cli = crate::release_nn_cli()?;
    let model = match &options.model {
        Some(model) => model.clone(),
        None => default_recipe_model(&nn_cli, &root, &work)?,
    };
    let json = work.join("pixels.json");
    std::fs::write(&json, pixels_json(&root)?)?;
    let png = root.join("fixtures/images/seven.png");
    let script = work.join("report.lua");
    std::fs::write(&script, SCRIPT)?;

    let mut table = String::from("body  threads  requests/s  p50 ms  p99 ms  errors\n");
    for threads in [1, 2] {
        let server = Server::start(&nn_cli, &model, threads)?;
        for (name, body, content_type) in [("json", &json, "application/json"), ("png", &png, "image/png")] {
            let run = wrk(&server.url, &script, body, content_type, options)?;
            eprintln!("{name} on {threads} thread(s): {run:?}");
            writeln!(
                table,
                "{name:<5} {threads:>7}  {:>10.0}  {:>6.2}  {:>6.2}  {:>6}",
                run.per_second(),
                run.p50_ms,
                run.p99_ms,
                run.errors
            )?;
        }
        server.stop()?;
    }
    println!(
        "{} connections, {} s per run, wrk -t2 on the same machine, model {}:\n{table}",
        options.connections,
        options.duration_s,
        model.display()
    );
    Ok(())
}

/// The default recipe's network (784-512-256-10), trained one epoch on the fixtures' 100
/// digits: a prediction costs what it costs with the fully trained model.
fn default_recipe_model(nn_cli: &Path, root: &Path, work: &Path) -> Result<PathBuf> {
    let model = work.join("default.json");
    let status = Command::new(nn_cli)
        .args(["train", "--data", "fixtures/mnist-100", "--validation-size", "20", "--epochs", "1", "--quiet", "-o"])
        .arg(&model)
        .current_dir(root)
        .stdout(Stdio::null())
        .status()
        .context("cannot run nn-cli train")?;
    if !status.success() {
        bail!("nn-cli train failed to make the load test's model");
    }
    Ok(model)
}

/// The first test digit of the fixtures as JSON pixels in 0..1.
fn pixels_json(root: &Path) -> Result<String> {
    let mnist = mnist_data::Mnist::load(root.join("fixtures/mnist-100"))?;
    let digit = mnist.test.iter().next().context("the fixture has no test digit")?;
    let pixels: Vec<f32> = digit.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    Ok(serde_json::json!({ "pixels": pixels }).to_string())
}

fn wrk(url: &str, script: &Path, body: &Path, content_type: &str, options: &Options) -> Result<Run> {
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{}", options.connections), &format!("-d{}s", options.duration_s), "--latency", "-s"])
        .arg(script)
        .arg(format!("{url}/api/predict"))
        .env("LOADTEST_BODY", body)
        .env("LOADTEST_TYPE", content_type)
        .output()
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {}{}", text, String::from_utf8_lossy(&output.stderr));
    }
    parse_summary(&text).with_context(|| format!("no summary in wrk's output:\n{text}"))
}

fn parse_summary(text: &str) -> Option<Run> {
    let line = text.lines().find(|line| line.starts_with("LOADTEST "))?;
    let field = |name: &str| -> Option<u64> {
        line.split_whitespace().find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    };
    Some(Run {
        requests: field("requests")?,
        seconds: field("duration_us")? as f64 / 1e6,
        p50_ms: field("p50_us")? as f64 / 1e3,
        p99_ms: field("p99_us")? as f64 / 1e3,
        errors: field("errors")?,
    })
}

/// `nn-cli serve` on 127.0.0.1:0; killed if the load test ends early.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(nn_cli: &Path, model: &Path, threads: u32) -> Result<Server> {
        let mut child = Command::new(nn_cli)
            .args(["serve", "--addr", "127.0.0.1:0", "--threads", &threads.to_string(), "--model"])
            .arg(model)
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start nn-cli serve")?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().context("no standard output")?).read_line(&mut line)?;
        let Some(url) = line.split_whitespace().find(|word| word.starts_with("http://")) else {
            let _ = child.kill();
            bail!("nn-cli serve did not print its URL: {line:?}");
        };
        Ok(Server { url: url.trim_end_matches('/').to_string(), child })
    }

    /// Ctrl-C, as a person would stop it; it must end cleanly.
    fn stop(mut self) -> Result<()> {
        Command::new("kill").args(["-INT", &self.child.id().to_string()]).status()?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("nn-cli serve ended with {status}");
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_is_parsed() {
        let text = "Running 10s test\nLOADTEST requests=52000 duration_us=10000000 p50_us=4100 p99_us=9800 errors=0\n";
        let run = parse_summary(text).unwrap();
        assert_eq!(run, Run { requests: 52_000, seconds: 10.0, p50_ms: 4.1, p99_ms: 9.8, errors: 0 });
        assert_eq!(run.per_second(), 5200.0);
        assert!(parse_summary("no summary").is_none());
    }
}
