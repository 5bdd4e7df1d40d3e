//! The activation scheduler of `rapport serve`: one thread with an [`Engine`] of its own on the same data
//! directory (SQLite serialises its writes with the writer's), which
//! - runs the activation flows that are due ([`Engine::due_activation_flows`]: file flows on their schedules,
//!   and any other flow given a schedule), checked every `tick`;
//! - pushes membership changes to streaming destinations ([`Engine::push_streaming_flows`]) every `push_every`.
//!
//! Everything it decides from is in the store (each flow's creation, its last run, the streaming checkpoints),
//! so a restart picks up where it was: a `once` flow that ran does not run again, a daily flow that ran today
//! waits for tomorrow. It stops between two steps: a run in progress ends first.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rapport_engine::{Engine, RunOptions};
use tracing::{error, info, warn};

/// How the scheduler runs.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerOptions {
    /// How often due flows are looked for.
    pub tick: Duration,
    /// How often membership changes are pushed to streaming destinations (`None`: never).
    pub push_every: Option<Duration>,
    /// How runs and pushes deliver (retries of streaming destinations).
    pub run: RunOptions,
}

impl Default for SchedulerOptions {
    /// Due flows every 10 seconds, streaming pushes every second.
    fn default() -> Self {
        Self { tick: Duration::from_secs(10), push_every: Some(Duration::from_secs(1)), run: RunOptions::default() }
    }
}

/// A running scheduler thread.
#[derive(Debug)]
pub(crate) struct Scheduler {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Scheduler {
    /// Starts the scheduler thread over `engine`.
    pub(crate) fn spawn(mut engine: Engine, options: SchedulerOptions) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("rapport-scheduler".to_owned()).spawn(move || {
            info!(tick_ms = options.tick.as_millis() as u64, "activation scheduler started");
            let run = options.run;
            let mut next_schedule = Instant::now();
            let mut next_push = Instant::now();
            loop {
                let now = Instant::now();
                if let Some(every) = options.push_every {
                    if now >= next_push {
                        match engine.push_streaming_flows(&run) {
                            Ok(reports) => {
                                for r in reports.iter().filter(|r| r.state != "success") {
                                    warn!(flow = %r.flow, state = %r.state, "streaming push incomplete");
                                }
                            }
                            Err(err) => error!(error = %err, "streaming push failed"),
                        }
                        next_push = Instant::now() + every;
                    }
                }
                if now >= next_schedule {
                    match engine.run_due_activations(&run) {
                        Ok(runs) => {
                            for (flow, result) in runs {
                                match result {
                                    Ok(report) => info!(flow = %flow, state = %report.state, "scheduled run ended"),
                                    Err(err) => error!(flow = %flow, error = %err, "scheduled run failed"),
                                }
                            }
                        }
                        Err(err) => error!(error = %err, "reading the activation schedule failed"),
                    }
                    next_schedule = Instant::now() + options.tick;
                }
                let wake = match options.push_every {
                    Some(_) => next_schedule.min(next_push),
                    None => next_schedule,
                };
                match stopped.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    // Asked to stop, or the server is gone.
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            info!("activation scheduler stopped");
        })?;
        Ok(Self { stop, thread })
    }

    /// Asks the thread to stop and waits for it (a run in progress ends first).
    pub(crate) fn stop(self) -> std::thread::Result<()> {
        let _ = self.stop.send(());
        self.thread.join()
    }
}
