//! The coordinator's side of the handshake: listen, wait for every worker (bounded), ping
//! each through the gateways, let them go.

use super::gateway::{
    worker_group, Admission, Closing, CoordinatorArgs, CoordinatorGateway, ToCoordinator, ToWorker,
};
use super::node::{Node, SessionEvent};
use super::wire::{Json, VERSION};
use super::{
    CheckOptions, CheckReport, ClusterError, JoinedWorker, Note, Observer, RoundTrips, ANSWER_BOUND,
};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Who connected, as the coordinator's node saw them while it waited.
#[derive(Default)]
struct Sessions {
    /// Node name → peer address, of the sessions whose readiness was seen (the node server
    /// is asked again at the end: callbacks and gateway messages are not ordered).
    ready: BTreeMap<String, String>,
    handshake_failures: u32,
}

pub async fn check(
    opts: &CheckOptions,
    cookie: String,
    scenario_digest: String,
    observer: Arc<dyn Observer>,
) -> Result<CheckReport, ClusterError> {
    let mut node = Node::start("coordinator", opts.listen, &cookie).await?;
    let (full_tx, mut full) = mpsc::unbounded_channel();
    let rules = Admission {
        version: VERSION.to_string(),
        scenario_digest: scenario_digest.clone(),
        workers: opts.workers,
    };
    let args = CoordinatorArgs {
        rules,
        full: full_tx,
        observer: observer.clone(),
    };
    let (gateway, _) = Actor::spawn(None, CoordinatorGateway, args)
        .await
        .map_err(|e| ClusterError::Runtime(format!("cannot start the gateway: {e}")))?;
    observer.note(Note::Listening {
        addr: opts.listen,
        workers: opts.workers,
    });
    let mut sessions = Sessions::default();
    let result = match wait_for_workers(
        opts,
        &mut node,
        &gateway,
        &mut full,
        &mut sessions,
        &*observer,
    )
    .await
    {
        Ok(names) => ping_all(opts, &names, &node.peers().await)
            .await
            .map(|workers| CheckReport {
                listen: opts.listen,
                scenario_digest,
                workers,
                handshake_failures: sessions.handshake_failures,
            }),
        Err(e) => Err(e),
    };
    let _ = finish_all(&mut node, &sessions, &result).await;
    gateway.stop(None);
    node.stop();
    result
}

/// Until every worker has joined, or the timeout: then the ones waiting are refused.
async fn wait_for_workers(
    opts: &CheckOptions,
    node: &mut Node,
    gateway: &ActorRef<ToCoordinator>,
    full: &mut mpsc::UnboundedReceiver<Vec<String>>,
    sessions: &mut Sessions,
    observer: &dyn Observer,
) -> Result<Vec<String>, ClusterError> {
    let deadline = tokio::time::Instant::now() + opts.timeout;
    loop {
        tokio::select! {
            names = full.recv() => {
                return names.ok_or_else(|| ClusterError::Runtime("the gateway stopped".into()));
            }
            event = node.next() => match event {
                Some(event) => sessions.saw(event, gateway, observer),
                None => return Err(ClusterError::Runtime("the node server stopped".into())),
            },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    match close(gateway).await? {
        Closing::Full(names) => Ok(names),
        Closing::Closed(joined) => Err(ClusterError::NotEnoughWorkers {
            joined,
            workers: opts.workers,
            after: opts.timeout,
            handshake_failures: sessions.handshake_failures,
        }),
    }
}

impl Sessions {
    fn saw(
        &mut self,
        event: SessionEvent,
        gateway: &ActorRef<ToCoordinator>,
        observer: &dyn Observer,
    ) {
        match event {
            SessionEvent::Ready { peer, peer_addr } => {
                self.ready.insert(peer, peer_addr);
            }
            SessionEvent::Closed {
                peer,
                peer_addr,
                authenticated,
                ..
            } => {
                if !authenticated {
                    self.handshake_failures += 1;
                    observer.note(Note::HandshakeFailed { peer_addr });
                } else if let Some(name) = peer {
                    self.ready.remove(&name);
                    let _ = gateway.cast(ToCoordinator::Left(Json::ok(name)));
                }
            }
            SessionEvent::Authenticated { .. } => {}
        }
    }
}

async fn close(gateway: &ActorRef<ToCoordinator>) -> Result<Closing, ClusterError> {
    match gateway
        .call(
            |reply| ToCoordinator::Close(Json::ok(()), reply),
            Some(ANSWER_BOUND),
        )
        .await
    {
        Ok(CallResult::Success(Json(Ok(closing)))) => Ok(closing),
        _ => Err(ClusterError::Runtime("the gateway did not answer".into())),
    }
}

/// The worker's gateway, found through its process group (synced by the handshake).
async fn worker_gateway(name: &str) -> Result<ActorRef<ToWorker>, ClusterError> {
    let deadline = Instant::now() + ANSWER_BOUND;
    loop {
        if let Some(cell) = ractor::pg::get_members(&worker_group(name))
            .into_iter()
            .next()
        {
            return Ok(cell.into());
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::NoAnswer {
                node: name.to_string(),
                what: "(its gateway was not announced)".to_string(),
                after: ANSWER_BOUND,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn ping_all(
    opts: &CheckOptions,
    names: &[String],
    peers: &BTreeMap<String, String>,
) -> Result<Vec<JoinedWorker>, ClusterError> {
    let mut workers = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let gateway = worker_gateway(name).await?;
        workers.push(JoinedWorker {
            index: index as u32,
            name: name.clone(),
            peer_addr: peers.get(name).cloned().unwrap_or_default(),
            rtt: ping(&gateway, name, opts.pings).await?,
        });
    }
    Ok(workers)
}

/// `count` pings one after the other, each timed from send to answer.
async fn ping(
    gateway: &ActorRef<ToWorker>,
    name: &str,
    count: u32,
) -> Result<RoundTrips, ClusterError> {
    let mut samples = Vec::with_capacity(count as usize);
    for n in 0..u64::from(count) {
        let start = Instant::now();
        let answer = gateway
            .call(
                |reply| ToWorker::Ping(Json::ok(n), reply),
                Some(ANSWER_BOUND),
            )
            .await;
        match answer {
            Ok(CallResult::Success(Json(Ok(m)))) if m == n => samples.push(start.elapsed()),
            _ => {
                return Err(ClusterError::NoAnswer {
                    node: name.to_string(),
                    what: format!("ping {}", n + 1),
                    after: ANSWER_BOUND,
                })
            }
        }
    }
    Ok(RoundTrips::of(samples))
}

/// Tells each connected worker the check is over, and waits (bounded) for them to go, so
/// that the last answers reach them before this process ends.
async fn finish_all(
    node: &mut Node,
    sessions: &Sessions,
    result: &Result<CheckReport, ClusterError>,
) -> Result<(), ClusterError> {
    let why = match result {
        Ok(_) => "the cluster check is complete".to_string(),
        Err(e) => format!("the coordinator stopped: {e}"),
    };
    // Every session the node server knows, not only those whose callback was seen yet.
    let peers = node.peers().await;
    let names: BTreeSet<&String> = peers.keys().chain(sessions.ready.keys()).collect();
    for name in names {
        let Some(cell) = ractor::pg::get_members(&worker_group(name))
            .into_iter()
            .next()
        else {
            continue;
        };
        let gateway = ActorRef::<ToWorker>::from(cell);
        let finish = |reply| ToWorker::Finish(Json::ok(why.clone()), reply);
        let _ = gateway.call(finish, Some(ANSWER_BOUND)).await;
    }
    let deadline = tokio::time::Instant::now() + ANSWER_BOUND;
    while node.open_sessions() > 0 {
        match tokio::time::timeout_at(deadline, node.next()).await {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    Ok(())
}
