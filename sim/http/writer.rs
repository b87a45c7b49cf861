//! The engine's own thread. Every operation reaches the engine as a message; ingestion is
//! group-committed: all requests waiting when the thread wakes are ingested, then committed
//! once, and only then acknowledged. An acknowledged event is durable. Errors come back
//! typed (`StoreError`), so the edge answers each by its class (`MeteringError::class`).

use super::metrics::Metrics;
use crate::calendar::Period;
use crate::event::{MachineId, ShopId, UsageEvent};
use crate::metering::{ErrorClass, IngestReceipt, MeteringEngine, MeteringError, UsageRow};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Requests per group commit at most (bounds the latency of the first one in the group).
const MAX_GROUP: usize = 256;

/// Why the store thread gave no result.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine refused or failed the call.
    #[error(transparent)]
    Engine(#[from] MeteringError),
    /// An ingestion of the same group commit, or the commit, failed: the engine rolled the
    /// whole group back, so nothing of this request was stored either.
    #[error("not stored, retry with the same ids: {0}")]
    Group(Arc<MeteringError>),
    #[error("the store thread has stopped")]
    Stopped,
}

impl StoreError {
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::Engine(e) => e.class(),
            StoreError::Group(e) => e.class(),
            StoreError::Stopped => ErrorClass::Internal,
        }
    }

    /// The engine's error, if it was one (a `Group` failure was another request's).
    pub fn engine(&self) -> Option<&MeteringError> {
        match self {
            StoreError::Engine(e) => Some(e),
            _ => None,
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub enum Op {
    Ingest {
        events: Vec<UsageEvent>,
        reply: Reply<IngestReceipt>,
    },
    Provision {
        machines: Vec<(MachineId, ShopId)>,
        /// When they were installed (`provision_at`); `None`: `provision`.
        since: Option<i64>,
        reply: Reply<()>,
    },
    Usage {
        period: Period,
        reply: Reply<Vec<UsageRow>>,
    },
    /// Any other engine call (contracts, closes, invoices, counter usage): it answers itself.
    Call(EngineCall),
}

/// A call run on the store thread; it sends its own answer.
pub type EngineCall = Box<dyn FnOnce(&mut dyn MeteringEngine) + Send>;

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Op>,
}

impl Writer {
    /// Starts the engine thread; it stops when every `Writer` is dropped. Each group commit
    /// is counted in `metrics`.
    pub fn spawn(
        engine: Box<dyn MeteringEngine>,
        metrics: Arc<Metrics>,
    ) -> (Writer, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(4 * MAX_GROUP);
        let join = std::thread::Builder::new()
            .name("fleetsim-store".into())
            .spawn(move || run(engine, rx, &metrics))
            .expect("spawning a thread");
        (Writer { tx }, join)
    }

    pub async fn ingest(&self, events: Vec<UsageEvent>) -> Result<IngestReceipt, StoreError> {
        self.call(|reply| Op::Ingest { events, reply }).await
    }

    pub async fn provision(
        &self,
        machines: Vec<(MachineId, ShopId)>,
        since: Option<i64>,
    ) -> Result<(), StoreError> {
        self.call(|reply| Op::Provision {
            machines,
            since,
            reply,
        })
        .await
    }

    pub async fn usage(&self, period: Period) -> Result<Vec<UsageRow>, StoreError> {
        self.call(|reply| Op::Usage { period, reply }).await
    }

    /// Runs `f` on the engine, in order after the ingestions before it are committed.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn MeteringEngine) -> Result<T, MeteringError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.call(|reply| {
            Op::Call(Box::new(move |engine: &mut dyn MeteringEngine| {
                let _ = reply.send(f(engine).map_err(StoreError::Engine));
            }))
        })
        .await
    }

    async fn call<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(op(reply))
            .await
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }
}

fn run(mut engine: Box<dyn MeteringEngine>, mut rx: mpsc::Receiver<Op>, metrics: &Metrics) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let (requests, events) = ingestion_size(&group);
        process(engine.as_mut(), group);
        metrics.committed(requests, events, started.elapsed().as_micros() as u64);
    }
    let _ = engine.commit();
}

/// Ingestion requests in the group, and their events.
fn ingestion_size(group: &[Op]) -> (u64, u64) {
    group
        .iter()
        .fold((0, 0), |(requests, events), op| match op {
            Op::Ingest { events: e, .. } => (requests + 1, events + e.len() as u64),
            _ => (requests, events),
        })
}

/// An ingestion waiting for the commit: where to answer, and what its ingest did.
type Waiting = (Reply<IngestReceipt>, Result<IngestReceipt, MeteringError>);

/// Ingests the group's events, commits once, then answers. Queries and provisioning are
/// answered in order, after the ingestions before them are committed.
fn process(engine: &mut dyn MeteringEngine, group: Vec<Op>) {
    let mut waiting: Vec<Waiting> = Vec::new();
    for op in group {
        match op {
            Op::Ingest { events, reply } => {
                let receipt = engine.ingest(&events);
                waiting.push((reply, receipt));
            }
            Op::Provision {
                machines,
                since,
                reply,
            } => {
                acknowledge(engine, &mut waiting);
                let done = match since {
                    None => engine.provision(&machines),
                    Some(t) => engine.provision_at(&machines, t),
                };
                let _ = reply.send(done.map_err(StoreError::Engine));
            }
            Op::Usage { period, reply } => {
                acknowledge(engine, &mut waiting);
                let _ = reply.send(engine.usage(period).map_err(StoreError::Engine));
            }
            Op::Call(f) => {
                acknowledge(engine, &mut waiting);
                f(engine);
            }
        }
    }
    acknowledge(engine, &mut waiting);
}

/// Commits, then answers every waiting ingestion. If any ingestion or the commit failed, the
/// engine rolled the whole open transaction back, so every waiting request fails (its sender
/// retries with the same ids; nothing was stored twice).
fn acknowledge(engine: &mut dyn MeteringEngine, waiting: &mut Vec<Waiting>) {
    if waiting.is_empty() {
        return;
    }
    let mut failure = None;
    let mut answers = Vec::with_capacity(waiting.len());
    for (reply, receipt) in waiting.drain(..) {
        // A failed ingestion fails the commit, so its placeholder receipt is never sent.
        let receipt = receipt.unwrap_or_else(|e| {
            failure.get_or_insert(e);
            IngestReceipt::default()
        });
        answers.push((reply, receipt));
    }
    let committed = failure
        .map_or_else(|| engine.commit(), Err)
        .map_err(Arc::new);
    for (reply, receipt) in answers {
        let answer = match &committed {
            Ok(()) => Ok(receipt),
            Err(e) => Err(StoreError::Group(e.clone())),
        };
        let _ = reply.send(answer);
    }
}
