//! Rapport's HTTP server: the REST API (token authentication, OpenAPI document, one error shape) and the
//! streaming inlet in Adobe's collection envelope (B2B-DOMAIN g.1), over the engine.
//!
//! Layout:
//! - [`api`]: the REST API platform (errors, authentication, pagination, tasks, the OpenAPI document) and one
//!   module per resource; see `docs/api.md`.
//! - [`console`]: the web console, plain HTML/CSS/JS modules embedded in the binary and served at `/console/`.
//! - [`routes`]: the inlet routes, thin: parse, check the inlet, hand over, shape the answer (200 / 207 / 4xx).
//! - [`writer`]: the one thread that owns the [`Engine`] and commits queued messages in groups; a request is
//!   answered only after the commit holding its messages returned, and after the audience memberships those
//!   messages changed were decided in process and committed (the engine keeps audiences resident).
//! - [`client`]: a minimal keep-alive HTTP/1.1 client over a tokio TCP stream (the load generator's and the
//!   tests').
//! - [`loadgen`]: the load generator behind `rapport bench stream`.
//! - [`scheduler`]: the activation scheduler (flows due on their schedules, streaming pushes of membership
//!   changes), on a thread with its own engine; on when the server is built [`Server::with_scheduler`].
//!
//! This is the only crate that knows HTTP; the engine never sees a request. It must not depend on the `rapport`
//! binary crate.

#![warn(missing_docs)]

pub mod api;
pub mod client;
pub mod console;
pub mod loadgen;
pub mod routes;
pub mod scheduler;
pub mod writer;

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use rapport_engine::{Authenticator, Durability, Engine};
pub use scheduler::SchedulerOptions;
use tracing::info;

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A socket, thread or runtime failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The engine failed while starting.
    #[error(transparent)]
    Engine(#[from] rapport_engine::Error),
    /// A load-generator option or a server answer is not usable.
    #[error("{0}")]
    Load(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the server commits and what it accepts.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// What an acknowledgement guarantees (see [`Durability`]).
    pub durability: Durability,
    /// How often audiences whose answer moves with time alone (event windows anchored at `now`, `today`, …)
    /// are re-evaluated by the writer ([`Engine::refresh_time_windows`]); `None`: never.
    pub time_refresh: Option<std::time::Duration>,
    /// The largest uploaded file accepted, in bytes (the inlet keeps its 1 MB per request).
    pub upload_limit: usize,
}

impl Default for ServeOptions {
    /// Durability `full`; time windows refreshed every minute; uploads up to the API's default limit.
    fn default() -> Self {
        Self {
            durability: Durability::default(),
            time_refresh: Some(std::time::Duration::from_secs(60)),
            upload_limit: api::DEFAULT_UPLOAD_LIMIT,
        }
    }
}

/// A bound, not yet serving, server.
#[derive(Debug)]
pub struct Server {
    listener: std::net::TcpListener,
    engine: Engine,
    options: ServeOptions,
    scheduler: Option<SchedulerOptions>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) for the engine's data directory.
    pub fn bind(engine: Engine, addr: SocketAddr, options: ServeOptions) -> Result<Self> {
        let listener = std::net::TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        listener.set_nonblocking(true)?;
        Ok(Self { listener, engine, options, scheduler: None })
    }

    /// Also runs the activation scheduler while serving (see [`scheduler`]).
    pub fn with_scheduler(mut self, options: SchedulerOptions) -> Self {
        self.scheduler = Some(options);
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish (the writer
    /// commits and answers everything queued) and returns once the writer thread has ended.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let Server { listener, mut engine, options, scheduler } = self;
        engine.set_durability(options.durability)?;
        let scheduler = match scheduler {
            Some(schedule) => {
                let own = Engine::open(engine.store().dir())?;
                Some(scheduler::Scheduler::spawn(own, schedule)?)
            }
            None => None,
        };
        // Audiences are kept current in process after every group commit (see `rapport_engine::live`).
        engine.keep_audiences_resident()?;
        let known: HashSet<String> =
            engine.store().inlets().map_err(rapport_engine::Error::from)?.into_iter().map(|i| i.id).collect();
        let inlets = Arc::new(RwLock::new(known));
        let data_dir = engine.store().dir().to_owned();
        let auth = Authenticator::open(&data_dir)?;
        let (sender, thread) = writer::spawn(engine, inlets.clone(), options.durability)?;
        // Time windows: a tick asks the writer (which owns the resident audiences) to refresh them.
        let ticker = options.time_refresh.map(|every| {
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(every);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                interval.tick().await;
                loop {
                    interval.tick().await;
                    // A full queue means the writer is busy: skip this tick rather than wait.
                    let _ = sender.try_send(writer::Job::RefreshTimeWindows);
                }
            })
        });
        let shared = Arc::new(api::Shared::new(sender, inlets, auth, &data_dir, options.upload_limit));
        let listener = tokio::net::TcpListener::from_std(listener)?;
        info!(addr = %listener.local_addr()?, "serving");
        // The router holds the only senders: once serving ends and it is dropped, the writer drains and stops.
        axum::serve(listener, api::router(shared)).with_graceful_shutdown(shutdown).await?;
        if let Some(ticker) = ticker {
            // Its sender must go for the writer to drain and stop.
            ticker.abort();
            let _ = ticker.await;
        }
        if let Some(scheduler) = scheduler {
            tokio::task::spawn_blocking(move || scheduler.stop())
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))?
                .map_err(|_| Error::Io(std::io::Error::other("the scheduler thread panicked")))?;
        }
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
            .map_err(|_| Error::Io(std::io::Error::other("the writer thread panicked")))?;
        Ok(())
    }

    /// Serves on a thread of its own (with its own runtime) until [`Background::stop`]: for benchmarks and
    /// tools that drive the server from the same process.
    pub fn serve_in_background(self) -> Result<Background> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("rapport-server".to_owned()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(self.serve(async {
                let _ = stopped.await;
            }))
        })?;
        Ok(Background { stop: Some(stop), thread: Some(thread) })
    }

    /// Serves on a new multi-threaded runtime until Ctrl-C (SIGINT), then shuts down gracefully.
    pub fn run_until_ctrl_c(self) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(self.serve(async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => info!("Ctrl-C: draining the queue and stopping"),
                // Without a signal handler the server runs until the process is killed.
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for Ctrl-C");
                    std::future::pending::<()>().await;
                }
            }
        }))
    }
}

/// A server running on its own thread; see [`Server::serve_in_background`].
#[derive(Debug)]
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Background {
    /// Stops accepting, lets queued messages commit and be answered, and waits for the server to end.
    pub fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::Io(std::io::Error::other("the server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
