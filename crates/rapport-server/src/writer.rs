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
//! Under durability `full` a group commits without waiting for the disk, and its replies wait on the syncer
//! thread, which syncs the log ([`LogSync`]) and only then answers them; meanwhile the writer commits the next
//! group. One sync covers every group committed before it, so syncing overlaps committing instead of
//! following it, and an acknowledgement still means on the disk.
//!
//! API calls (`Job::Call`) run on the same thread, between groups, so every write goes through this one
//! engine.
//!
//! The engine is synchronous and owns the SQLite connection (`&mut self`), so a plain thread, not a tokio task,
//! runs it: a commit blocks for milliseconds, far beyond what async code may block.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use rapport_engine::{Durability, Engine, LogSync, MessageOutcome, PreparedMessages, StreamContext, StreamMessage};
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

/// Answers of committed groups whose log is not synced yet, in commit order.
type Unsynced = Vec<(oneshot::Sender<Outcomes>, Outcomes)>;

/// How the jobs of a committed group are answered.
enum Acks {
    /// At once, when the commit returns (durability `normal`, which does not wait for the disk).
    Direct,
    /// By the syncer thread, once the log is on the disk (durability `full`).
    Synced(std::sync::mpsc::Sender<Unsynced>),
}

/// Starts the syncer thread: it takes every answer waiting, syncs the log once, then sends them. It ends when
/// the writer drops its sender, after answering everything sent.
fn spawn_syncer(log: LogSync) -> std::io::Result<(std::sync::mpsc::Sender<Unsynced>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel::<Unsynced>();
    let handle = std::thread::Builder::new().name("rapport-sync".to_owned()).spawn(move || {
        while let Ok(mut waiting) = rx.recv() {
            while let Ok(more) = rx.try_recv() {
                waiting.extend(more);
            }
            let synced = log.sync();
            if let Err(err) = &synced {
                error!(error = %err, jobs = waiting.len(), "syncing the log failed; the jobs are answered with the error");
            }
            for (reply, outcomes) in waiting {
                let answer = match &synced {
                    Ok(()) => outcomes,
                    Err(err) => Err(format!("the messages were written but may not be durable: {err}")),
                };
                // A request whose client went away has dropped its receiver; its messages are stored anyway.
                let _ = reply.send(answer);
            }
        }
    })?;
    Ok((tx, handle))
}

/// Starts the writer thread. It ends when every sender is dropped and the queue is drained.
///
/// Committing and preparing overlap: while the engine commits one group, a helper thread checks, validates
/// and encodes the next one ([`StreamContext::prepare`]) with a snapshot of the schemas, datasets and
/// namespaces, taken again after every API call (which may change them).
///
/// `durability` is what an acknowledgement guarantees; the engine's commits outside streamed groups (API calls)
/// keep it as set.
pub(crate) fn spawn(
    mut engine: Engine,
    inlets: Inlets,
    durability: Durability,
) -> std::io::Result<(mpsc::Sender<Job>, std::thread::JoinHandle<()>)> {
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE_JOBS);
    let (acks, syncer) = match durability {
        Durability::Full => {
            let (sender, handle) = spawn_syncer(engine.store().log_sync())?;
            (Acks::Synced(sender), Some(handle))
        }
        Durability::Normal => (Acks::Direct, None),
    };
    let handle = std::thread::Builder::new().name("rapport-writer".to_owned()).spawn(move || {
        // The snapshot, with the store's data version it was taken at.
        let mut context: Option<(StreamContext, i64)> = None;
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
                            commit(&mut engine, prepared, replies, &acks);
                        }
                        if !gathered.1.is_empty() {
                            let (messages, replies) = std::mem::take(&mut gathered);
                            match context_of(&mut engine, &mut context) {
                                Ok(ctx) => commit(&mut engine, ctx.prepare(messages), replies, &acks),
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
                match context_of(&mut engine, &mut context) {
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
                    commit(&mut engine, prepared, replies, &acks);
                }
                preparing.map(|(handle, replies)| (handle.join().expect("preparing messages does not panic"), replies))
            });
        }
        if let Some((prepared, replies)) = staged.take() {
            commit(&mut engine, prepared, replies, &acks);
        }
        drop(acks);
        if let Some(syncer) = syncer {
            if syncer.join().is_err() {
                error!("the syncer thread panicked");
            }
        }
        info!("writer stopped: queue drained");
    })?;
    Ok((tx, handle))
}

/// The stream context, taken again from the engine when there is none or another process committed since it
/// was taken (a dataset or schema created by a command while the server runs is then found at once). The
/// engine's schemas are read again with it: another process may have registered a class or added a field
/// group.
fn context_of<'a>(
    engine: &mut Engine,
    context: &'a mut Option<(StreamContext, i64)>,
) -> Result<&'a StreamContext, String> {
    let version = engine.store().data_version().map_err(|err| err.to_string())?;
    if context.as_ref().is_none_or(|(_, taken)| *taken != version) {
        engine.reload_schemas().map_err(|err| err.to_string())?;
        *context = Some((engine.stream_context().map_err(|err| err.to_string())?, version));
    }
    Ok(&context.as_ref().expect("just set").0)
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

/// Commits one prepared group and answers each of its jobs, through the syncer when there is one.
fn commit(engine: &mut Engine, prepared: PreparedMessages, replies: Replies, acks: &Acks) {
    let total = prepared.len();
    let started = std::time::Instant::now();
    let committed = match acks {
        Acks::Direct => engine.commit_prepared(prepared),
        // The commit does not wait for the disk; the syncer does, before answering.
        Acks::Synced(_) => engine.set_durability(Durability::Normal).and_then(|()| {
            let committed = engine.commit_prepared(prepared);
            engine.set_durability(Durability::Full).and(committed)
        }),
    };
    match committed {
        Ok(outcomes) => {
            debug!(
                jobs = replies.len(),
                messages = total,
                ms = started.elapsed().as_millis() as u64,
                "group committed"
            );
            let mut outcomes = outcomes.into_iter();
            let answers: Unsynced =
                replies.into_iter().map(|(reply, size)| (reply, Ok(outcomes.by_ref().take(size).collect()))).collect();
            match acks {
                Acks::Direct => {
                    for (reply, answer) in answers {
                        // A request whose client went away has dropped its receiver; its messages are stored anyway.
                        let _ = reply.send(answer);
                    }
                }
                Acks::Synced(syncer) => {
                    if let Err(std::sync::mpsc::SendError(answers)) = syncer.send(answers) {
                        error!("the syncer thread is gone; the group's jobs are answered with an error");
                        for (reply, _) in answers {
                            let _ = reply.send(Err("the log could not be synced".to_owned()));
                        }
                    }
                }
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
