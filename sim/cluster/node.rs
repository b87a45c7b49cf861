//! A ractor_cluster node: its `NodeServer` and what happens to its sessions, as a channel.

use super::ClusterError;
use ractor::{Actor, ActorRef};
use ractor_cluster::node::{NodeConnectionMode, NodeServerSessionInformation};
use ractor_cluster::{NodeEventSubscription, NodeServer, NodeServerMessage};
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// A session's news, in the order the node server saw it.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// Authenticated (the cookies matched) and the peer's actors and groups are synced.
    Ready {
        peer: String,
        peer_addr: String,
    },
    /// Closed; `authenticated` false means it never passed ractor_cluster's handshake.
    Closed {
        session: u64,
        peer: Option<String>,
        peer_addr: String,
        authenticated: bool,
    },
    Authenticated {
        session: u64,
    },
}

pub struct Node {
    pub server: ActorRef<NodeServerMessage>,
    pub events: mpsc::UnboundedReceiver<SessionEvent>,
    /// Sessions authenticated and not closed yet.
    authenticated: std::collections::BTreeSet<u64>,
}

/// Forwards the node server's callbacks (called on its actor) to a channel.
struct Forward(mpsc::UnboundedSender<SessionEvent>);

impl NodeEventSubscription for Forward {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {}

    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(SessionEvent::Authenticated {
            session: ses.node_id,
        });
    }

    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(SessionEvent::Ready {
            peer: peer_name(&ses).unwrap_or_default(),
            peer_addr: ses.peer_addr.clone(),
        });
    }

    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        // `authenticated` is filled in by `Node::next`, which saw the earlier events.
        let _ = self.0.send(SessionEvent::Closed {
            session: ses.node_id,
            peer: peer_name(&ses),
            peer_addr: ses.peer_addr.clone(),
            authenticated: false,
        });
    }
}

/// Our node name, without ractor_cluster's `@host`.
fn peer_name(ses: &NodeServerSessionInformation) -> Option<String> {
    let name = &ses.peer_name.as_ref()?.name;
    Some(
        name.split_once('@')
            .map_or(name.as_str(), |(n, _)| n)
            .to_string(),
    )
}

impl Node {
    /// Starts a node named `name` listening on `listen` (port 0: any free port, for a node
    /// that only connects out). Isolated: workers talk to the coordinator, not to each other.
    pub async fn start(name: &str, listen: SocketAddr, cookie: &str) -> Result<Node, ClusterError> {
        let server = NodeServer::new(
            listen.port(),
            cookie.to_string(),
            name.to_string(),
            listen.ip().to_string(),
            None,
            Some(NodeConnectionMode::Isolated),
        )
        .with_listen_addr(listen.ip());
        let (server, _) =
            Actor::spawn(None, server, ())
                .await
                .map_err(|e| ClusterError::Listen {
                    addr: listen.to_string(),
                    why: e.to_string(),
                })?;
        let (tx, events) = mpsc::unbounded_channel();
        server
            .cast(NodeServerMessage::SubscribeToEvents {
                id: "fleetsim".to_string(),
                subscription: Box::new(Forward(tx)),
            })
            .map_err(|e| ClusterError::Runtime(format!("node server: {e}")))?;
        Ok(Node {
            server,
            events,
            authenticated: Default::default(),
        })
    }

    /// The next session event, with `Closed::authenticated` telling a session that had
    /// passed the handshake from one that never did.
    pub async fn next(&mut self) -> Option<SessionEvent> {
        let mut event = self.events.recv().await?;
        match &mut event {
            SessionEvent::Authenticated { session } => {
                self.authenticated.insert(*session);
            }
            SessionEvent::Closed {
                session,
                authenticated,
                ..
            } => *authenticated = self.authenticated.remove(session),
            SessionEvent::Ready { .. } => {}
        }
        Some(event)
    }

    /// Node name → peer address of every authenticated session, asked of the node server
    /// (its session callbacks and the gateways' messages are not ordered with each other).
    pub async fn peers(&self) -> std::collections::BTreeMap<String, String> {
        let sessions = self
            .server
            .call(NodeServerMessage::GetSessions, Some(super::ANSWER_BOUND))
            .await;
        match sessions {
            Ok(ractor::rpc::CallResult::Success(sessions)) => sessions
                .values()
                .filter_map(|ses| Some((peer_name(ses)?, ses.peer_addr.clone())))
                .collect(),
            _ => Default::default(),
        }
    }

    /// How many sessions are authenticated and open.
    pub fn open_sessions(&self) -> usize {
        self.authenticated.len()
    }

    pub fn stop(&self) {
        self.server.stop(None);
    }
}
