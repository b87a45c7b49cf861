//! The access store's own thread, like `writer` for the engine: every write to the access
//! file (a key minted or revoked, machines bound) and every read of it (a tenant's keys) runs
//! there, in arrival order, so no SQLite call — its lock waits, its `synchronous=FULL` fsync —
//! ever runs on a runtime worker. Requests authenticate from the shared `AccessView`, which the
//! thread updates after each commit and before it answers.

use super::access::{AccessError, AccessStore, AccessView};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use tokio::sync::{mpsc, oneshot};

/// Calls waiting for the thread at most; more wait for room (admin calls are rare).
const QUEUE: usize = 64;

type Job = Box<dyn FnOnce(&mut AccessStore) + Send>;

#[derive(Clone)]
pub struct Access {
    tx: mpsc::Sender<Job>,
    view: Arc<RwLock<AccessView>>,
}

impl Access {
    /// Starts the thread; it stops when every `Access` is dropped.
    pub fn spawn(mut store: AccessStore) -> (Access, std::thread::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
        let view = store.view();
        let join = std::thread::Builder::new()
            .name("fleetsim-access".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    job(&mut store);
                }
            })
            .expect("spawning a thread");
        (Access { tx, view }, join)
    }

    /// What requests read: keys, tenants, bindings, as of the last commit.
    pub fn view(&self) -> RwLockReadGuard<'_, AccessView> {
        self.view.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the access thread, after the calls before it.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut AccessStore) -> Result<T, AccessError> + Send + 'static,
    ) -> Result<T, AccessError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = reply.send(f(store));
        });
        self.tx.send(job).await.map_err(|_| AccessError::Stopped)?;
        answer.await.map_err(|_| AccessError::Stopped)?
    }
}
