//! [`Server`]: the models and limits, and the loop that answers connections.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::state::AppState;
use crate::{Config, NamedModel, ServeError, routes};

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
        Ok(Server { state: Arc::new(AppState::new(models, config)) })
    }

    /// The routes, for a program that serves them with others or on its own listener.
    pub fn router(&self) -> Router {
        routes::router(self.state.clone())
    }

    /// Answers connections on `listener` until `shutdown` completes, then lets the requests in
    /// flight finish and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        // Answers are small and sent whole: Nagle's algorithm would only delay them.
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await?;
        Ok(())
    }
}
