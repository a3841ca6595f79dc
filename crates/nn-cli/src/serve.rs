//! `nn-cli serve`: the HTTP API and draw-a-digit page of `nn_serve`, on the loopback interface
//! unless another address is given, until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use nn_serve::{Config, NamedModel, Server, TrainingData};

use crate::output::{flush_out, outln};

#[derive(Args)]
pub struct ServeArgs {
    /// A model file (or a committee file) to serve; repeat for several. Each is named by its file name without the
    /// extension (`models/default.json` is `default`): the names must differ.
    #[arg(long = "model", required = true, value_name = "MODEL")]
    pub models: Vec<PathBuf>,
    /// A data set (MNIST's IDX files, an .npz or a PNG folder, as `train --data` takes) for the
    /// page's "Train here" panel, sent to the page gzip-compressed on request; without it the
    /// panel says how to start the server with one.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The address to listen on. The default is reachable from this machine only; give another
    /// address (`0.0.0.0:8080`) to serve the network, which the server does not authenticate.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Threads answering connections, and predictions computed at once (default: the cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// The largest request body, in bytes.
    #[arg(long, default_value_t = 1_000_000, value_name = "BYTES")]
    pub body_limit: usize,
    /// On Ctrl-C or SIGTERM, the time the connections still open get to finish their requests
    /// (decimals allowed); the ones left then are dropped and the server exits.
    #[arg(long, default_value = "5", value_name = "SECONDS", value_parser = parse_seconds)]
    pub shutdown_grace: Duration,
}

/// A time in seconds, 0 to a day, decimals allowed.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(0.0..=86_400.0).contains(&seconds) {
        return Err(format!("{text} is not between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let models = args.models.iter().map(NamedModel::load).collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = models.iter().map(|m| m.name().to_string()).collect();
    let threads = args.threads.map_or_else(|| Config::default().workers, usize::from);
    let config = Config {
        body_limit: args.body_limit,
        workers: threads,
        shutdown_grace: args.shutdown_grace,
        ..Config::default()
    };
    let training_data = match &args.data {
        Some(dir) => {
            let mnist = crate::data::load_mnist_any(dir)?;
            let data = TrainingData::new(&mnist.train, &mnist.test)
                .with_context(|| format!("cannot offer {} to the page", dir.display()))?;
            outln!(
                "offering {} to the page's training panel: {} training and {} test images, {:.1} MB compressed",
                dir.display(),
                mnist.train.len(),
                mnist.test.len(),
                data.compressed_bytes() as f64 / 1e6
            )?;
            Some(data)
        }
        None => None,
    };
    let server = Server::with_training_data(models, config, training_data)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        // Predictions run there, `threads` at a time; the rest is headroom for the runtime.
        .max_blocking_threads(threads + 2)
        .enable_all()
        .build()
        .context("cannot start the server's threads")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            eprintln!("warning: listening on {addr}, reachable from other machines, without authentication");
        }
        outln!("serving {} on http://{addr}/ (Ctrl-C stops)", names.join(", "))?;
        flush_out()?;
        server.serve(listener, stop_signal()).await?;
        eprintln!("stopped");
        Ok::<(), anyhow::Error>(())
    })?;
    // The connections are gone; a prediction still computing (milliseconds) is not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Ctrl-C (SIGINT), or SIGTERM as a service manager sends; the requests in flight then finish,
/// within `--shutdown-grace`.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
