//! The metering engine's public interface: provisioning, idempotent ingestion, usage queries.
//!
//! **API boundary.** The simulator (and, later, the HTTP server) reaches an engine only
//! through `MeteringEngine`; nothing outside `metering::sqlite` knows its tables. A foreign
//! engine plugs in by implementing this trait (or behind the HTTP transport).

pub mod health_book;
#[cfg(test)]
mod plan_tests;
pub mod seen;
pub mod sqlite;
pub mod vee;
pub mod vee_book;

pub use crate::billing::service::Incident;
pub use crate::billing::{Basis, Contract, CounterDue, Invoice, PlanAgreement, PlanTerms};
use crate::calendar::Period;
use crate::event::{Health, MachineId, ShopId, UsageEvent};
use serde::Serialize;
use std::collections::BTreeMap;

/// Why an event was refused. Refused events are counted, never stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The source machine was never provisioned.
    UnknownMachine,
    /// The subject shop is not the shop the machine was installed at at the event's time
    /// (or it was installed nowhere then: before its first stay, or in transit).
    WrongShop,
}

/// What one `ingest` call did with its events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IngestReceipt {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected_unknown_machine: u64,
    pub rejected_wrong_shop: u64,
}

impl IngestReceipt {
    pub fn total(&self) -> u64 {
        self.accepted + self.duplicates + self.rejected_unknown_machine + self.rejected_wrong_shop
    }

    pub fn add(&mut self, other: &IngestReceipt) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected_unknown_machine += other.rejected_unknown_machine;
        self.rejected_wrong_shop += other.rejected_wrong_shop;
    }

    pub fn reject(&mut self, reason: RejectReason) {
        match reason {
            RejectReason::UnknownMachine => self.rejected_unknown_machine += 1,
            RejectReason::WrongShop => self.rejected_wrong_shop += 1,
        }
    }
}

/// Metered usage of one shop in one period, as the engine counted it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    pub shop: ShopId,
    /// Billable mountings (remakes included).
    pub billable_mountings: u64,
    pub trace_only: u64,
    pub remakes: u64,
    pub counter_reads: u64,
}

/// Counter-metered usage (after VEE) of one shop in one period: sums over its machines.
/// For a period not closed yet, what is booked so far (no estimate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CounterUsageRow {
    pub shop: ShopId,
    #[serde(flatten)]
    pub usage: CounterDue,
    /// Machines of the shop whose unread tail was estimated when the period closed.
    pub estimated_machines: u32,
}

/// A machine's latest health report as the engine keeps it (`MeteringEngine::machine_health`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineHealth {
    pub machine: MachineId,
    /// The shop the reading came from.
    pub shop: ShopId,
    /// Unix seconds: the reading's event time.
    pub time: i64,
    pub seq: u64,
    pub health: Health,
}

#[derive(Debug, thiserror::Error)]
pub enum MeteringError {
    #[error("metering store: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("metering store at {path}: {message}")]
    Open { path: String, message: String },
    /// Invoicing failed (an amount overflowed); nothing of the close was kept.
    #[error("billing: {0}")]
    Billing(#[from] crate::billing::BillingError),
    /// The store holds something this call contradicts (e.g. another counter width).
    #[error("metering store: {0}")]
    Conflict(String),
    /// The engine is remote and did not answer as it should (after retries).
    #[error("metering engine at {url}: {message}")]
    Remote { url: String, message: String },
    /// The remote engine refused the call (HTTP 4xx other than 429): sent again unchanged it
    /// would be refused again, so it was not retried.
    #[error("metering engine at {url}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    /// A catalogue that does not parse or validate (the message places the problem at
    /// line:column), or a plan contract without a catalogue to resolve it.
    #[error("{0}")]
    Catalogue(String),
    /// One contract of a batch names something the catalogue does not have; nothing was stored.
    #[error("contract {index} (shop {shop}): {message}")]
    Contract {
        index: usize,
        shop: ShopId,
        message: String,
    },
    /// Input for a period that is already closed (its invoices are issued and never change).
    #[error("{period} is already closed: {what}")]
    PeriodClosed { period: Period, what: String },
    /// The engine does not implement this call.
    #[error("this metering engine does not support {0}")]
    Unsupported(&'static str),
    /// A value the store cannot keep exactly (a sequence number above i64::MAX); nothing of
    /// the call was stored.
    #[error("metering store: {0}")]
    Unstorable(String),
    /// The call names something the engine cannot take (e.g. a machine id above its limit).
    #[error("{0}")]
    Invalid(String),
    /// The store holds a value this engine never writes (a damaged or foreign file), named by
    /// table, row and column; nothing was done with it.
    #[error("metering store: table `{table}`, row {row}: {message}")]
    Corrupt {
        table: &'static str,
        row: String,
        message: String,
    },
}

/// Who can make a failed call succeed: the caller by changing it, or anyone by retrying it
/// unchanged later. The one rule for every engine error (`MeteringError::class`); the HTTP
/// server answers by it (`http::problem`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The call itself is wrong (a catalogue that does not validate, a contract naming what
    /// the catalogue lacks): change it. HTTP 400.
    Invalid,
    /// The call contradicts what the store holds (a period already closed, a catalogue that
    /// would break a stored contract, another counter width): change it. HTTP 409.
    Conflict,
    /// Well formed, but what is stored cannot be billed (an amount past 64-bit cents, a plan
    /// that does not rate): change the contract or the catalogue, then call again. HTTP 422.
    Unprocessable,
    /// The store is unavailable (locked, busy, I/O failing, full, read-only) or a remote engine
    /// did not answer: nothing was done, and the same call succeeds once it is back. HTTP 503
    /// with Retry-After.
    Transient,
    /// The engine does not implement the call. HTTP 501.
    Unsupported,
    /// The store is damaged or the engine is broken: neither the caller nor a retry can fix
    /// it. HTTP 500.
    Internal,
}

impl MeteringError {
    pub fn class(&self) -> ErrorClass {
        use crate::billing::BillingError;
        match self {
            MeteringError::Store(e) => ErrorClass::of_sqlite(e),
            MeteringError::Open { .. } => ErrorClass::Internal,
            MeteringError::Billing(BillingError::UnknownShop(_)) => ErrorClass::Internal,
            MeteringError::Billing(BillingError::Catalogue(_)) => ErrorClass::Invalid,
            MeteringError::Billing(BillingError::Money { .. } | BillingError::Plan { .. }) => {
                ErrorClass::Unprocessable
            }
            MeteringError::Conflict(_) | MeteringError::PeriodClosed { .. } => ErrorClass::Conflict,
            MeteringError::Remote { .. } => ErrorClass::Transient,
            MeteringError::Refused { status, .. } => match status {
                409 => ErrorClass::Conflict,
                422 => ErrorClass::Unprocessable,
                _ => ErrorClass::Invalid,
            },
            MeteringError::Catalogue(_)
            | MeteringError::Contract { .. }
            | MeteringError::Unstorable(_)
            | MeteringError::Invalid(_) => ErrorClass::Invalid,
            MeteringError::Unsupported(_) => ErrorClass::Unsupported,
            MeteringError::Corrupt { .. } => ErrorClass::Internal,
        }
    }

    /// Whether the same call may succeed later, unchanged.
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }
}

impl ErrorClass {
    /// A SQLite error: transient if it ends when the store is back (the lock released, the
    /// disk freed or writable again); any other means a damaged store or a bug.
    pub fn of_sqlite(e: &rusqlite::Error) -> ErrorClass {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            Some(
                DatabaseBusy
                | DatabaseLocked
                | SystemIoFailure
                | DiskFull
                | ReadOnly
                | CannotOpen
                | OutOfMemory
                | FileLockingProtocolFailed,
            ) => ErrorClass::Transient,
            _ => ErrorClass::Internal,
        }
    }
}

/// The engine as the simulator (and the HTTP server) sees it.
pub trait MeteringEngine: Send {
    /// Declares shops and binds machines to them. Idempotent. A machine already installed
    /// elsewhere whose latest reading is a removal read moves: its new stay begins the second
    /// after that read (see `provision_at`); one not removed is rebound.
    fn provision(&mut self, machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError>;

    /// `provision`, with the machines installed at `since` (Unix seconds): a new machine's
    /// events before then are refused, and a machine removed from another shop (its latest
    /// accepted reading a removal read, timed before `since`) begins a new stay there, while
    /// late events of its earlier stays still count for their shops. A machine at the same
    /// shop is left as it is; one still installed elsewhere is refused (`Conflict`). It takes
    /// effect after every event ingested before it, committed or not (an engine that buffers
    /// sends them first).
    fn provision_at(
        &mut self,
        _machines: &[(MachineId, ShopId)],
        _since: i64,
    ) -> Result<(), MeteringError> {
        Err(MeteringError::Unsupported(
            "provisioning with an installation time",
        ))
    }

    /// Ingests events. Each `(machine, seq)` is counted once for the life of the store, however
    /// often it is sent. Not durable until `commit` returns.
    fn ingest(&mut self, events: &[UsageEvent]) -> Result<IngestReceipt, MeteringError>;

    /// Makes everything ingested so far durable. An acknowledgement follows a commit.
    fn commit(&mut self) -> Result<(), MeteringError>;

    /// Usage per shop for one period, sorted by shop; shops without usage are absent.
    fn usage(&mut self, period: Period) -> Result<Vec<UsageRow>, MeteringError>;

    /// Counters since the store was opened.
    fn receipt_totals(&self) -> IngestReceipt;

    /// The run's virtual time has reached `now_unix`. An engine that bounds event times and
    /// closes by a clock of its own (`fleetsim serve`, driven over HTTP) sets that clock to
    /// it, so a scenario dated in the past or the future is taken as of its own time; the
    /// embedded engine reads no clock and ignores it.
    fn advance_clock(&mut self, _now_unix: i64) -> Result<(), MeteringError> {
        Ok(())
    }

    /// Sets (or replaces) shops' contracts: basis, price, currency. Only shops with a contract
    /// are invoiced.
    fn set_contracts(&mut self, contracts: &[Contract]) -> Result<(), MeteringError>;

    /// Closes every period not closed yet up to `period`, in order, and issues their invoices
    /// (one per contracted shop and closed period, in (period, shop) order). Closing a period
    /// already closed issues nothing: the call is idempotent. Durable when it returns.
    fn close_period(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError>;

    /// The latest period the store holds anything for: accepted usage (events or counter
    /// readings, whatever their date) or a plan contract's start; `None` for an empty store.
    /// What a close far ahead of it would invoice is nothing but empty months, for good (the
    /// HTTP edge bounds closes by it).
    fn latest_data_period(&mut self) -> Result<Option<Period>, MeteringError> {
        Err(MeteringError::Unsupported("the latest period holding data"))
    }

    /// What the close of `period` handed billing (`billing::close::MeteredClose`): per shop,
    /// the event usage it took, the counter usage after VEE and the incidents recorded; `None`
    /// while the period is open. Billing rates any contracts from it alone
    /// (`billing::close::rate_close`), which is how pricing alternatives are billed on one
    /// metered fleet.
    fn metered_close(
        &mut self,
        _period: Period,
    ) -> Result<Option<crate::billing::close::MeteredClose>, MeteringError> {
        Err(MeteringError::Unsupported(
            "reading a close's metered usage back",
        ))
    }

    /// The invoices issued when `period` closed, in shop order (empty while it is open).
    fn invoices(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError>;

    /// Counter-metered usage per shop for one period, sorted by shop; shops without counter
    /// usage are absent.
    fn counter_usage(&mut self, period: Period) -> Result<Vec<CounterUsageRow>, MeteringError>;

    /// Sets (or replaces) the plan catalogue from its TOML text (`billing::catalogue_file`).
    /// Refused, and nothing changed, if the text does not validate or if a stored plan contract
    /// no longer resolves against it. Plan contracts resolve against the catalogue current at
    /// each close; invoices already issued never change.
    fn set_catalogue(&mut self, _source: &str) -> Result<(), MeteringError> {
        Err(MeteringError::Unsupported("plan catalogues"))
    }

    /// The catalogue's TOML text as last set; `None` if none was.
    fn catalogue(&mut self) -> Result<Option<String>, MeteringError> {
        Ok(None)
    }

    /// Sets (or replaces) shops' contracts on catalogue plans, each checked against the
    /// catalogue first (`MeteringError::Contract` names the first bad one; nothing is stored).
    /// `set_contracts` on the same shop later makes it a price-per-mounting contract again.
    fn set_plan_contracts(&mut self, _contracts: &[PlanAgreement]) -> Result<(), MeteringError> {
        Err(MeteringError::Unsupported("plan contracts"))
    }

    /// Sets the service incidents of one shop in one period (replacing any recorded before, so
    /// sending them again is harmless), read when that period closes. Refused for a period
    /// already closed (`MeteringError::PeriodClosed`).
    fn record_incidents(
        &mut self,
        _shop: ShopId,
        _period: Period,
        _incidents: &[Incident],
    ) -> Result<(), MeteringError> {
        Err(MeteringError::Unsupported("service incidents"))
    }

    /// The notes of the plan invoices issued for `period` (what is included and not, proration,
    /// indexation, corrections, SLA breaches, VAT), by shop; price contracts have none.
    fn invoice_notes(
        &mut self,
        _period: Period,
    ) -> Result<BTreeMap<ShopId, Vec<String>>, MeteringError> {
        Ok(BTreeMap::new())
    }

    /// For each machine whose latest health report is dated at or after `since` (unix
    /// seconds, event time), that report, in machine order: what a service desk watches.
    /// The latest is by event time, then sequence number, so a late older reading never
    /// replaces a newer one; a reading without health leaves the report before it in place
    /// (`health_book`). Durable like usage: the same answer after a restart.
    fn machine_health(&mut self, _since: i64) -> Result<Vec<MachineHealth>, MeteringError> {
        Err(MeteringError::Unsupported("machine health"))
    }

    /// Every reading of a machine with its validation and explanation, and the notes of each
    /// closed period; `None` for an engine that cannot explain.
    fn explain_machine(
        &mut self,
        _machine: MachineId,
    ) -> Result<Option<MachineExplanation>, MeteringError> {
        Ok(None)
    }
}

/// A machine's readings validated again with explanations, and its period notes (estimates,
/// true-ups): how each counter-billed quantity came from stored data.
#[derive(Clone, Debug)]
pub struct MachineExplanation {
    pub machine: MachineId,
    pub readings: Vec<vee::ValidatedReading>,
    pub period_notes: Vec<(Period, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store locked by another writer is transient (a retry succeeds once it is released);
    /// a write the data forbids is not.
    #[test]
    fn a_locked_store_is_transient_and_a_refused_write_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let holder = rusqlite::Connection::open(&path).unwrap();
        holder
            .execute_batch("CREATE TABLE t(x INTEGER PRIMARY KEY); BEGIN EXCLUSIVE;")
            .unwrap();
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer.busy_timeout(std::time::Duration::ZERO).unwrap();
        let insert = |x: i64| writer.execute("INSERT INTO t VALUES (?1)", [x]);
        let locked = MeteringError::from(insert(1).unwrap_err());
        assert!(locked.is_transient(), "{locked}");
        holder.execute_batch("COMMIT").unwrap();
        insert(1).unwrap();
        let duplicate = MeteringError::from(insert(1).unwrap_err());
        assert_eq!(duplicate.class(), ErrorClass::Internal, "{duplicate}");
    }
}
