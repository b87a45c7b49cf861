//! A worker's side: connect, pass ractor_cluster's handshake (the cookie), say hello to the
//! coordinator's gateway, then answer it until it finishes with this node. Every step has a
//! bound; a closed connection ends the worker at once.

use super::gateway::{ToCoordinator, WorkerArgs, WorkerGateway, COORDINATOR_GROUP};
use super::node::{Node, SessionEvent};
use super::wire::{Answer, Hello, Json, VERSION};
use super::{
    ClusterError, Note, Observer, WorkReport, WorkerOptions, ANSWER_BOUND, HANDSHAKE_BOUND,
};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};

pub async fn work(
    opts: &WorkerOptions,
    cookie: String,
    digest: Option<String>,
    observer: Arc<dyn Observer>,
) -> Result<WorkReport, ClusterError> {
    // A worker only connects out; its own listener stays on loopback, on any free port.
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let mut node = Node::start(&opts.name, listen, &cookie).await?;
    let (finished_tx, finished) = mpsc::unbounded_channel();
    let args = WorkerArgs {
        name: opts.name.clone(),
        finished: finished_tx,
    };
    let (gateway, _) = Actor::spawn(None, WorkerGateway, args)
        .await
        .map_err(|e| ClusterError::Runtime(format!("cannot start the gateway: {e}")))?;
    let result = session(opts, &mut node, digest, finished, &*observer).await;
    gateway.stop(None);
    node.stop();
    result
}

async fn session(
    opts: &WorkerOptions,
    node: &mut Node,
    digest: Option<String>,
    mut finished: mpsc::UnboundedReceiver<String>,
    observer: &dyn Observer,
) -> Result<WorkReport, ClusterError> {
    connect(opts, node).await?;
    observer.note(Note::Connected {
        addr: opts.join.clone(),
    });
    let coordinator = coordinator_gateway(opts).await?;
    let hello = Hello {
        version: VERSION.to_string(),
        scenario_digest: digest,
        node_name: opts.name.clone(),
    };
    let (index, workers, scenario_digest) = admitted(opts, node, &coordinator, hello).await?;
    observer.note(Note::Welcomed { index, workers });
    let why = until_finished(opts, node, &mut finished).await?;
    // Let the coordinator close first: the acknowledgement of its finish is then through.
    let _ = timeout_at(Instant::now() + ANSWER_BOUND, closed(node)).await;
    Ok(WorkReport {
        index,
        workers,
        scenario_digest,
        finished: why,
    })
}

/// TCP, then ractor_cluster's handshake up to the sync of both sides' groups.
async fn connect(opts: &WorkerOptions, node: &mut Node) -> Result<(), ClusterError> {
    let deadline = Instant::now() + HANDSHAKE_BOUND.min(opts.timeout);
    let unreachable = |why: String| ClusterError::Unreachable {
        addr: opts.join.clone(),
        why,
    };
    tcp_connect(opts, node, deadline)
        .await
        .map_err(unreachable)?;
    loop {
        match timeout_at(deadline, node.next()).await {
            Ok(Some(SessionEvent::Ready { .. })) => return Ok(()),
            Ok(Some(SessionEvent::Closed {
                authenticated: false,
                ..
            })) => {
                return Err(ClusterError::Handshake {
                    addr: opts.join.clone(),
                    name: opts.name.clone(),
                })
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err(ClusterError::Runtime("the node server stopped".into())),
            Err(_) => {
                return Err(ClusterError::NoHandshake {
                    addr: opts.join.clone(),
                    after: HANDSHAKE_BOUND.min(opts.timeout),
                })
            }
        }
    }
}

/// Retries a refused connection until the deadline: workers may start before the
/// coordinator listens (pods of one job start in any order).
async fn tcp_connect(opts: &WorkerOptions, node: &Node, deadline: Instant) -> Result<(), String> {
    loop {
        let attempt = ractor_cluster::client_connect(&node.server, opts.join.as_str());
        let why = match timeout_at(deadline, attempt).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(ractor_cluster::ClientConnectErr::Socket(io))) => io.to_string(),
            Ok(Err(other)) => return Err(other.to_string()),
            Err(_) => "no TCP connection".to_string(),
        };
        if Instant::now() + RETRY_EVERY >= deadline {
            let bound = HANDSHAKE_BOUND.min(opts.timeout).as_secs_f64();
            return Err(format!("{why} (retried for {bound}s)"));
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

const RETRY_EVERY: Duration = Duration::from_millis(100);

/// The coordinator's gateway, announced by the handshake's sync (polled: the group reaches
/// this node's registry just after its session is ready).
async fn coordinator_gateway(
    opts: &WorkerOptions,
) -> Result<ActorRef<ToCoordinator>, ClusterError> {
    let deadline = Instant::now() + ANSWER_BOUND;
    loop {
        if let Some(cell) = ractor::pg::get_members(&COORDINATOR_GROUP.to_string())
            .into_iter()
            .next()
        {
            return Ok(cell.into());
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::NoAnswer {
                node: format!("the coordinator at {}", opts.join),
                what: "(no fleetsim gateway announced: is it a fleetsim coordinator?)".to_string(),
                after: ANSWER_BOUND,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Hello, and the coordinator's answer: it comes once every worker has joined.
async fn admitted(
    opts: &WorkerOptions,
    node: &mut Node,
    coordinator: &ActorRef<ToCoordinator>,
    hello: Hello,
) -> Result<(u32, u32, String), ClusterError> {
    let call = coordinator.call(
        |reply| ToCoordinator::Hello(Json::ok(hello), reply),
        Some(opts.timeout),
    );
    let answer = tokio::select! {
        answer = call => answer,
        () = closed(node) => return Err(lost(opts, "waiting to be admitted")),
    };
    match answer {
        Ok(CallResult::Success(Json(Ok(Answer::Welcome {
            index,
            workers,
            scenario_digest,
        })))) => Ok((index, workers, scenario_digest)),
        Ok(CallResult::Success(Json(Ok(Answer::Refused(why))))) => Err(ClusterError::Refused(why)),
        Ok(CallResult::Success(Json(Err(why)))) => Err(ClusterError::Runtime(format!(
            "cannot read the coordinator's answer (another fleetsim version?): {why}"
        ))),
        Ok(CallResult::Timeout) => Err(ClusterError::NoAnswer {
            node: format!("the coordinator at {}", opts.join),
            what: "this worker's hello".to_string(),
            after: opts.timeout,
        }),
        Ok(CallResult::SenderError) | Err(_) => Err(lost(opts, "waiting to be admitted")),
    }
}

/// Until the coordinator finishes with this node: pings are answered by the gateway
/// meanwhile. A closed session or the timeout ends it in an error.
async fn until_finished(
    opts: &WorkerOptions,
    node: &mut Node,
    finished: &mut mpsc::UnboundedReceiver<String>,
) -> Result<String, ClusterError> {
    let deadline = Instant::now() + opts.timeout;
    tokio::select! {
        why = finished.recv() => why.ok_or_else(|| ClusterError::Runtime("the gateway stopped".into())),
        () = closed(node) => Err(lost(opts, "admitted, before the coordinator finished with this worker")),
        _ = tokio::time::sleep_until(deadline) => Err(ClusterError::NoAnswer {
            node: format!("the coordinator at {}", opts.join),
            what: "(it did not finish with this worker)".to_string(),
            after: opts.timeout,
        }),
    }
}

/// Returns when the session with the coordinator closes (or the node server stops).
async fn closed(node: &mut Node) {
    while let Some(event) = node.next().await {
        if let SessionEvent::Closed { .. } = event {
            return;
        }
    }
}

fn lost(opts: &WorkerOptions, doing: &str) -> ClusterError {
    ClusterError::Lost {
        node: format!("the coordinator at {}", opts.join),
        doing: doing.to_string(),
    }
}
