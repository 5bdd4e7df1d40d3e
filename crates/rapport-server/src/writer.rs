//! The writer: one thread owns the [`Engine`] and commits what the requests hand it, in groups.
//!
//! Requests send their parsed messages through a bounded channel and wait on a oneshot reply. The thread takes
//! the first job, drains whatever else is queued (up to [`MAX_GROUP_MESSAGES`]) without waiting, and commits
//! all of it with one [`Engine::ingest_messages`] call (one transaction per dataset and inlet), then
//! replies to every job. A reply is only sent once SQLite's commit has returned, so an acknowledgement always
//! means stored. While it commits, new requests queue up and form the next group: the busier the inlet, the
//! bigger the groups, with no timer.
//!
//! API calls (`Job::Call`) run on the same thread, between groups, so every write goes through this one
//! engine.
//!
//! The engine is synchronous and owns the SQLite connection (`&mut self`), so a plain thread, not a tokio task,
//! runs it: a commit blocks for milliseconds, far beyond what async code may block.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use rapport_engine::{Engine, MessageOutcome, StreamMessage};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info};

/// A group closes once it holds this many messages; the rest of the queue goes into the next group.
pub const MAX_GROUP_MESSAGES: usize = 10_000;

/// Jobs queued at most (each at most one request, so at most 1 MB): senders wait when the queue is full.
pub const QUEUE_JOBS: usize = 256;

/// What the writer answers for a group of messages: one outcome each, or the store's failure.
pub(crate) type Outcomes = Result<Vec<MessageOutcome>, String>;

/// Work for the writer thread.
pub(crate) enum Job {
    /// Commit these messages and answer their outcomes, in order.
    Ingest { messages: Vec<StreamMessage>, reply: oneshot::Sender<Outcomes> },
    /// Reread the inlets from the store (an inlet may have been created since start) and say whether `id` is
    /// one of them.
    FindInlet { id: String, reply: oneshot::Sender<bool> },
    /// Re-evaluate the audiences whose answer moves with time alone ([`Engine::refresh_time_windows`]).
    RefreshTimeWindows,
    /// Run an API call on the engine (after committing the messages queued before it).
    Call(Box<dyn FnOnce(&mut Engine) + Send>),
}

/// The known inlet ids, shared between the writer (which reloads them) and the routes (which read them).
pub(crate) type Inlets = Arc<RwLock<HashSet<String>>>;

/// Starts the writer thread. It ends when every sender is dropped and the queue is drained.
pub(crate) fn spawn(
    mut engine: Engine,
    inlets: Inlets,
) -> std::io::Result<(mpsc::Sender<Job>, std::thread::JoinHandle<()>)> {
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE_JOBS);
    let handle = std::thread::Builder::new().name("rapport-writer".to_owned()).spawn(move || {
        let mut group: Vec<(Vec<StreamMessage>, oneshot::Sender<Outcomes>)> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut count = 0;
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Ingest { messages, reply } => {
                        count += messages.len();
                        group.push((messages, reply));
                    }
                    Job::FindInlet { id, reply } => {
                        let _ = reply.send(reload_inlets(&engine, &inlets).contains(&id));
                    }
                    Job::RefreshTimeWindows => match engine.refresh_time_windows() {
                        Ok(updates) => {
                            for u in updates {
                                info!(audience = %u.audience, entered = u.entered, exited = u.exited, "time window refresh");
                            }
                        }
                        Err(err) => error!(error = %err, "time window refresh failed"),
                    },
                    Job::Call(call) => {
                        // Messages queued before the call commit first: the call sees them, in order.
                        if !group.is_empty() {
                            commit(&mut engine, &mut group);
                            count = 0;
                        }
                        // A panicking call drops its reply (the request answers 500) but not the writer.
                        let run = std::panic::AssertUnwindSafe(|| call(&mut engine));
                        if std::panic::catch_unwind(run).is_err() {
                            error!("an API call panicked on the engine thread");
                        }
                    }
                }
                if count < MAX_GROUP_MESSAGES {
                    next = rx.try_recv().ok();
                }
            }
            if !group.is_empty() {
                commit(&mut engine, &mut group);
            }
        }
        info!("writer stopped: queue drained");
    })?;
    Ok((tx, handle))
}

/// Rereads the inlet ids from the store into the shared set and returns a copy.
fn reload_inlets(engine: &Engine, inlets: &Inlets) -> HashSet<String> {
    match engine.store().inlets() {
        Ok(list) => {
            let ids: HashSet<String> = list.into_iter().map(|i| i.id).collect();
            if let Ok(mut shared) = inlets.write() {
                shared.clone_from(&ids);
            }
            ids
        }
        Err(err) => {
            error!(error = %err, "reading inlets failed");
            HashSet::new()
        }
    }
}

/// Commits one group and answers each of its jobs.
fn commit(engine: &mut Engine, group: &mut Vec<(Vec<StreamMessage>, oneshot::Sender<Outcomes>)>) {
    let sizes: Vec<usize> = group.iter().map(|(m, _)| m.len()).collect();
    let total: usize = sizes.iter().sum();
    let mut all = Vec::with_capacity(total);
    let mut replies = Vec::with_capacity(group.len());
    for (messages, reply) in group.drain(..) {
        all.extend(messages);
        replies.push(reply);
    }
    let started = std::time::Instant::now();
    match engine.ingest_messages(all) {
        Ok(outcomes) => {
            debug!(
                jobs = replies.len(),
                messages = total,
                ms = started.elapsed().as_millis() as u64,
                "group committed"
            );
            let mut outcomes = outcomes.into_iter();
            for (reply, size) in replies.into_iter().zip(sizes) {
                // A request whose client went away has dropped its receiver; its messages are stored anyway.
                let _ = reply.send(Ok(outcomes.by_ref().take(size).collect()));
            }
        }
        Err(err) => {
            error!(error = %err, messages = total, "group commit failed");
            for reply in replies {
                let _ = reply.send(Err(err.to_string()));
            }
        }
    }
}
