//! [`Server`]: the models and limits, and the loop that answers connections.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::connection::WriteDeadline;
use crate::guard::{HYPER_MAX_HEADERS, HostRule};
use crate::state::AppState;
use crate::{Config, NamedModel, ServeError, TrainingData, routes};

/// A server of one or more digit models.
///
/// ```no_run
/// # async fn run() -> Result<(), nn_serve::ServeError> {
/// use nn_serve::{Config, NamedModel, Server};
/// let server = Server::new(vec![NamedModel::load("models/default.json")?], Config::default())?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// // ... `stop.send(())` from elsewhere ends it.
/// server.serve(listener, async { stopped.await.ok(); }).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    state: Arc<AppState>,
}

impl Server {
    /// A server of `models` (the first answers requests that name none), with unique names.
    pub fn new(models: Vec<NamedModel>, config: Config) -> Result<Self, ServeError> {
        Server::with_training_data(models, config, None)
    }

    /// A server of `models` that also offers `training_data` to the page's "Train here" panel
    /// (`GET /api/training-data`); without it the panel says how to start the server with one.
    pub fn with_training_data(
        models: Vec<NamedModel>,
        config: Config,
        training_data: Option<TrainingData>,
    ) -> Result<Self, ServeError> {
        if models.is_empty() {
            return Err(ServeError::NoModels);
        }
        for (index, model) in models.iter().enumerate() {
            if models[..index].iter().any(|other| other.name() == model.name()) {
                return Err(ServeError::DuplicateName(model.name().to_string()));
            }
        }
        if config.workers == 0 {
            return Err(ServeError::Config("workers must be at least 1"));
        }
        if config.body_limit == 0 {
            return Err(ServeError::Config("the body limit must be at least 1 byte"));
        }
        if config.write_timeout.is_zero() {
            return Err(ServeError::Config("the write timeout must be longer than zero"));
        }
        Ok(Server { state: Arc::new(AppState::new(models, config, training_data)) })
    }

    /// The routes, for a program that serves them with others or on its own listener. They
    /// accept any `Host`: the check of a loopback listener's (see [`Server::serve`]) is that
    /// program's to make, as are the connection deadlines.
    pub fn router(&self) -> Router {
        routes::router(self.state.clone(), HostRule::Any)
    }

    /// Answers connections on `listener` until `shutdown` completes, then lets the requests in
    /// flight finish, [`Config::shutdown_grace`] at most, drops the connections still open and
    /// returns.
    ///
    /// Every connection has deadlines, which axum's own `serve` does not set: a client gets
    /// [`Config::request_timeout`] to send a request's headers, as it does for the body, and a
    /// connection whose answers the client does not take for [`Config::write_timeout`] is
    /// closed, so that neither a stalled sender nor a client that never reads is kept forever.
    ///
    /// On a loopback address, a request must name a loopback host (`localhost`, a name under
    /// `.localhost`, `127.0.0.1`, `[::1]`, any port) or none, else it gets 403: a page of
    /// another site cannot reach the server by making its own name resolve to 127.0.0.1 (DNS
    /// rebinding). On another address, any `Host` is answered.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let router = routes::router(self.state.clone(), HostRule::for_listener(listener.local_addr()?));
        let config = &self.state.config;
        let (header_timeout, write_timeout, grace) =
            (config.request_timeout, config.write_timeout, config.shutdown_grace);
        let connections = GracefulShutdown::new();
        let mut tasks = JoinSet::new();
        let mut shutdown = pin!(shutdown);
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => stream,
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the listener still works, so wait a little and go on (as axum does).
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Forget the connections that have ended.
            while tasks.try_join_next().is_some() {}
            // Answers are small and sent whole: Nagle's algorithm would only delay them.
            let _ = stream.set_nodelay(true);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                // Above the router's own limit, which answers in JSON.
                .max_headers(HYPER_MAX_HEADERS);
            let io = TokioIo::new(WriteDeadline::new(stream, write_timeout));
            let connection = connections.watch(http.serve_connection(io, TowerToHyperService::new(router.clone())));
            tasks.spawn(async move {
                // A client that goes away mid-request is its own business, not the server's.
                let _ = connection.await;
            });
        }
        drop(listener);
        // Whatever has not finished within the grace is dropped: a client that never reads
        // its answers cannot hold the server.
        let _ = tokio::time::timeout(grace, connections.shutdown()).await;
        tasks.shutdown().await;
        Ok(())
    }
}
