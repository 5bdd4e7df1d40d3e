//! The writer: one thread owns the [`Engine`] and commits what the requests hand it, in groups.
//!
//! Requests send their parsed messages through a bounded channel and wait on a oneshot reply. The thread takes
//! the first job, drains whatever else is queued (up to [`MAX_GROUP_MESSAGES`]) without waiting, and commits
//! all of it with one [`Engine::commit_prepared`] call (one transaction per dataset and inlet), then
//! replies to every job. A helper thread prepares each group (checks, validation, encoding) while the
//! previous one commits. A reply is only sent once SQLite's commit has returned, so an acknowledgement always
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

use rapport_engine::{Engine, MessageOutcome, PreparedMessages, StreamContext, StreamMessage};
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

/// Jobs of a group: their messages, then each job's reply and message count.
type Replies = Vec<(oneshot::Sender<Outcomes>, usize)>;

/// Starts the writer thread. It ends when every sender is dropped and the queue is drained.
///
/// Committing and preparing overlap: while the engine commits one group, a helper thread checks, validates
/// and encodes the next one ([`StreamContext::prepare`]) with a snapshot of the schemas, datasets and
/// namespaces, taken again after every API call (which may change them).
pub(crate) fn spawn(
    mut engine: Engine,
    inlets: Inlets,
) -> std::io::Result<(mpsc::Sender<Job>, std::thread::JoinHandle<()>)> {
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE_JOBS);
    let handle = std::thread::Builder::new().name("rapport-writer".to_owned()).spawn(move || {
        let mut context: Option<StreamContext> = None;
        // The group prepared and not yet committed, and the group being gathered.
        let mut staged: Option<(PreparedMessages, Replies)> = None;
        let mut gathered: (Vec<StreamMessage>, Replies) = (Vec::new(), Vec::new());
        loop {
            // With a group staged, only what is already queued joins the next one: the staged group commits now.
            let first = if staged.is_some() {
                rx.try_recv().ok()
            } else {
                match rx.blocking_recv() {
                    Some(job) => Some(job),
                    None => break,
                }
            };
            let mut next = first;
            while let Some(job) = next.take() {
                match job {
                    Job::Ingest { messages, reply } => {
                        gathered.1.push((reply, messages.len()));
                        gathered.0.extend(messages);
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
                        if let Some((prepared, replies)) = staged.take() {
                            commit(&mut engine, prepared, replies);
                        }
                        if !gathered.1.is_empty() {
                            let (messages, replies) = std::mem::take(&mut gathered);
                            match context_of(&engine, &mut context) {
                                Ok(ctx) => commit(&mut engine, ctx.prepare(messages), replies),
                                Err(err) => fail(replies, &err),
                            }
                        }
                        // A panicking call drops its reply (the request answers 500) but not the writer.
                        let run = std::panic::AssertUnwindSafe(|| call(&mut engine));
                        if std::panic::catch_unwind(run).is_err() {
                            error!("an API call panicked on the engine thread");
                        }
                        context = None;
                    }
                }
                if gathered.0.len() < MAX_GROUP_MESSAGES {
                    next = rx.try_recv().ok();
                }
            }
            let (messages, replies) = std::mem::take(&mut gathered);
            let mut gathered_group = None;
            if !replies.is_empty() {
                match context_of(&engine, &mut context) {
                    Ok(ctx) => gathered_group = Some((ctx, messages, replies)),
                    Err(err) => fail(replies, &err),
                }
            }
            // The gathered group is prepared on a helper thread while the staged one commits here.
            let to_commit = staged.take();
            staged = std::thread::scope(|scope| {
                let preparing = gathered_group
                    .map(|(ctx, messages, replies)| (scope.spawn(move || ctx.prepare(messages)), replies));
                if let Some((prepared, replies)) = to_commit {
                    commit(&mut engine, prepared, replies);
                }
                preparing.map(|(handle, replies)| (handle.join().expect("preparing messages does not panic"), replies))
            });
        }
        if let Some((prepared, replies)) = staged.take() {
            commit(&mut engine, prepared, replies);
        }
        info!("writer stopped: queue drained");
    })?;
    Ok((tx, handle))
}

/// The stream context, taken from the engine when there is none.
fn context_of<'a>(engine: &Engine, context: &'a mut Option<StreamContext>) -> Result<&'a StreamContext, String> {
    if context.is_none() {
        *context = Some(engine.stream_context().map_err(|err| err.to_string())?);
    }
    Ok(context.as_ref().expect("just set"))
}

/// Answers every job of a group with the store's failure.
fn fail(replies: Replies, err: &str) {
    error!(error = %err, "a group of messages could not be prepared");
    for (reply, _) in replies {
        let _ = reply.send(Err(err.to_owned()));
    }
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

/// Commits one prepared group and answers each of its jobs.
fn commit(engine: &mut Engine, prepared: PreparedMessages, replies: Replies) {
    let total = prepared.len();
    let started = std::time::Instant::now();
    match engine.commit_prepared(prepared) {
        Ok(outcomes) => {
            debug!(
                jobs = replies.len(),
                messages = total,
                ms = started.elapsed().as_millis() as u64,
                "group committed"
            );
            let mut outcomes = outcomes.into_iter();
            for (reply, size) in replies {
                // A request whose client went away has dropped its receiver; its messages are stored anyway.
                let _ = reply.send(Ok(outcomes.by_ref().take(size).collect()));
            }
        }
        Err(err) => {
            error!(error = %err, messages = total, "group commit failed");
            for (reply, _) in replies {
                let _ = reply.send(Err(err.to_string()));
            }
        }
    }
}
