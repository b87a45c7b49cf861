//! The embedded metering engine: SQLite (WAL), idempotent on (source machine, sequence).
//!
//! Layout, chosen so that every insert lands at the right edge of a B-tree (SQLite inserts
//! that arrive interleaved across machines are ~10× slower than in-order ones):
//! - `events` (mountings, trace-only cycles) and `readings` (cumulative counters) are
//!   append-only logs in arrival order (rowid): one row per accepted event.
//! - Idempotency comes from `seen`: per machine, the ranges of sequence numbers already
//!   accepted (see `seen.rs`), kept in memory. The dedup horizon is the whole life of the
//!   store, not a window.
//! - Usage per (period, shop) is counted in memory on every accepted event.
//! - A group commit writes only the logs (appends). `seen` and `usage` reach their tables at
//!   a **checkpoint**, which also records how far into each log they are complete
//!   (`checkpoint` table): every `CHECKPOINT_EVENTS` accepted events, spread over the next
//!   group commits a slice at a time (`checkpoint.rs`), and at once before anything reads the
//!   tables (usage queries, closes). Opening the store loads the tables and replays the log
//!   rows past the checkpoint, so after a crash the state is exactly what was committed, and
//!   the aggregate always equals the sum of the stored events. Rewriting the ranges of every
//!   machine touched at every commit cost ≈ 3 ms per group commit and capped HTTP ingestion;
//!   writing them all in one commit stalled it for 45–80 ms; a slice costs ≈ 1 ms.
//! - Counter readings are validated (VEE, `vee.rs`) as they are accepted; the validated steps,
//!   flags and billing period are stored in the same `readings` row as the raw counters. The
//!   VEE state itself is never stored: it is replayed from the log at open (`vee_book.rs`).
//! - The latest health each machine reported (`machine_health`) is kept in memory
//!   (`HealthBook`), fed by every accepted reading and rebuilt from the readings log at open
//!   with VEE (the health travels in the reading's own row), so it is exactly what is durable.
//! - Closing a period (`close_period`) logs the close with the last reading it saw, takes the
//!   event usage not invoiced yet (late usage included), closes VEE (estimates), prices each
//!   contracted shop's invoice and stores it, all in one transaction.
//! - Any store error rolls the open transaction back and reloads the in-memory state from
//!   disk, so memory never runs ahead of what is durable.

mod checkpoint;
#[cfg(test)]
mod checkpoint_tests;
mod close;
#[cfg(test)]
mod health_tests;
mod invoicing;
mod log;
mod rows;
mod schema;
#[cfg(test)]
mod stay_tests;
mod stays;
#[cfg(test)]
mod tests;
mod vee_store;
mod wal;

pub use rows::MAX_ID;

use super::health_book::HealthBook;
use super::seen::SeenSet;
use super::vee::{Reading, VeeConfig};
use super::vee_book::{LoggedReading, Slot, VeeBook, VeeColumns};
use super::*;
use crate::billing::catalogue::Catalogue;
use crate::billing::catalogue_file;
use checkpoint::{load_checkpoint, load_log_tail, load_seen, load_written_usage};
use checkpoint::{Logged, PendingUsage, Round, WrittenUsage, CHECKPOINT_SLICE};
use log::{Log, ROWS_PER_INSERT};
use log::{TYPE_MOUNTING, TYPE_TRACE_ONLY};
use rows::{At, LogRow, EVENT_COLUMNS, READING_COLUMNS};
use rusqlite::{params, Connection};
use schema::migrate;
use stays::{load_stays, Stays};
use std::collections::BTreeMap;
use std::path::Path;
use vee_store::{load_closes, load_logged_readings, settle_vee_config};
use wal::WalCheckpointer;

/// The `settings` key holding the plan catalogue's TOML text.
const CATALOGUE_KEY: &str = "catalogue";

/// Accepted events between two checkpoints: bounds the log replayed at open (2²¹ rows and
/// the round under way, about a second and 80 MB held briefly) while keeping checkpoints (a
/// write per machine and per shop touched) rare.
const CHECKPOINT_EVENTS: u64 = 1 << 21;

pub struct SqliteEngine {
    conn: Connection,
    /// Machine id → its stays at shops, mirrored from `machines` and `ended_stays`.
    stays: Stays,
    /// Machine id → sequence numbers accepted, mirrored from the `seen` table.
    seen: Vec<SeenSet>,
    /// Machines whose `seen` ranges changed since the last flush.
    dirty: Vec<u32>,
    dirty_flag: Vec<bool>,
    /// Usage accepted since the last flush, keyed (period, shop).
    pending: PendingUsage,
    /// Accepted job events and counter readings not yet written (partial multi-row chunks).
    jobs: Log<UsageEvent>,
    readings: Log<(UsageEvent, VeeColumns)>,
    /// VEE state of every machine, replayed from the log at open.
    vee: VeeBook,
    /// The latest health of each machine, replayed from the log with VEE.
    health: HealthBook,
    /// Last (day number, period key) seen: events come day by day, so this saves a date
    /// conversion per event.
    period_cache: (i64, i64),
    in_transaction: bool,
    totals: IngestReceipt,
    /// Copies the WAL into the database from its own connection, off the commit path.
    _wal_checkpointer: WalCheckpointer,
    /// Events accepted since the last checkpoint, and how many trigger the next one.
    since_checkpoint: u64,
    checkpoint_every: u64,
    /// The checkpoint being written a slice per commit, and the slice's size.
    round: Option<Round>,
    checkpoint_slice: usize,
    /// The plan catalogue, parsed from its stored text at open and when set.
    catalogue: Option<Catalogue>,
    /// Periods closed one by one since open (`periods_closed`).
    periods_closed: u64,
}

impl SqliteEngine {
    /// Opens (creating and migrating if needed) the store at `path`, with the VEE settings it
    /// was created with (the defaults for a new store).
    pub fn open(path: &Path) -> Result<SqliteEngine, MeteringError> {
        SqliteEngine::open_with(path, None)
    }

    /// Opens the store; a new one takes `vee` (or the defaults). An existing store keeps the
    /// settings it was created with: asking for others is an error, since its validated
    /// readings follow them.
    pub fn open_with(path: &Path, vee: Option<VeeConfig>) -> Result<SqliteEngine, MeteringError> {
        SqliteEngine::open_at(path, vee).map_err(|e| match e {
            MeteringError::Open { .. } | MeteringError::Conflict(_) => e,
            other => MeteringError::Open {
                path: path.display().to_string(),
                message: other.to_string(),
            },
        })
    }

    /// Opening, whose errors (SQLite's "file is not a database", a damaged row) `open_with`
    /// places at the store's path.
    fn open_at(path: &Path, vee: Option<VeeConfig>) -> Result<SqliteEngine, MeteringError> {
        let conn = Connection::open(path)?;
        // Waits out the background connection's WAL restarts in 100 µs steps (`wal.rs`).
        conn.busy_handler(Some(wal::writer_busy))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;
             PRAGMA wal_autocheckpoint=65536;",
        )?;
        migrate(&conn)?;
        let wal_checkpointer = WalCheckpointer::start(path);
        let config = settle_vee_config(&conn, vee)?;
        let catalogue = match invoicing::setting(&conn, CATALOGUE_KEY)? {
            None => None,
            Some(text) => Some(
                parse_catalogue(&text).map_err(|message| MeteringError::Open {
                    path: path.display().to_string(),
                    message: format!("stored catalogue: {message}"),
                })?,
            ),
        };
        let mut engine = SqliteEngine {
            conn,
            stays: Stays::default(),
            seen: Vec::new(),
            dirty: Vec::new(),
            dirty_flag: Vec::new(),
            pending: PendingUsage::default(),
            jobs: Log::jobs(),
            readings: Log::readings(),
            vee: VeeBook::new(config, false),
            health: HealthBook::default(),
            period_cache: (i64::MIN, 0),
            in_transaction: false,
            totals: IngestReceipt::default(),
            since_checkpoint: 0,
            checkpoint_every: CHECKPOINT_EVENTS,
            round: None,
            checkpoint_slice: CHECKPOINT_SLICE,
            _wal_checkpointer: wal_checkpointer,
            catalogue,
            periods_closed: 0,
        };
        engine.reload()?;
        engine.replay_vee()?;
        Ok(engine)
    }

    pub fn vee_config(&self) -> VeeConfig {
        *self.vee.config()
    }

    /// Checkpoints after every `events` accepted events instead of `CHECKPOINT_EVENTS`
    /// (tests use small values to exercise both the checkpoint and the replay).
    pub fn set_checkpoint_every(&mut self, events: u64) {
        self.checkpoint_every = events.max(1);
    }

    /// Writes `machines` machines and usage rows per commit during a checkpoint instead of
    /// `CHECKPOINT_SLICE` (tests use small values to crash in the middle of one).
    pub fn set_checkpoint_slice(&mut self, machines: usize) {
        self.checkpoint_slice = machines.max(1);
    }

    /// Recomputes one period's usage from the stored events (a full scan): the invariant
    /// check that the maintained aggregate equals the sum of the events.
    pub fn recompute_usage(&mut self, period: Period) -> Result<Vec<UsageRow>, MeteringError> {
        self.write_buffer()?;
        let start = period.start_unix();
        let end = period.next().start_unix();
        let mut stmt = self.conn.prepare(
            "SELECT subject, SUM(mounting), SUM(trace), SUM(remake), SUM(reading) FROM (
                SELECT subject, type = ?3 AS mounting, type = ?4 AS trace,
                       type = ?3 AND (attrs >> 8) & 1 AS remake, 0 AS reading
                FROM events WHERE time >= ?1 AND time < ?2
                UNION ALL
                SELECT subject, 0, 0, 0, 1 FROM readings WHERE time >= ?1 AND time < ?2)
             GROUP BY subject ORDER BY subject",
        )?;
        let rows = stmt.query_map(
            params![start, end, TYPE_MOUNTING, TYPE_TRACE_ONLY],
            raw_usage_row,
        )?;
        usage_rows("events", period, rows)
    }

    /// Every stored event of one machine, in sequence order, exactly as it was accepted.
    /// The logs keep each CloudEvents attribute as a column (source, id's sequence, time,
    /// subject, type, data), so `event::wire::to_cloudevent` rebuilds the original event.
    pub fn stored_events_of(
        &mut self,
        machine: MachineId,
    ) -> Result<Vec<UsageEvent>, MeteringError> {
        self.write_buffer()?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS}, 'events' FROM events WHERE source = ?1
             UNION ALL
             SELECT {READING_COLUMNS}, 'readings' FROM readings WHERE source = ?1
             ORDER BY seq"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![machine.0], |r| {
            let table = if r.get::<_, String>(13)? == "events" {
                "events"
            } else {
                "readings"
            };
            LogRow::read(table, r)
        })?;
        let mut events = Vec::new();
        for row in rows {
            events.push(row?.event()?);
        }
        Ok(events)
    }

    /// Number of events stored (each distinct event once).
    pub fn stored_events(&mut self) -> Result<u64, MeteringError> {
        self.write_buffer()?;
        let count = "SELECT (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM readings)";
        Ok(self.conn.query_row(count, [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Every write transaction takes the write lock up front (`BEGIN IMMEDIATE`), where the
    /// busy handler waits for it. A deferred `BEGIN` that reads first (a checkpoint reads the
    /// log ends, then writes) would upgrade a read transaction to a write one, and SQLite calls
    /// the busy handler only for a connection with no transaction open: while another
    /// connection (the WAL thread's RESTART) holds the write lock, that upgrade fails
    /// "database is locked" at once.
    fn begin(&mut self) -> Result<(), MeteringError> {
        if !self.in_transaction {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Runs `f`; on a store error, rolls back and reloads state from disk before returning it.
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, MeteringError>,
    ) -> Result<T, MeteringError> {
        match f(self) {
            Ok(v) => Ok(v),
            Err(e) => {
                if self.in_transaction {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    self.in_transaction = false;
                }
                self.reload()?;
                self.replay_vee()?;
                Err(e)
            }
        }
    }

    /// Loads bindings, seen ranges and usage as of the last checkpoint, then replays the
    /// committed log rows past it; drops anything not committed.
    fn reload(&mut self) -> Result<(), MeteringError> {
        self.stays = load_stays(&self.conn)?;
        self.seen = load_seen(&self.conn, self.stays.len())?;
        self.dirty.clear();
        self.dirty_flag = vec![false; self.stays.len()];
        self.pending = PendingUsage::for_shops(self.stays.max_shop());
        self.jobs.rows.clear();
        self.readings.rows.clear();
        self.since_checkpoint = 0;
        self.round = None;
        let checkpoint = load_checkpoint(&self.conn)?;
        let written = load_written_usage(&self.conn, checkpoint)?;
        for row in load_log_tail(&self.conn, checkpoint)? {
            self.replay_accepted(&row, &written);
        }
        Ok(())
    }

    /// Counts a committed event from the log past the checkpoint, as `accept` did, unless a
    /// round that had not ended wrote it already.
    fn replay_accepted(&mut self, row: &Logged, written: &WrittenUsage) {
        let e = &row.event;
        let m = e.machine.0 as usize;
        if m >= self.seen.len() {
            // Its binding was removed since: nothing to dedup against any more.
            return;
        }
        // Already there if the round wrote this machine (the logs hold each id once).
        self.seen[m].insert(e.seq);
        self.mark_dirty(e.machine.0);
        let period = self.period_key(e.time);
        if !written.holds(period, e.shop, row) {
            self.pending.add(period, e);
        }
        self.since_checkpoint += 1;
    }

    fn mark_dirty(&mut self, machine: u32) {
        let m = machine as usize;
        if !self.dirty_flag[m] {
            self.dirty_flag[m] = true;
            self.dirty.push(machine);
        }
    }

    fn accept(&mut self, e: &UsageEvent, receipt: &mut IngestReceipt) -> Result<(), MeteringError> {
        let stay = match self.stays.stay_at(e.machine.0, e.time) {
            Ok((stay, shop)) if shop == e.shop => stay,
            Ok(_) => {
                receipt.reject(RejectReason::WrongShop);
                return Ok(());
            }
            Err(reason) => {
                receipt.reject(reason);
                return Ok(());
            }
        };
        let m = e.machine.0 as usize;
        if !self.seen[m].insert(e.seq) {
            receipt.duplicates += 1;
            return Ok(());
        }
        self.mark_dirty(e.machine.0);
        receipt.accepted += 1;
        self.since_checkpoint += 1;
        let period = self.period_key(e.time);
        self.pending.add(period, e);
        if let Some(reading) = Reading::from_event(e) {
            let validated = self.vee.apply(Slot { machine: m, stay }, reading);
            self.health.observe(e);
            self.readings.rows.push((*e, VeeColumns::of(&validated)));
            if self.readings.rows.len() == ROWS_PER_INSERT {
                self.begin()?;
                self.readings.write(&self.conn)?;
            }
        } else {
            self.jobs.rows.push(*e);
            if self.jobs.rows.len() == ROWS_PER_INSERT {
                self.begin()?;
                self.jobs.write(&self.conn)?;
            }
        }
        Ok(())
    }

    fn period_key(&mut self, time: i64) -> i64 {
        let day = time.div_euclid(86_400);
        if self.period_cache.0 != day {
            self.period_cache = (day, Period::of_unix(time).key());
        }
        self.period_cache.1
    }

    /// Writes every buffered event: a full buffer with the multi-row statement, a partial
    /// one row by row (only at flush time).
    fn write_buffer(&mut self) -> Result<(), MeteringError> {
        if self.jobs.rows.is_empty() && self.readings.rows.is_empty() {
            return Ok(());
        }
        self.begin()?;
        self.jobs.write(&self.conn)?;
        self.readings.write(&self.conn)
    }

    /// The group commit's writes: the logs always, and a slice of a checkpoint while one is
    /// under way or due.
    fn flush(&mut self) -> Result<(), MeteringError> {
        self.write_buffer()?;
        if self.round.is_none() && self.since_checkpoint >= self.checkpoint_every {
            self.start_round()?;
        }
        self.continue_round()
    }
}

impl MeteringEngine for SqliteEngine {
    fn provision(&mut self, machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError> {
        self.provision_stays(machines, None)
    }

    fn provision_at(
        &mut self,
        machines: &[(MachineId, ShopId)],
        since: i64,
    ) -> Result<(), MeteringError> {
        self.provision_stays(machines, Some(since))
    }

    fn ingest(&mut self, events: &[UsageEvent]) -> Result<IngestReceipt, MeteringError> {
        // Checked before anything is counted, so a refusal leaves the state untouched (the
        // HTTP edge refuses these already; this is the store's own guard).
        if let Some(e) = events.iter().find(|e| i64::try_from(e.seq).is_err()) {
            return Err(MeteringError::Unstorable(format!(
                "event {}-{}: sequence numbers above {} cannot be stored exactly; nothing was ingested",
                e.machine,
                e.seq,
                i64::MAX
            )));
        }
        let mut receipt = IngestReceipt::default();
        self.guarded(|s| {
            for e in events {
                s.accept(e, &mut receipt)?;
            }
            Ok(())
        })?;
        debug_assert_eq!(
            receipt.total(),
            events.len() as u64,
            "every event is accounted for"
        );
        self.totals.add(&receipt);
        Ok(receipt)
    }

    fn commit(&mut self) -> Result<(), MeteringError> {
        self.guarded(|s| {
            s.flush()?;
            if s.in_transaction {
                s.conn.execute_batch("COMMIT")?;
                s.in_transaction = false;
            }
            Ok(())
        })
    }

    fn usage(&mut self, period: Period) -> Result<Vec<UsageRow>, MeteringError> {
        self.guarded(|s| s.checkpoint())?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT shop, billable_mountings, trace_only, remakes, counter_reads
             FROM usage WHERE period = ?1 ORDER BY shop",
        )?;
        let rows = stmt.query_map(params![period.key()], raw_usage_row)?;
        usage_rows("usage", period, rows)
    }

    fn receipt_totals(&self) -> IngestReceipt {
        self.totals
    }

    fn set_contracts(&mut self, contracts: &[Contract]) -> Result<(), MeteringError> {
        self.guarded(|s| {
            s.write_buffer()?;
            s.begin()?;
            invoicing::store_contracts(&s.conn, contracts)?;
            s.commit_open()
        })
    }

    fn close_period(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        self.guarded(|s| {
            s.checkpoint()?;
            s.begin()?;
            let mut issued = Vec::new();
            for p in s.periods_to_close(period)? {
                issued.extend(s.close_one(p)?);
            }
            s.commit_open()?;
            Ok(issued)
        })
    }

    /// Read without a checkpoint: usage not checkpointed yet is still counted in memory.
    fn latest_data_period(&mut self) -> Result<Option<Period>, MeteringError> {
        let stored: Option<i64> =
            self.conn
                .query_row("SELECT MAX(period) FROM usage", [], |r| r.get(0))?;
        let pending = self.pending.periods.keys().next_back().copied();
        let latest_usage = match stored.max(pending) {
            Some(key) => Some(At::key("usage", format!("period {key}")).period("period", key)?),
            None => None,
        };
        let latest_start = invoicing::load_contracts(&self.conn)?
            .into_iter()
            .filter_map(|(_, terms)| terms.map(|t| Period::of_date(t.start)))
            .max();
        Ok(latest_usage.max(latest_start))
    }

    fn metered_close(
        &mut self,
        period: Period,
    ) -> Result<Option<crate::billing::close::MeteredClose>, MeteringError> {
        self.guarded(|s| s.write_buffer())?;
        self.read_metered_close(period)
    }

    fn invoices(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        self.guarded(|s| s.write_buffer())?;
        invoicing::load_invoices(&self.conn, period)
    }

    fn counter_usage(&mut self, period: Period) -> Result<Vec<CounterUsageRow>, MeteringError> {
        self.guarded(|s| s.write_buffer())?;
        if self.vee.closed_through().is_some_and(|c| period <= c) {
            return invoicing::load_counter_usage(&self.conn, period);
        }
        let open: Vec<_> = self
            .vee
            .open_usage(period)
            .map(|(m, u)| (m, u.clone()))
            .collect();
        let stays = &self.stays;
        let rows = invoicing::counters_due(&open, |s| stays.shop_of(s.machine, s.stay));
        Ok(rows.into_values().collect())
    }

    fn set_catalogue(&mut self, source: &str) -> Result<(), MeteringError> {
        let catalogue = parse_catalogue(source).map_err(MeteringError::Catalogue)?;
        self.guarded(|s| {
            s.write_buffer()?;
            for (contract, terms) in invoicing::load_contracts(&s.conn)? {
                if let Some(terms) = terms {
                    catalogue
                        .contract(&terms.spec(contract.shop))
                        .map_err(|m| {
                            MeteringError::Conflict(format!(
                                "the new catalogue would break the plan contract of shop {}: {m}",
                                contract.shop
                            ))
                        })?;
                }
            }
            s.begin()?;
            invoicing::set_setting(&s.conn, CATALOGUE_KEY, source)?;
            s.commit_open()
        })?;
        self.catalogue = Some(catalogue);
        Ok(())
    }

    fn catalogue(&mut self) -> Result<Option<String>, MeteringError> {
        self.guarded(|s| s.write_buffer())?;
        invoicing::setting(&self.conn, CATALOGUE_KEY)
    }

    fn set_plan_contracts(&mut self, contracts: &[PlanAgreement]) -> Result<(), MeteringError> {
        let Some(catalogue) = &self.catalogue else {
            return Err(MeteringError::Catalogue(
                "plan contracts need a catalogue: set one first (PUT /v1/admin/catalogue)"
                    .to_string(),
            ));
        };
        for (index, c) in contracts.iter().enumerate() {
            catalogue
                .contract(&c.terms.spec(c.shop))
                .map_err(|message| MeteringError::Contract {
                    index,
                    shop: c.shop,
                    message,
                })?;
        }
        let currency = catalogue.currency.clone();
        self.guarded(|s| {
            s.write_buffer()?;
            s.begin()?;
            invoicing::store_plan_contracts(&s.conn, contracts, &currency)?;
            s.commit_open()
        })
    }

    fn record_incidents(
        &mut self,
        shop: ShopId,
        period: Period,
        incidents: &[Incident],
    ) -> Result<(), MeteringError> {
        if self.vee.closed_through().is_some_and(|c| period <= c) {
            return Err(MeteringError::PeriodClosed {
                period,
                what: format!(
                    "its invoices are issued, so incidents of shop {shop} can no longer change them"
                ),
            });
        }
        self.guarded(|s| {
            s.write_buffer()?;
            s.begin()?;
            invoicing::store_incidents(&s.conn, shop, period, incidents)?;
            s.commit_open()
        })
    }

    fn invoice_notes(
        &mut self,
        period: Period,
    ) -> Result<BTreeMap<ShopId, Vec<String>>, MeteringError> {
        self.guarded(|s| s.write_buffer())?;
        invoicing::load_invoice_notes(&self.conn, period)
    }

    /// In memory: the health of a reading accepted but not committed yet shows, as its usage
    /// does; a failed commit reloads both from the log.
    fn machine_health(&mut self, since: i64) -> Result<Vec<MachineHealth>, MeteringError> {
        Ok(self.health.since(since))
    }

    /// Every reading of one machine, validated again with explanations, and the notes of each
    /// closed period (estimates, true-ups): how each billed quantity came from stored data.
    fn explain_machine(
        &mut self,
        machine: MachineId,
    ) -> Result<Option<MachineExplanation>, MeteringError> {
        self.guarded(|s| s.write_buffer())?;
        let closes = load_closes(&self.conn)?;
        let readings = load_logged_readings(&self.conn, &self.stays, Some(machine.0), |_| ())?;
        let mut validated = Vec::new();
        let replay = readings
            .iter()
            .map(|(r, _)| LoggedReading { machine: 0, ..*r });
        VeeBook::replay(self.vee_config(), true, replay, &closes, |_, v| {
            validated.push(v.clone())
        });
        let notes = invoicing::load_notes(&self.conn, machine.0 as usize)?;
        Ok(Some(MachineExplanation {
            machine,
            readings: validated,
            period_notes: notes,
        }))
    }
}

impl SqliteEngine {
    /// Provisions machines (installed at `at`, if given): each one's change to its stays is
    /// decided first (`stays::change`), so a refused one leaves every machine as it was; then
    /// the events held are written and all changes committed with them, and only the bindings
    /// are read again. A provisioning costs the machines it binds, not the fleet: a loaner
    /// moving shops is provisioned every installation. (Nothing needs a checkpoint here: a
    /// replay counts usage by the events' own shops, whatever the bindings.)
    fn provision_stays(
        &mut self,
        machines: &[(MachineId, ShopId)],
        at: Option<i64>,
    ) -> Result<(), MeteringError> {
        check_ids(machines)?;
        let mut changes = Vec::with_capacity(machines.len());
        let mut planned = std::collections::BTreeSet::new();
        for &(machine, shop) in machines {
            if !planned.insert(machine) {
                // Twice in one call: the last binding wins, as with the earlier upsert.
                changes.retain(|(m, _, _)| *m != machine);
            }
            let slot = Slot {
                machine: machine.0 as usize,
                stay: self.stays.current_stay(machine.0),
            };
            let removed_at = self.vee.removed_at(slot);
            let change = stays::change(&self.stays, machine, shop, at, removed_at)?;
            changes.push((machine, shop, change));
        }
        self.guarded(|s| {
            s.flush()?;
            s.begin()?;
            for &(machine, shop, change) in &changes {
                stays::store_change(&s.conn, &s.stays, machine, shop, change)?;
            }
            s.commit_open()?;
            s.refresh_bindings()
        })
    }

    /// The bindings as stored, and room for any machine or shop they add (what `reload` does
    /// for them, without reading the rest back).
    fn refresh_bindings(&mut self) -> Result<(), MeteringError> {
        self.stays = load_stays(&self.conn)?;
        let machines = self.stays.len();
        if self.seen.len() < machines {
            self.seen.resize_with(machines, SeenSet::default);
            self.dirty_flag.resize(machines, false);
        }
        self.pending.grow_to(self.stays.max_shop());
        Ok(())
    }

    fn commit_open(&mut self) -> Result<(), MeteringError> {
        if self.in_transaction {
            self.conn.execute_batch("COMMIT")?;
            self.in_transaction = false;
        }
        Ok(())
    }
}

/// Parses catalogue text with the file loader; the message places errors at line:column.
fn parse_catalogue(text: &str) -> Result<Catalogue, String> {
    catalogue_file::parse(Path::new("catalogue"), text).map_err(|e| e.to_string())
}

/// A row of (shop, billable mountings, trace-only, remakes, counter reads).
/// A row of (shop, billable mountings, trace-only, remakes, counter reads), unchecked.
fn raw_usage_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<[i64; 5]> {
    Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])
}

/// Usage rows of one period, each value checked (`table` names where they were read).
fn usage_rows(
    table: &'static str,
    period: Period,
    rows: impl Iterator<Item = rusqlite::Result<[i64; 5]>>,
) -> Result<Vec<UsageRow>, MeteringError> {
    let mut usage = Vec::new();
    for row in rows {
        let [shop, mountings, trace_only, remakes, reads] = row?;
        let at = At::key(table, format!("(period {period}, shop {shop})"));
        usage.push(UsageRow {
            shop: ShopId(at.id("shop", shop)?),
            billable_mountings: at.count("billable_mountings", mountings)?,
            trace_only: at.count("trace_only", trace_only)?,
            remakes: at.count("remakes", remakes)?,
            counter_reads: at.count("counter_reads", reads)?,
        });
    }
    Ok(usage)
}

/// Ids above `MAX_ID` are refused before they size anything.
fn check_ids(machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError> {
    for (machine, shop) in machines {
        if machine.0 > MAX_ID || shop.0 > MAX_ID {
            return Err(MeteringError::Invalid(format!(
                "machine {machine} of shop {shop}: ids go up to {} and {} (they index the \
                 engine's tables, so the highest id sets their size)",
                MachineId(MAX_ID),
                ShopId(MAX_ID)
            )));
        }
    }
    Ok(())
}
