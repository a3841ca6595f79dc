//! The reader's checkout that the docs' commands run in: a temporary directory with the data,
//! the fixtures and the example images, `nn-cli` and `cargo` on the PATH, and at most one
//! `nn-cli serve` running in the background.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::project_root;

/// The images `nn-cli predict` reads in the guide, from fixtures/images/ to the top.
const IMAGES: &[&str] = &["my-three.jpg", "seven.png", "two.jpg", "one.bmp"];

/// The address the docs show for `nn-cli serve`; the running server's own replaces it.
pub const SHOWN_ADDR: &str = "127.0.0.1:8080";

pub struct Scratch {
    /// Removed on drop unless kept.
    _temp: Option<tempfile::TempDir>,
    pub dir: PathBuf,
    path_var: std::ffi::OsString,
    server: Option<Server>,
}

/// What a command printed (standard output and error together, in order) and its status.
pub struct Ran {
    pub output: String,
    pub status: Option<i32>,
    pub timed_out: bool,
}

struct Server {
    child: Child,
    addr: String,
}

impl Scratch {
    /// A fresh directory (kept after the run with `keep`), prepared as a checkout after
    /// `cargo xtask fetch-data`; `nn_cli` is the release binary.
    pub fn new(nn_cli: &Path, keep: bool) -> Result<Self> {
        let temp =
            tempfile::Builder::new().prefix("nn-docs-").tempdir().context("cannot create a scratch directory")?;
        let dir = temp.path().to_path_buf();
        let root = project_root();
        let data = dir.join("data/mnist");
        std::fs::create_dir_all(&data)?;
        // Without the data (outside CI) the blocks that need it are skipped, not run.
        if let Ok(files) = std::fs::read_dir(root.join("data/mnist")) {
            for entry in files {
                let entry = entry?;
                if entry.file_type()?.is_file() {
                    std::fs::copy(entry.path(), data.join(entry.file_name()))?;
                }
            }
        }
        copy_tree(&root.join("fixtures"), &dir.join("fixtures"))?;
        copy_tree(&root.join("scripts"), &dir.join("scripts"))?;
        for image in IMAGES {
            std::fs::copy(root.join("fixtures/images").join(image), dir.join(image))
                .with_context(|| format!("cannot copy fixtures/images/{image}"))?;
        }
        let bin = dir.join(".bin");
        std::fs::create_dir_all(&bin)?;
        write_cargo_shim(&bin, nn_cli)?;
        let mut paths = vec![bin, nn_cli.parent().expect("a binary's folder").to_path_buf()];
        paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        let path_var = std::env::join_paths(paths)?;
        let temp = if keep {
            let _kept = temp.keep();
            None
        } else {
            Some(temp)
        };
        Ok(Self { _temp: temp, dir, path_var, server: None })
    }

    /// Runs one command line through bash in the scratch directory, standard error merged into
    /// standard output; stopped (and reported) after `limit`.
    pub fn run(&self, command: &str, limit: Duration) -> Result<Ran> {
        let command = self.with_server_addr(command)?;
        let mut child = self.shell(&command).spawn().context("cannot run bash")?;
        let mut stdout = child.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        });
        let started = Instant::now();
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > limit {
                timed_out = true;
                // What bash started first (they hold the output pipe open), then bash.
                let _ = Command::new("pkill").args(["-KILL", "-P", &child.id().to_string()]).status();
                let _ = child.kill();
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let bytes = reader.join().unwrap_or_default();
        let output = self.shown_addr(&String::from_utf8_lossy(&bytes));
        Ok(Ran { output, status: status.code(), timed_out })
    }

    /// Starts `nn-cli serve ...` on a free port and returns what it printed once `lines` lines
    /// came (or after 60 s); it runs until [`Scratch::stop_server`].
    pub fn start_server(&mut self, command: &str, lines: usize) -> Result<String> {
        self.stop_server()?;
        let mut child = self.shell(&format!("exec {command} --addr 127.0.0.1:0")).spawn().context("cannot run bash")?;
        let stdout = child.stdout.take().expect("piped");
        let (send, receive) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut printed = Vec::new();
        while printed.len() < lines.max(1) {
            let left = deadline.saturating_duration_since(Instant::now());
            match receive.recv_timeout(left) {
                Ok(line) => printed.push(line),
                Err(_) => break,
            }
        }
        let addr = printed
            .iter()
            .find_map(|line| line.split("http://").nth(1)?.split('/').next().map(str::to_string))
            .filter(|addr| addr.starts_with("127.0.0.1:"));
        let output = printed.join("\n") + "\n";
        match addr {
            Some(addr) => {
                self.server = Some(Server { child, addr });
                Ok(self.shown_addr(&output))
            }
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Ok(output)
            }
        }
    }

    /// Stops the background server as Ctrl-C would (SIGTERM) and checks that it ended well.
    pub fn stop_server(&mut self) -> Result<()> {
        let Some(mut server) = self.server.take() else { return Ok(()) };
        Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status()?;
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                if !status.success() {
                    bail!("nn-cli serve ended with {status} after SIGTERM");
                }
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = server.child.kill();
                let _ = server.child.wait();
                bail!("nn-cli serve did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn shell(&self, command: &str) -> Command {
        let mut shell = Command::new("bash");
        // Standard error joins standard output as a terminal shows them; a pipeline fails as
        // its first failing command.
        shell
            .arg("-c")
            .arg(format!("exec 2>&1\nset -o pipefail\n{command}"))
            .current_dir(&self.dir)
            .env("PATH", &self.path_var)
            .env_remove("MNIST_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        shell
    }

    /// The command with the docs' server address replaced by the running server's.
    fn with_server_addr(&self, command: &str) -> Result<String> {
        if !command.contains(SHOWN_ADDR) {
            return Ok(command.to_string());
        }
        match &self.server {
            Some(server) => Ok(command.replace(SHOWN_ADDR, &server.addr)),
            None => bail!("the command uses {SHOWN_ADDR}, but no `nn-cli serve` of this section runs"),
        }
    }

    /// Output with the running server's address written as the docs write it.
    fn shown_addr(&self, output: &str) -> String {
        match &self.server {
            Some(server) => output.replace(&server.addr, SHOWN_ADDR),
            None => match output.split("http://").nth(1).and_then(|rest| rest.split('/').next()) {
                Some(addr) if addr.starts_with("127.0.0.1:") => output.replace(addr, SHOWN_ADDR),
                _ => output.to_string(),
            },
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
    }
}

/// `cargo` as a reader's checkout answers it: `cargo xtask ...` is this very task runner and
/// `cargo run --release -p nn-cli -- ...` the release `nn-cli`; anything else is cargo itself.
fn write_cargo_shim(bin: &Path, nn_cli: &Path) -> Result<()> {
    let xtask = std::env::current_exe().context("cannot find the xtask binary")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = xtask ]; then shift; exec '{xtask}' \"$@\"; fi\n\
         if [ \"$1 $2 $3 $4 $5\" = 'run --release -p nn-cli --' ]; then shift 5; exec '{nn_cli}' \"$@\"; fi\n\
         exec '{cargo}' \"$@\"\n",
        xtask = xtask.display(),
        nn_cli = nn_cli.display(),
    );
    let shim = bin.join("cargo");
    std::fs::write(&shim, script)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
