//! `cargo xtask fetch-data`: put the four files of MNIST (or Fashion-MNIST) in a directory,
//! each verified by the SHA-256 of its decompressed content (mirrors recompress, so the gzip
//! bytes differ; the IDX bytes must not).
//!
//! Sources are tried in order: `--from`, then `MNIST_MIRROR`, then the public mirrors. Each
//! file is written to a temporary name, verified, and only then renamed into place; a file
//! that fails verification never stays.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use flate2::read::GzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::project_root;

#[derive(Args)]
pub struct FetchArgs {
    /// Where to put the files [default: data/mnist, or data/fashion-mnist with --dataset fashion].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// A directory or URL to try before the public mirrors (also: the MNIST_MIRROR variable).
    #[arg(long)]
    from: Option<String>,
    /// Which data set.
    #[arg(long, value_enum, default_value_t = DatasetKind::Mnist)]
    dataset: DatasetKind,
}

#[derive(Clone, Copy, ValueEnum)]
enum DatasetKind {
    /// The MNIST digits.
    Mnist,
    /// Zalando's Fashion-MNIST (same files, same format).
    Fashion,
}

struct DatasetSpec {
    name: &'static str,
    default_dir: &'static str,
    /// (file name, SHA-256 of the decompressed IDX bytes)
    files: [(&'static str, &'static str); 4],
    mirrors: &'static [&'static str],
}

const MNIST: DatasetSpec = DatasetSpec {
    name: "MNIST",
    default_dir: "data/mnist",
    files: [
        ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ],
    mirrors: &["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"],
};

const FASHION: DatasetSpec = DatasetSpec {
    name: "Fashion-MNIST",
    default_dir: "data/fashion-mnist",
    files: [
        ("train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        ("train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        ("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        ("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ],
    mirrors: &[
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ],
};

/// No MNIST file decompresses to more than this; a source that does is refused, not inflated.
const MAX_DECOMPRESSED: u64 = 64 << 20;

enum Source {
    Dir(PathBuf),
    Url(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Dir(dir) => write!(f, "{}", dir.display()),
            Source::Url(url) => f.write_str(url),
        }
    }
}

impl Source {
    fn parse(text: &str) -> Source {
        if text.starts_with("http://") || text.starts_with("https://") {
            let slash = if text.ends_with('/') { "" } else { "/" };
            Source::Url(format!("{text}{slash}"))
        } else {
            Source::Dir(PathBuf::from(text.strip_prefix("file://").unwrap_or(text)))
        }
    }
}

pub fn run(args: FetchArgs) -> Result<()> {
    let spec = match args.dataset {
        DatasetKind::Mnist => &MNIST,
        DatasetKind::Fashion => &FASHION,
    };
    let dir = args.dir.unwrap_or_else(|| project_root().join(spec.default_dir));
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let mut sources: Vec<Source> = Vec::new();
    sources.extend(args.from.as_deref().map(Source::parse));
    if let Some(mirror) = std::env::var("MNIST_MIRROR").ok().filter(|m| !m.is_empty()) {
        sources.push(Source::parse(&mirror));
    }
    sources.extend(spec.mirrors.iter().map(|m| Source::Url((*m).to_string())));

    let agent = http_agent();
    let mut failures = Vec::new();
    for (name, sha) in spec.files {
        if let Some(present) = verified_copy(&dir, name, sha) {
            eprintln!("{name}: already present and verified ({})", present.display());
            continue;
        }
        match fetch_one(&agent, &sources, &dir, name, sha) {
            Ok((path, source)) => eprintln!("{name}: verified, from {source} -> {}", path.display()),
            Err(attempts) => failures.push((name, attempts)),
        }
    }
    if failures.is_empty() {
        eprintln!("{} is ready in {}", spec.name, dir.display());
        return Ok(());
    }
    let mut message = format!("could not get {} of the {} files:\n", failures.len(), spec.name);
    for (name, attempts) in &failures {
        message.push_str(&format!("  {name}:\n"));
        for attempt in attempts {
            message.push_str(&format!("    {attempt}\n"));
        }
    }
    message.push_str(&format!(
        "To supply them by hand, put the four files (raw or .gz) in a directory and run\n  \
         cargo xtask fetch-data --from DIR{}\nor set MNIST_MIRROR=DIR (or a URL) and run it again.",
        if matches!(args.dataset, DatasetKind::Fashion) { " --dataset fashion" } else { "" }
    ));
    bail!(message)
}

fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(300)))
        .build()
        .into()
}

/// An existing copy of `name` in `dir` (raw or .gz) whose content has the right hash.
fn verified_copy(dir: &Path, name: &str, sha: &str) -> Option<PathBuf> {
    candidates(dir, name).into_iter().find(|p| p.is_file() && verify(p, sha).is_ok())
}

fn candidates(dir: &Path, name: &str) -> [PathBuf; 2] {
    [dir.join(format!("{name}.gz")), dir.join(name)]
}

/// Tries each source in turn; on success returns where the file went and where it came from,
/// on failure what each attempt said.
fn fetch_one(
    agent: &ureq::Agent,
    sources: &[Source],
    dir: &Path,
    name: &str,
    sha: &str,
) -> Result<(PathBuf, String), Vec<String>> {
    let tmp = dir.join(format!(".{name}.download"));
    let mut attempts = Vec::new();
    for source in sources {
        let outcome = download(agent, source, name, &tmp).and_then(|origin| {
            let gzip = verify(&tmp, sha)?;
            let dest = dir.join(if gzip { format!("{name}.gz") } else { name.to_string() });
            fs::rename(&tmp, &dest).with_context(|| format!("cannot move the file to {}", dest.display()))?;
            // A stale copy under the other name would shadow or confuse the verified one.
            for other in candidates(dir, name) {
                if other != dest {
                    let _ = fs::remove_file(other);
                }
            }
            Ok((dest, origin))
        });
        match outcome {
            Ok(done) => return Ok(done),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                attempts.push(format!("{source}: {e:#}"));
            }
        }
    }
    Err(attempts)
}

/// Copies or downloads `name` (trying `name.gz`, then `name`) from `source` into `tmp`.
fn download(agent: &ureq::Agent, source: &Source, name: &str, tmp: &Path) -> Result<String> {
    match source {
        Source::Dir(dir) => {
            let found = candidates(dir, name).into_iter().find(|p| p.is_file());
            let Some(path) = found else {
                bail!("neither {name}.gz nor {name} is in {}", dir.display());
            };
            let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
            let len = file.metadata().map(|m| m.len()).ok();
            copy_with_progress(file, len, tmp, name)?;
            Ok(path.display().to_string())
        }
        Source::Url(base) => {
            let url = format!("{base}{name}.gz");
            let mut response = agent.get(&url).call().with_context(|| format!("GET {url}"))?;
            let len = response.body().content_length();
            let reader = response.body_mut().with_config().limit(MAX_DECOMPRESSED).reader();
            copy_with_progress(reader, len, tmp, name).with_context(|| format!("GET {url}"))?;
            Ok(url)
        }
    }
}

fn copy_with_progress(mut reader: impl Read, len: Option<u64>, tmp: &Path, name: &str) -> Result<()> {
    let bar = ProgressBar::new(len.unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(name.to_string());
    let mut out = File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        out.write_all(&buf[..n])?;
        bar.inc(n as u64);
    }
    out.sync_all()?;
    bar.finish_and_clear();
    Ok(())
}

/// Checks the SHA-256 of the file's IDX content (decompressed if it is gzip); returns whether
/// the file is gzip.
fn verify(path: &Path, sha: &str) -> Result<bool> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 2];
    let gzip = file.read(&mut magic)? == 2 && mnist_data::idx::is_gzip(&magic);
    let file = File::open(path)?;
    let mut content: Box<dyn Read> =
        if gzip { Box::new(GzDecoder::new(file).take(MAX_DECOMPRESSED + 1)) } else { Box::new(file) };
    let mut hasher = Sha256::new();
    let hashed = io::copy(&mut content, &mut hasher).context("the content cannot be read (corrupt gzip?)")?;
    if hashed > MAX_DECOMPRESSED {
        bail!("the content is larger than any MNIST file");
    }
    let actual = format!("{:x}", hasher.finalize());
    if actual != sha {
        bail!("SHA-256 of the content is {actual}, expected {sha}");
    }
    Ok(gzip)
}

#[cfg(test)]
mod tests {
    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    const NAME: &str = "t10k-labels-idx1-ubyte";

    fn sha_of(bytes: &[u8]) -> String {
        format!("{:x}", Sha256::digest(bytes))
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_verified_file_from_a_mirror_directory_lands_under_its_name() {
        let content = b"\0\0\x08\x01\0\0\0\x02\x07\x03";
        let mirror = tempfile::tempdir().unwrap();
        fs::write(mirror.path().join(format!("{NAME}.gz")), gzip(content)).unwrap();
        let dest = tempfile::tempdir().unwrap();
        let sources = [Source::Dir(PathBuf::from("/nonexistent")), Source::Dir(mirror.path().to_path_buf())];
        let (path, _) = fetch_one(&http_agent(), &sources, dest.path(), NAME, &sha_of(content)).unwrap();
        assert_eq!(path, dest.path().join(format!("{NAME}.gz")));
        assert!(verified_copy(dest.path(), NAME, &sha_of(content)).is_some());
        assert_eq!(fs::read_dir(dest.path()).unwrap().count(), 1, "no temporary file is left");
    }

    #[test]
    fn a_file_that_fails_verification_is_never_left_in_place() {
        let mirror = tempfile::tempdir().unwrap();
        fs::write(mirror.path().join(NAME), b"not what was promised").unwrap();
        let dest = tempfile::tempdir().unwrap();
        let sources = [Source::Dir(mirror.path().to_path_buf())];
        let attempts = fetch_one(&http_agent(), &sources, dest.path(), NAME, &sha_of(b"the real thing")).unwrap_err();
        assert_eq!(attempts.len(), 1);
        assert!(attempts[0].contains("SHA-256"), "{attempts:?}");
        assert_eq!(fs::read_dir(dest.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_gzip_bomb_is_refused_without_inflating_it_all() {
        let file = tempfile::NamedTempFile::new().unwrap();
        fs::write(file.path(), gzip(&vec![0u8; (MAX_DECOMPRESSED + 10) as usize])).unwrap();
        let err = verify(file.path(), &sha_of(b"")).unwrap_err();
        assert!(err.to_string().contains("larger than any MNIST file"), "{err}");
    }

    #[test]
    fn sources_are_told_apart() {
        assert!(
            matches!(Source::parse("https://example.org/mnist"), Source::Url(u) if u == "https://example.org/mnist/")
        );
        assert!(matches!(Source::parse("../shared/data/mnist"), Source::Dir(_)));
        assert!(matches!(Source::parse("file:///srv/mnist"), Source::Dir(d) if d == Path::new("/srv/mnist")));
    }
}
