//! `nn-cli serve` on an ephemeral port of 127.0.0.1, for the end-to-end tests.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Where the server's standard error goes.
pub enum Stderr {
    /// To a pipe, read when the server stops (see [`Serving::signal`]).
    Kept,
    /// To the test's own: a long run would fill a pipe nobody reads.
    Shown,
}

/// `nn-cli serve` running; killed when dropped.
pub struct Serving {
    child: Child,
    /// Kept open: the server may print more.
    _stdout: BufReader<ChildStdout>,
    /// The address it serves, without a trailing `/`.
    pub url: String,
    /// What it printed before the line with its address.
    pub said: Vec<String>,
}

impl Serving {
    /// `nn-cli serve --addr 127.0.0.1:0 --threads 2 ARGS`, once it has printed its address.
    pub fn start(args: &[&str], stderr: Stderr) -> Serving {
        let stderr = match stderr {
            Stderr::Kept => Stdio::piped(),
            Stderr::Shown => Stdio::inherit(),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_nn-cli"))
            .arg("serve")
            .args(["--addr", "127.0.0.1:0", "--threads", "2"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("nn-cli serve starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("a piped stdout"));
        let mut said = Vec::new();
        let url = loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).expect("serve's output reads") == 0 {
                let _ = child.kill();
                panic!("serve ended after {said:?}");
            }
            if let Some(url) = line.split_whitespace().find(|word| word.starts_with("http://")) {
                break url.trim_end_matches('/').to_string();
            }
            said.push(line.trim_end().to_string());
        };
        Serving { child, _stdout: stdout, url, said }
    }

    /// Ctrl-C, then the exit status and standard error.
    pub fn interrupt(self) -> (ExitStatus, String) {
        let (status, stderr, _) = self.signal("-INT", Duration::from_secs(60));
        (status.expect("the server stops on Ctrl-C"), stderr)
    }

    /// Sends `signal` and waits for the process to exit, `limit` at most: its status (none if
    /// it still runs; it is then killed), its standard error (empty when [`Stderr::Shown`]) and
    /// the time it took.
    pub fn signal(mut self, signal: &str, limit: Duration) -> (Option<ExitStatus>, String, Duration) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let started = Instant::now();
        let mut exited = None;
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                exited = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let waited = started.elapsed();
        if exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let mut stderr = String::new();
        if let Some(pipe) = self.child.stderr.as_mut() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        (exited, stderr, waited)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
