//! One gateway actor per node, the only remote-capable actor of a run: ractor_cluster
//! announces every remote-capable actor to every peer, so shops and machines stay local
//! (their messages derive `RactorMessage`, not `RactorClusterMessage`) and all traffic
//! between nodes goes gateway to gateway.

use super::wire::{Answer, Hello, Json, Refusal};
use super::{Note, Observer};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The process group of the coordinator's gateway.
pub const COORDINATOR_GROUP: &str = "fleetsim.coordinator";

/// The process group of worker `name`'s gateway (one per worker: a group is how a peer's
/// actor is found, and the coordinator must find each worker's own).
pub fn worker_group(name: &str) -> String {
    format!("fleetsim.worker.{name}")
}

/// Messages to the coordinator's gateway.
#[derive(RactorClusterMessage)]
pub enum ToCoordinator {
    /// A worker asks to join; answered once every worker has (indices need them all), or at
    /// once if refused.
    #[rpc]
    Hello(Json<Hello>, RpcReplyPort<Json<Answer>>),
    /// Worker `name`'s node disconnected: it no longer counts as joined.
    Left(Json<String>),
    /// From the coordinator itself: stop waiting; answers who had joined.
    #[rpc]
    Close(Json<()>, RpcReplyPort<Json<Closing>>),
}

/// What `Close` found.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Closing {
    /// Every worker had joined already (the last hello won the race with the timeout).
    Full(Vec<String>),
    /// These had joined (sorted by name); they are refused now.
    Closed(Vec<String>),
}

/// Messages to a worker's gateway.
#[derive(RactorClusterMessage)]
pub enum ToWorker {
    /// Answered with the same number at once: the round trip through both gateways.
    #[rpc]
    Ping(Json<u64>, RpcReplyPort<Json<u64>>),
    /// The coordinator is done with this node (why, for the worker's report).
    #[rpc]
    Finish(Json<String>, RpcReplyPort<Json<()>>),
}

/// Who may join: the coordinator's version, scenario and number of workers.
#[derive(Debug, Clone)]
pub struct Admission {
    pub version: String,
    pub scenario_digest: String,
    pub workers: u32,
}

/// Whether `hello` may join, given who has: version first (a peer of another version may
/// mean anything by the rest), then the scenario, then the name, then room.
pub fn admit<V>(
    rules: &Admission,
    hello: &Hello,
    joined: &BTreeMap<String, V>,
) -> Result<(), Refusal> {
    if hello.version != rules.version {
        return Err(Refusal::Version {
            coordinator: rules.version.clone(),
            worker: hello.version.clone(),
        });
    }
    if let Some(theirs) = &hello.scenario_digest {
        if *theirs != rules.scenario_digest {
            return Err(Refusal::Scenario {
                coordinator: rules.scenario_digest.clone(),
                worker: theirs.clone(),
            });
        }
    }
    if joined.contains_key(&hello.node_name) {
        return Err(Refusal::DuplicateName {
            name: hello.node_name.clone(),
        });
    }
    if joined.len() >= rules.workers as usize {
        return Err(Refusal::TooMany {
            workers: rules.workers,
        });
    }
    Ok(())
}

/// Indices by node name: deterministic whatever order the workers connected in.
pub fn welcomes<V>(rules: &Admission, joined: &BTreeMap<String, V>) -> Vec<(String, Answer)> {
    joined
        .keys()
        .enumerate()
        .map(|(index, name)| {
            let answer = Answer::Welcome {
                index: index as u32,
                workers: rules.workers,
                scenario_digest: rules.scenario_digest.clone(),
            };
            (name.clone(), answer)
        })
        .collect()
}

pub struct CoordinatorGateway;

pub struct CoordinatorArgs {
    pub rules: Admission,
    /// Gets the workers' names (sorted) once every one has joined.
    pub full: mpsc::UnboundedSender<Vec<String>>,
    pub observer: Arc<dyn Observer>,
}

pub struct CoordinatorState {
    args: CoordinatorArgs,
    /// Joined and waiting for their welcome, by name.
    waiting: BTreeMap<String, RpcReplyPort<Json<Answer>>>,
    /// Set once every worker is welcomed, or the wait closed: later hellos get this.
    done: Option<Refusal>,
    welcomed: Vec<String>,
}

impl Actor for CoordinatorGateway {
    type Msg = ToCoordinator;
    type State = CoordinatorState;
    type Arguments = CoordinatorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ToCoordinator>,
        args: CoordinatorArgs,
    ) -> Result<CoordinatorState, ActorProcessingErr> {
        ractor::pg::join(COORDINATOR_GROUP.to_string(), vec![myself.get_cell()]);
        Ok(CoordinatorState {
            args,
            waiting: BTreeMap::new(),
            done: None,
            welcomed: Vec::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ToCoordinator>,
        msg: ToCoordinator,
        state: &mut CoordinatorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ToCoordinator::Hello(Json(hello), reply) => state.hello(hello, reply),
            ToCoordinator::Left(Json(Ok(name))) => state.left(name),
            ToCoordinator::Left(Json(Err(_))) => {}
            ToCoordinator::Close(_, reply) => {
                let _ = reply.send(Json::ok(state.close()));
            }
        }
        Ok(())
    }
}

impl CoordinatorState {
    fn hello(&mut self, hello: Result<Hello, String>, reply: RpcReplyPort<Json<Answer>>) {
        let verdict = match (&hello, &self.done) {
            (Err(why), _) => Err(Refusal::Garbled { why: why.clone() }),
            (Ok(_), Some(refusal)) => Err(refusal.clone()),
            (Ok(h), None) => admit(&self.args.rules, h, &self.waiting),
        };
        match (hello, verdict) {
            (_, Err(refusal)) => {
                let _ = reply.send(Json::ok(Answer::Refused(refusal)));
            }
            (Ok(h), Ok(())) => {
                self.waiting.insert(h.node_name.clone(), reply);
                self.args.observer.note(Note::Joined {
                    name: h.node_name,
                    joined: self.waiting.len() as u32,
                    workers: self.args.rules.workers,
                });
                if self.waiting.len() == self.args.rules.workers as usize {
                    self.welcome_all();
                }
            }
            (Err(_), Ok(())) => unreachable!("an undecodable hello is refused"),
        }
    }

    fn left(&mut self, name: String) {
        if self.waiting.remove(&name).is_some() {
            self.args.observer.note(Note::Left {
                name,
                joined: self.waiting.len() as u32,
                workers: self.args.rules.workers,
            });
        }
    }

    fn welcome_all(&mut self) {
        for (name, answer) in welcomes(&self.args.rules, &self.waiting) {
            if let Some(reply) = self.waiting.remove(&name) {
                let _ = reply.send(Json::ok(answer));
            }
            self.welcomed.push(name);
        }
        self.done = Some(Refusal::TooMany {
            workers: self.args.rules.workers,
        });
        let _ = self.args.full.send(self.welcomed.clone());
    }

    fn close(&mut self) -> Closing {
        if !self.welcomed.is_empty() {
            return Closing::Full(self.welcomed.clone());
        }
        let refusal = Refusal::Timeout {
            joined: self.waiting.len() as u32,
            workers: self.args.rules.workers,
        };
        let names: Vec<String> = self.waiting.keys().cloned().collect();
        for (_, reply) in std::mem::take(&mut self.waiting) {
            let _ = reply.send(Json::ok(Answer::Refused(refusal.clone())));
        }
        self.done = Some(refusal);
        Closing::Closed(names)
    }
}

pub struct WorkerGateway;

pub struct WorkerArgs {
    pub name: String,
    /// Gets the coordinator's reason when it finishes with this node.
    pub finished: mpsc::UnboundedSender<String>,
}

impl Actor for WorkerGateway {
    type Msg = ToWorker;
    type State = WorkerArgs;
    type Arguments = WorkerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ToWorker>,
        args: WorkerArgs,
    ) -> Result<WorkerArgs, ActorProcessingErr> {
        // Before connecting: the group then reaches the coordinator with the handshake's sync.
        ractor::pg::join(worker_group(&args.name), vec![myself.get_cell()]);
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<ToWorker>,
        msg: ToWorker,
        state: &mut WorkerArgs,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ToWorker::Ping(n, reply) => {
                let _ = reply.send(n);
            }
            ToWorker::Finish(Json(why), reply) => {
                let _ = reply.send(Json::ok(()));
                let _ = state.finished.send(why.unwrap_or_else(|e| e.to_string()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::wire::VERSION;

    fn rules() -> Admission {
        Admission {
            version: VERSION.to_string(),
            scenario_digest: "aa".to_string(),
            workers: 2,
        }
    }

    fn hello(name: &str, version: &str, digest: Option<&str>) -> Hello {
        Hello {
            version: version.to_string(),
            scenario_digest: digest.map(str::to_string),
            node_name: name.to_string(),
        }
    }

    #[test]
    fn each_refusal_names_its_reason() {
        let none: BTreeMap<String, ()> = BTreeMap::new();
        let r = admit(&rules(), &hello("w", "0.0.1", Some("aa")), &none);
        assert!(matches!(r, Err(Refusal::Version { .. })), "{r:?}");
        let r = admit(&rules(), &hello("w", VERSION, Some("bb")), &none);
        assert!(matches!(r, Err(Refusal::Scenario { .. })), "{r:?}");
        assert_eq!(admit(&rules(), &hello("w", VERSION, None), &none), Ok(()));
        let one = BTreeMap::from([("w".to_string(), ())]);
        let r = admit(&rules(), &hello("w", VERSION, Some("aa")), &one);
        assert!(matches!(r, Err(Refusal::DuplicateName { .. })), "{r:?}");
        let two = BTreeMap::from([("a".to_string(), ()), ("b".to_string(), ())]);
        let r = admit(&rules(), &hello("c", VERSION, Some("aa")), &two);
        assert_eq!(r, Err(Refusal::TooMany { workers: 2 }));
        let msg = Refusal::Version {
            coordinator: "0.2.0".into(),
            worker: "0.1.0".into(),
        };
        assert!(msg.to_string().starts_with("version mismatch"), "{msg}");
    }

    #[test]
    fn indices_follow_the_names_not_the_joining_order() {
        let joined = BTreeMap::from([("w2".to_string(), ()), ("w1".to_string(), ())]);
        let w = welcomes(&rules(), &joined);
        let names: Vec<(&str, u32)> = w
            .iter()
            .map(|(n, a)| match a {
                Answer::Welcome { index, .. } => (n.as_str(), *index),
                Answer::Refused(_) => panic!("refused"),
            })
            .collect();
        assert_eq!(names, [("w1", 0), ("w2", 1)]);
    }
}
