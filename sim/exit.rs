//! Documented process exit codes (README "Exit codes").

/// The run completed and reconciliation held.
pub const OK: i32 = 0;
/// A runtime failure: I/O, database, an actor died.
pub const RUNTIME: i32 = 1;
/// Bad input: a scenario file or a command-line argument is invalid.
pub const BAD_INPUT: i32 = 2;
/// Reconciliation failed: something was lost, counted twice or billed wrongly.
pub const RECONCILIATION: i32 = 3;
/// `catalogue check`: the catalogue is valid but inconsistent (buying more costs less somewhere).
pub const INCONSISTENT: i32 = 4;
/// Cluster (`worker`, `cluster-check`): a node was refused at the handshake (cookie, version,
/// scenario, too many), or did not join, answer or stay connected within its bound.
pub const CLUSTER: i32 = 5;
/// `load`: the run completed but a `--threshold` was violated (k6 uses 99 too).
pub const THRESHOLD_FAILED: i32 = 99;
