//! What the gateways say to each other: the handshake of our own protocol, on top of
//! ractor_cluster's (which only checks the cookie). JSON inside ractor's byte frames, so that
//! a peer of another fleetsim version is read far enough to be told so.

use ractor::BytesConvertable;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// This build's version, the one every node of a run must share.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A value as it came off the wire: decoded, or why it could not be. ractor's
/// `BytesConvertable::from_bytes` cannot fail, and a panic there would kill the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json<T>(pub Result<T, String>);

impl<T> Json<T> {
    pub fn ok(value: T) -> Self {
        Json(Ok(value))
    }
}

impl<T: Serialize + DeserializeOwned> BytesConvertable for Json<T> {
    fn into_bytes(self) -> Vec<u8> {
        // An undecodable value goes as no bytes, which the peer reads as undecodable.
        match self.0 {
            Ok(value) => serde_json::to_vec(&value).unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    fn from_bytes(bytes: Vec<u8>) -> Self {
        Json(serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    }
}

/// Worker → coordinator, the first thing a worker's gateway says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: String,
    /// SHA-256 of the worker's scenario file, lower-case hex; `None`: the worker was started
    /// without `--scenario` and takes the coordinator's.
    pub scenario_digest: Option<String>,
    pub node_name: String,
}

/// Coordinator → worker, the answer to its `Hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// Admitted as worker `index` (0-based) of `workers`; the run's scenario is the one with
    /// this digest.
    Welcome {
        index: u32,
        workers: u32,
        scenario_digest: String,
    },
    Refused(Refusal),
}

/// Why the coordinator will not take a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    Version {
        coordinator: String,
        worker: String,
    },
    Scenario {
        coordinator: String,
        worker: String,
    },
    TooMany {
        workers: u32,
    },
    DuplicateName {
        name: String,
    },
    /// The coordinator stopped waiting before every worker joined.
    Timeout {
        joined: u32,
        workers: u32,
    },
    /// The worker's hello could not be read.
    Garbled {
        why: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Version {
                coordinator,
                worker,
            } => write!(
                f,
                "version mismatch: the coordinator runs fleetsim {coordinator}, this worker {worker}"
            ),
            Refusal::Scenario {
                coordinator,
                worker,
            } => write!(
                f,
                "scenario mismatch: the coordinator's scenario file has SHA-256 {coordinator}, this worker's {worker}"
            ),
            Refusal::TooMany { workers } => write!(
                f,
                "too many workers: the coordinator wants {workers} and has them all"
            ),
            Refusal::DuplicateName { name } => write!(
                f,
                "a worker named {name:?} has already joined (give each worker its own --name)"
            ),
            Refusal::Timeout { joined, workers } => write!(
                f,
                "the coordinator stopped waiting: only {joined} of {workers} workers joined in time"
            ),
            Refusal::Garbled { why } => write!(
                f,
                "the coordinator could not read this worker's hello (another fleetsim version?): {why}"
            ),
        }
    }
}

/// SHA-256 of a file's bytes, lower-case hex: what "the same scenario" means across nodes.
pub fn digest(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let sum = Sha256::digest(bytes);
    let mut out = String::with_capacity(2 * sum.len());
    for b in sum {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_and_an_answer_survive_the_wire() {
        let hello = Hello {
            version: VERSION.to_string(),
            scenario_digest: Some(digest(b"x")),
            node_name: "w1".to_string(),
        };
        let back = Json::<Hello>::from_bytes(Json::ok(hello.clone()).into_bytes());
        assert_eq!(back, Json::ok(hello));
        let answer = Answer::Refused(Refusal::TooMany { workers: 2 });
        let back = Json::<Answer>::from_bytes(Json::ok(answer.clone()).into_bytes());
        assert_eq!(back, Json::ok(answer));
    }

    #[test]
    fn garbage_decodes_as_an_error_not_a_panic() {
        assert!(Json::<Hello>::from_bytes(b"\xff{".to_vec()).0.is_err());
        assert!(Json::<Hello>::from_bytes(Vec::new()).0.is_err());
    }

    #[test]
    fn the_digest_is_sha256_in_hex() {
        assert_eq!(
            digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
