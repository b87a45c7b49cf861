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
//!   (`checkpoint` table), in the same transaction: every `CHECKPOINT_EVENTS` accepted events,
//!   and before anything reads the tables (usage queries, closes, provisioning). Opening the
//!   store loads the tables and replays the log rows past the checkpoint, so after a crash
//!   the state is exactly what was committed, and the aggregate always equals the sum of the
//!   stored events. Rewriting the ranges of every machine touched at every commit cost
//!   ≈ 3 ms per group commit and capped HTTP ingestion; now it is paid once per checkpoint.
//! - Counter readings are validated (VEE, `vee.rs`) as they are accepted; the validated steps,
//!   flags and billing period are stored in the same `readings` row as the raw counters. The
//!   VEE state itself is never stored: it is replayed from the log at open (`vee_book.rs`).
//! - Closing a period (`close_period`) logs the close with the last reading it saw, takes the
//!   event usage not invoiced yet (late usage included), closes VEE (estimates), prices each
//!   contracted shop's invoice and stores it, all in one transaction.
//! - Any store error rolls the open transaction back and reloads the in-memory state from
//!   disk, so memory never runs ahead of what is durable.

use super::invoicing;
use super::seen::SeenSet;
use super::vee::{Reading, VeeConfig};
use super::vee_book::{LoggedClose, LoggedReading, VeeBook, VeeColumns};
use super::*;
use crate::billing::catalogue::Catalogue;
use crate::billing::plans::{self, Correction, CorrectionCause, PlanInvoice};
use crate::billing::{catalogue_file, invoice_from_counters, invoice_from_events, EventDue};
use crate::event::{EventBody, Frame, Material};
use rusqlite::{params, Connection, OptionalExtension, Statement};
use std::collections::BTreeMap;
use std::path::Path;

const SCHEMA_VERSION: i64 = 5;

const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE machines(id INTEGER PRIMARY KEY, shop INTEGER NOT NULL);
     CREATE TABLE events(
        source INTEGER NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL,
        subject INTEGER NOT NULL, type INTEGER NOT NULL, attrs INTEGER NOT NULL);
     CREATE TABLE readings(
        source INTEGER NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL,
        subject INTEGER NOT NULL, total_cycles INTEGER NOT NULL,
        mountings INTEGER NOT NULL, trace_only INTEGER NOT NULL);
     CREATE TABLE seen(
        source INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
        PRIMARY KEY(source, lo)) WITHOUT ROWID;
     CREATE TABLE usage(
        period INTEGER NOT NULL, shop INTEGER NOT NULL,
        billable_mountings INTEGER NOT NULL, trace_only INTEGER NOT NULL,
        remakes INTEGER NOT NULL, counter_reads INTEGER NOT NULL,
        PRIMARY KEY(period, shop)) WITHOUT ROWID;",
    // v2: VEE beside each raw reading, contracts, period closes and invoices.
    "ALTER TABLE readings ADD COLUMN vee_code INTEGER;
     ALTER TABLE readings ADD COLUMN vee_period INTEGER;
     ALTER TABLE readings ADD COLUMN step_tc INTEGER;
     ALTER TABLE readings ADD COLUMN step_m INTEGER;
     ALTER TABLE readings ADD COLUMN step_t INTEGER;
     ALTER TABLE readings ADD COLUMN reversed_tc INTEGER;
     ALTER TABLE readings ADD COLUMN reversed_m INTEGER;
     ALTER TABLE readings ADD COLUMN reversed_t INTEGER;
     ALTER TABLE usage ADD COLUMN invoiced_mountings INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE usage ADD COLUMN invoiced_trace_only INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE contracts(
        shop INTEGER PRIMARY KEY, basis TEXT NOT NULL, price TEXT NOT NULL, currency TEXT NOT NULL);
     CREATE TABLE closes(period INTEGER PRIMARY KEY, readings_through INTEGER NOT NULL);
     CREATE TABLE counter_usage(
        period INTEGER NOT NULL, shop INTEGER NOT NULL,
        actual_tc INTEGER NOT NULL, actual_m INTEGER NOT NULL, actual_t INTEGER NOT NULL,
        estimate_tc INTEGER NOT NULL, estimate_m INTEGER NOT NULL, estimate_t INTEGER NOT NULL,
        reversed_tc INTEGER NOT NULL, reversed_m INTEGER NOT NULL, reversed_t INTEGER NOT NULL,
        estimated_machines INTEGER NOT NULL,
        PRIMARY KEY(period, shop)) WITHOUT ROWID;
     CREATE TABLE vee_notes(
        period INTEGER NOT NULL, machine INTEGER NOT NULL,
        estimate_tc INTEGER NOT NULL, estimate_m INTEGER NOT NULL, estimate_t INTEGER NOT NULL,
        notes TEXT NOT NULL, PRIMARY KEY(period, machine)) WITHOUT ROWID;
     CREATE INDEX vee_notes_by_machine ON vee_notes(machine);
     CREATE TABLE invoices(
        period INTEGER NOT NULL, shop INTEGER NOT NULL, basis TEXT NOT NULL,
        currency TEXT NOT NULL, total_cents INTEGER NOT NULL,
        PRIMARY KEY(period, shop)) WITHOUT ROWID;
     CREATE TABLE invoice_lines(
        period INTEGER NOT NULL, shop INTEGER NOT NULL, line INTEGER NOT NULL,
        kind TEXT NOT NULL, usage_period INTEGER NOT NULL, quantity INTEGER NOT NULL,
        unit_price TEXT NOT NULL, amount_cents INTEGER NOT NULL,
        PRIMARY KEY(period, shop, line)) WITHOUT ROWID;",
    // v3: `seen` and `usage` are written at checkpoints; they cover the logs through these
    // rowids (a v2 store wrote them at every commit, so they cover all of it).
    "CREATE TABLE checkpoint(
        id INTEGER PRIMARY KEY CHECK(id = 0),
        events_through INTEGER NOT NULL, readings_through INTEGER NOT NULL);
     INSERT INTO checkpoint VALUES (0,
        (SELECT COALESCE(MAX(rowid), 0) FROM events),
        (SELECT COALESCE(MAX(rowid), 0) FROM readings));",
    // v4: plan contracts (issue #4). The catalogue's TOML text is the `catalogue` setting; a
    // plan contract keeps its terms as JSON in `contracts.plan` (NULL: price per mounting);
    // `plan_billed` is what plan invoices billed per usage period (the base corrections are
    // re-rated from) and the estimate not reversed yet; notes and service incidents.
    "ALTER TABLE contracts ADD COLUMN plan TEXT;
     CREATE TABLE plan_billed(
        shop INTEGER NOT NULL, period INTEGER NOT NULL,
        mountings INTEGER NOT NULL, estimate_left INTEGER NOT NULL,
        PRIMARY KEY(shop, period)) WITHOUT ROWID;
     CREATE TABLE invoice_notes(
        period INTEGER NOT NULL, shop INTEGER NOT NULL, line INTEGER NOT NULL, text TEXT NOT NULL,
        PRIMARY KEY(period, shop, line)) WITHOUT ROWID;
     CREATE TABLE incidents(
        period INTEGER NOT NULL, shop INTEGER NOT NULL, seq INTEGER NOT NULL,
        response_hours TEXT NOT NULL, repair_hours TEXT NOT NULL,
        labour_minutes INTEGER NOT NULL, visits INTEGER NOT NULL, parts_cost TEXT NOT NULL,
        PRIMARY KEY(period, shop, seq)) WITHOUT ROWID;",
    // v5: the removal flag of a counter reading (the final read when a machine leaves the
    // shop), kept in the log so a replay of VEE knows the machine is removed. Every reading
    // stored before was an end-of-day read.
    "ALTER TABLE readings ADD COLUMN removal INTEGER NOT NULL DEFAULT 0;",
];

/// The `settings` key holding the plan catalogue's TOML text.
const CATALOGUE_KEY: &str = "catalogue";

/// Accepted events between two checkpoints: bounds the log replayed at open (2²¹ rows,
/// about a second and 80 MB held briefly) while keeping checkpoints (a write per machine and
/// per shop touched) rare enough that they barely show in the ingestion latency.
const CHECKPOINT_EVENTS: u64 = 1 << 21;

/// Event type codes in the `type` column.
const TYPE_MOUNTING: i64 = 1;
const TYPE_TRACE_ONLY: i64 = 2;

/// Rows per multi-row INSERT: amortises statement overhead (≤ 7 × 128 = 896 parameters).
/// Measured (in-process ingest bench): 8 rows 1.23 M events/s, 32 1.64 M, 128 1.78 M, 256 1.64 M.
const ROWS_PER_INSERT: usize = 128;

pub struct SqliteEngine {
    conn: Connection,
    /// Machine id → bound shop, mirrored from the `machines` table.
    bindings: Vec<Option<ShopId>>,
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
        let conn = Connection::open(path).map_err(|e| MeteringError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
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
            bindings: Vec::new(),
            seen: Vec::new(),
            dirty: Vec::new(),
            dirty_flag: Vec::new(),
            pending: PendingUsage::default(),
            jobs: Log::jobs(),
            readings: Log::readings(),
            vee: VeeBook::new(config, false),
            period_cache: (i64::MIN, 0),
            in_transaction: false,
            totals: IngestReceipt::default(),
            since_checkpoint: 0,
            checkpoint_every: CHECKPOINT_EVENTS,
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

    /// Rebuilds VEE from the readings log and the closes; validates rows stored before VEE
    /// existed (schema v1) and writes their columns.
    fn replay_vee(&mut self) -> Result<(), MeteringError> {
        let closes = load_closes(&self.conn)?;
        let readings = load_logged_readings(&self.conn, None)?;
        let mut backfill = Vec::new();
        let config = *self.vee.config();
        self.vee = VeeBook::replay(
            config,
            false,
            readings.iter().map(|(r, _)| *r),
            &closes,
            |logged, v| {
                backfill.push((logged.rowid, VeeColumns::of(v)));
            },
        );
        let stored: BTreeMap<i64, Option<VeeColumns>> =
            readings.iter().map(|(r, c)| (r.rowid, *c)).collect();
        backfill.retain(|(rowid, _)| stored.get(rowid).is_some_and(Option::is_none));
        if !backfill.is_empty() {
            write_vee_columns(&self.conn, &backfill)?;
        }
        Ok(())
    }

    /// Readings whose stored validation differs from a fresh replay of the log: always 0
    /// unless the store was edited behind the engine's back or the VEE rules changed.
    pub fn vee_differences(&mut self) -> Result<u64, MeteringError> {
        self.guarded(|s| s.write_buffer())?;
        let closes = load_closes(&self.conn)?;
        let readings = load_logged_readings(&self.conn, None)?;
        let stored: Vec<Option<VeeColumns>> = readings.iter().map(|(_, c)| *c).collect();
        let mut differences = 0;
        let mut i = 0;
        VeeBook::replay(
            self.vee_config(),
            false,
            readings.iter().map(|(r, _)| *r),
            &closes,
            |_, v| {
                differences += u64::from(stored[i] != Some(VeeColumns::of(v)));
                i += 1;
            },
        );
        Ok(differences)
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
            usage_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every stored event of one machine, in sequence order, exactly as it was accepted.
    /// The logs keep each CloudEvents attribute as a column (source, id's sequence, time,
    /// subject, type, data), so `event::wire::to_cloudevent` rebuilds the original event.
    pub fn stored_events_of(
        &mut self,
        machine: MachineId,
    ) -> Result<Vec<UsageEvent>, MeteringError> {
        self.write_buffer()?;
        let mut stmt = self.conn.prepare(
            "SELECT seq, time, subject, type, attrs, NULL, NULL, NULL, 0 FROM events WHERE source = ?1
             UNION ALL
             SELECT seq, time, subject, 0, 0, total_cycles, mountings, trace_only, removal FROM readings WHERE source = ?1
             ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![machine.0], |r| {
            let kind: i64 = r.get(3)?;
            let attrs: i64 = r.get(4)?;
            let counter = |i: usize| {
                r.get::<_, Option<i64>>(i)
                    .map(|v| v.unwrap_or_default() as u64)
            };
            Ok(UsageEvent {
                machine,
                seq: r.get::<_, i64>(0)? as u64,
                time: r.get(1)?,
                shop: ShopId(r.get::<_, i64>(2)? as u32),
                body: match kind {
                    TYPE_MOUNTING => EventBody::Mounting {
                        frame: Frame::from_index((attrs & 0xf) as usize),
                        material: Material::from_index(((attrs >> 4) & 0xf) as usize),
                        remake: (attrs >> 8) & 1 == 1,
                    },
                    TYPE_TRACE_ONLY => EventBody::TraceOnly {
                        frame: Frame::from_index((attrs & 0xf) as usize),
                    },
                    _ => EventBody::Counter {
                        total_cycles: counter(5)?,
                        mountings: counter(6)?,
                        trace_only: counter(7)?,
                        removal: r.get::<_, i64>(8)? != 0,
                    },
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Number of events stored (each distinct event once).
    pub fn stored_events(&mut self) -> Result<u64, MeteringError> {
        self.write_buffer()?;
        let count = "SELECT (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM readings)";
        Ok(self.conn.query_row(count, [], |r| r.get::<_, i64>(0))? as u64)
    }

    fn begin(&mut self) -> Result<(), MeteringError> {
        if !self.in_transaction {
            self.conn.execute_batch("BEGIN")?;
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
        self.bindings = load_bindings(&self.conn)?;
        self.seen = load_seen(&self.conn, self.bindings.len())?;
        self.dirty.clear();
        self.dirty_flag = vec![false; self.bindings.len()];
        self.pending = PendingUsage::for_shops(max_shop(&self.bindings));
        self.jobs.rows.clear();
        self.readings.rows.clear();
        self.since_checkpoint = 0;
        let (events_through, readings_through) = load_checkpoint(&self.conn)?;
        for e in load_log_tail(&self.conn, events_through, readings_through)? {
            self.replay_accepted(&e);
        }
        Ok(())
    }

    /// Counts a committed event from the log past the checkpoint, as `accept` did.
    fn replay_accepted(&mut self, e: &UsageEvent) {
        let m = e.machine.0 as usize;
        if m >= self.seen.len() {
            // Its binding was removed since: nothing to dedup against any more.
            return;
        }
        let fresh = self.seen[m].insert(e.seq);
        debug_assert!(fresh, "the logs hold each (source, seq) once");
        self.mark_dirty(e.machine.0);
        let period = self.period_key(e.time);
        self.pending.add(period, e);
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
        if let Err(reason) = check_binding(&self.bindings, e) {
            receipt.reject(reason);
            return Ok(());
        }
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
            let validated = self.vee.apply(m, reading);
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

    /// Writes everything held in memory (events, seen ranges, usage) into the open
    /// transaction, with the log positions it covers.
    fn checkpoint(&mut self) -> Result<(), MeteringError> {
        self.write_buffer()?;
        self.since_checkpoint = 0;
        if self.dirty.is_empty() && self.pending.is_empty() {
            return Ok(());
        }
        self.begin()?;
        self.flush_seen()?;
        self.flush_usage()?;
        self.conn.execute_batch(
            "UPDATE checkpoint SET
               events_through = (SELECT COALESCE(MAX(rowid), 0) FROM events),
               readings_through = (SELECT COALESCE(MAX(rowid), 0) FROM readings)",
        )?;
        Ok(())
    }

    /// The group commit's writes: the logs always, a checkpoint when one is due.
    fn flush(&mut self) -> Result<(), MeteringError> {
        if self.since_checkpoint >= self.checkpoint_every {
            self.checkpoint()
        } else {
            self.write_buffer()
        }
    }

    fn flush_seen(&mut self) -> Result<(), MeteringError> {
        let mut clear = self
            .conn
            .prepare_cached("DELETE FROM seen WHERE source = ?1")?;
        let mut insert = self
            .conn
            .prepare_cached("INSERT INTO seen(source, lo, hi) VALUES (?1, ?2, ?3)")?;
        // Key order: SQLite B-tree writes in order are ~10× cheaper than interleaved ones.
        self.dirty.sort_unstable();
        for &m in &self.dirty {
            clear.execute(params![m])?;
            for &(lo, hi) in self.seen[m as usize].ranges() {
                insert.execute(params![m, lo as i64, hi as i64])?;
            }
            self.dirty_flag[m as usize] = false;
        }
        self.dirty.clear();
        Ok(())
    }

    fn flush_usage(&mut self) -> Result<(), MeteringError> {
        let mut upsert = self.conn.prepare_cached(
            "INSERT INTO usage(period, shop, billable_mountings, trace_only, remakes, counter_reads)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(period, shop) DO UPDATE SET
               billable_mountings = billable_mountings + excluded.billable_mountings,
               trace_only = trace_only + excluded.trace_only,
               remakes = remakes + excluded.remakes,
               counter_reads = counter_reads + excluded.counter_reads",
        )?;
        for (period, u) in self.pending.drain() {
            upsert.execute(params![
                period,
                u.shop.0,
                u.billable_mountings as i64,
                u.trace_only as i64,
                u.remakes as i64,
                u.counter_reads as i64
            ])?;
        }
        Ok(())
    }
}

impl MeteringEngine for SqliteEngine {
    fn provision(&mut self, machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError> {
        self.guarded(|s| {
            s.checkpoint()?;
            s.begin()?;
            {
                let mut stmt = s.conn.prepare_cached(
                    "INSERT INTO machines(id, shop) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET shop = excluded.shop",
                )?;
                for (machine, shop) in machines {
                    stmt.execute(params![machine.0, shop.0])?;
                }
            }
            s.conn.execute_batch("COMMIT")?;
            s.in_transaction = false;
            s.reload()
        })
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
        let rows = stmt.query_map(params![period.key()], usage_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
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
        let latest_usage = stored.max(pending).map(Period::from_key);
        let latest_start = invoicing::load_contracts(&self.conn)?
            .into_iter()
            .filter_map(|(_, terms)| terms.map(|t| Period::of_date(t.start)))
            .max();
        Ok(latest_usage.max(latest_start))
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
        let bindings = &self.bindings;
        let rows = invoicing::counters_due(&open, |m| bindings.get(m).copied().flatten());
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

    /// Every reading of one machine, validated again with explanations, and the notes of each
    /// closed period (estimates, true-ups): how each billed quantity came from stored data.
    fn explain_machine(
        &mut self,
        machine: MachineId,
    ) -> Result<Option<MachineExplanation>, MeteringError> {
        self.guarded(|s| s.write_buffer())?;
        let closes = load_closes(&self.conn)?;
        let readings = load_logged_readings(&self.conn, Some(machine.0))?;
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
    fn commit_open(&mut self) -> Result<(), MeteringError> {
        if self.in_transaction {
            self.conn.execute_batch("COMMIT")?;
            self.in_transaction = false;
        }
        Ok(())
    }

    /// The periods a close through `period` must close one by one, in order: from the one
    /// after the last closed (or the earliest period holding usage) to `period`; none if it
    /// is closed. In a store without contracts or counter readings, a period holding no usage
    /// to invoice would issue and store nothing: only the periods holding such usage are
    /// closed, and `period` itself (which marks the store closed through it), so the cost
    /// follows the data, not the calendar span.
    fn periods_to_close(&self, period: Period) -> Result<Vec<Period>, MeteringError> {
        let first = match self.vee.closed_through() {
            Some(closed) => closed.next(),
            None => earliest_usage_period(&self.conn)?.map_or(period, |p| p.min(period)),
        };
        if first > period {
            return Ok(Vec::new());
        }
        if self.vee.has_machines() || invoicing::has_contracts(&self.conn)? {
            return Ok(std::iter::successors(Some(first), |p| Some(p.next()))
                .take_while(|p| *p <= period)
                .collect());
        }
        // Usage of a period already closed (late) is taken by the first period closed now.
        let mut due: Vec<Period> = invoicing::periods_with_usage_due(&self.conn, period)?
            .into_iter()
            .map(|p| p.max(first))
            .collect();
        due.push(period);
        due.dedup();
        Ok(due)
    }

    /// Periods closed one by one since the store was opened (each close counts every period
    /// it closed; `periods_to_close` says which).
    pub fn periods_closed(&self) -> u64 {
        self.periods_closed
    }

    /// Closes one period inside the open transaction and returns its invoices.
    fn close_one(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        self.periods_closed += 1;
        let readings_through: i64 =
            self.conn
                .query_row("SELECT COALESCE(MAX(rowid), 0) FROM readings", [], |r| {
                    r.get(0)
                })?;
        self.conn
            .prepare_cached("INSERT INTO closes(period, readings_through) VALUES (?1, ?2)")?
            .execute(params![period.key(), readings_through])?;
        let closed = self.vee.close(period);
        let bindings = &self.bindings;
        let counters = invoicing::counters_due(&closed, |m| bindings.get(m).copied().flatten());
        invoicing::store_counter_usage(&self.conn, period, &counters)?;
        invoicing::store_notes(&self.conn, &closed)?;
        let events = invoicing::take_events_due(&self.conn, period)?;
        let mut invoices = Vec::new();
        for (contract, terms) in invoicing::load_contracts(&self.conn)? {
            if let Some(terms) = terms {
                if let Some(rated) =
                    self.plan_invoice(&contract, &terms, period, &events, &counters)?
                {
                    invoicing::store_invoice_notes(
                        &self.conn,
                        period,
                        contract.shop,
                        &rated.notes,
                    )?;
                    invoices.push(rated.invoice);
                }
                continue;
            }
            let invoice = match contract.basis {
                Basis::Events => {
                    let due = events.get(&contract.shop).cloned().unwrap_or_default();
                    invoice_from_events(&contract, period, &due)?
                }
                Basis::Counters => {
                    let due = counters
                        .get(&contract.shop)
                        .map(|r| r.usage)
                        .unwrap_or_default();
                    invoice_from_counters(&contract, period, &due)?
                }
            };
            invoices.push(invoice);
        }
        invoicing::store_invoices(&self.conn, &invoices)?;
        Ok(invoices)
    }
}

impl SqliteEngine {
    /// The invoice of a plan contract for `period` (inside the open close transaction), or
    /// `None` when the period lies outside the contract's term. Records what it billed per usage
    /// period in `plan_billed`, the base later corrections re-rate from:
    /// - events basis: the period's own mountings; usage of an earlier period of the term
    ///   metered after it closed is a `Late` correction from what was billed for it (usage
    ///   dated outside the term is never billed);
    /// - counters basis: actual + estimated mountings of the period; a reversed estimate is an
    ///   `Estimate` correction of the oldest periods whose estimate is not reversed yet (VEE
    ///   pools a machine's outstanding estimates, so oldest-first is the attribution); a
    ///   reversal with no plan estimate left (one billed before the plan contract) is taken off
    ///   the period's own mountings, as a price contract would.
    fn plan_invoice(
        &self,
        contract: &Contract,
        terms: &PlanTerms,
        period: Period,
        events: &BTreeMap<ShopId, EventDue>,
        counters: &BTreeMap<ShopId, CounterUsageRow>,
    ) -> Result<Option<PlanInvoice>, MeteringError> {
        let shop = contract.shop;
        let catalogue = self.catalogue.as_ref().ok_or_else(|| {
            MeteringError::Catalogue(format!(
                "shop {shop} has a plan contract but the store holds no catalogue"
            ))
        })?;
        let pc = catalogue.contract(&terms.spec(shop)).map_err(|m| {
            MeteringError::Catalogue(format!(
                "the catalogue does not resolve the contract of shop {shop}: {m}"
            ))
        })?;
        let term = pc.term();
        if term.days_covered(period) == 0 {
            return Ok(None);
        }
        let mut usage = plans::PeriodUsage::default();
        let mut estimate = 0;
        let mut unattributed = 0;
        match contract.basis {
            Basis::Events => {
                for &(p, m, t) in events.get(&shop).map_or(&[][..], |d| &d.by_period[..]) {
                    usage.trace_only += t;
                    if p == period {
                        usage.mountings = m;
                    } else if m > 0 && term.days_covered(p) > 0 {
                        let (billed, _) = invoicing::plan_billed(&self.conn, shop, p)?;
                        usage.corrections.push(Correction {
                            usage_period: p,
                            billed,
                            delta: i64::try_from(m).unwrap_or(i64::MAX),
                            cause: CorrectionCause::Late,
                        });
                    }
                }
            }
            Basis::Counters => {
                let due = counters.get(&shop).map(|r| r.usage).unwrap_or_default();
                estimate = due.estimate.mountings;
                let mut to_reverse = due.reversed.mountings;
                for (p, billed, left) in invoicing::open_estimates(&self.conn, shop)? {
                    if to_reverse == 0 {
                        break;
                    }
                    let take = left.min(to_reverse);
                    to_reverse -= take;
                    usage.corrections.push(Correction {
                        usage_period: p,
                        billed,
                        delta: -i64::try_from(take).unwrap_or(i64::MAX),
                        cause: CorrectionCause::Estimate,
                    });
                }
                unattributed = to_reverse;
                usage.mountings =
                    (due.actual.mountings + due.estimate.mountings).saturating_sub(to_reverse);
                usage.trace_only = (due.actual.trace_only + due.estimate.trace_only)
                    .saturating_sub(due.reversed.trace_only);
            }
        }
        usage.incidents = invoicing::load_incidents(&self.conn, shop, period)?;
        let mut rated = plans::rate(&pc, period, &usage)?;
        rated.invoice.basis = contract.basis;
        if unattributed > 0 {
            rated.notes.push(format!(
                "{unattributed} mountings of an estimate billed before this plan contract reversed on this period's usage"
            ));
        }
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        invoicing::add_plan_billed(
            &self.conn,
            shop,
            period,
            signed(usage.mountings),
            signed(estimate),
        )?;
        for c in &usage.corrections {
            let estimate = if c.cause == CorrectionCause::Estimate {
                c.delta
            } else {
                0
            };
            invoicing::add_plan_billed(&self.conn, shop, c.usage_period, c.delta, estimate)?;
        }
        Ok(Some(rated))
    }
}

/// Parses catalogue text with the file loader; the message places errors at line:column.
fn parse_catalogue(text: &str) -> Result<Catalogue, String> {
    catalogue_file::parse(Path::new("catalogue"), text).map_err(|e| e.to_string())
}

fn earliest_usage_period(conn: &Connection) -> Result<Option<Period>, MeteringError> {
    let key: Option<i64> = conn.query_row("SELECT MIN(period) FROM usage", [], |r| r.get(0))?;
    Ok(key.map(Period::from_key))
}

fn load_closes(conn: &Connection) -> Result<Vec<LoggedClose>, MeteringError> {
    let mut stmt = conn.prepare("SELECT period, readings_through FROM closes ORDER BY period")?;
    let rows = stmt.query_map([], |r| {
        Ok(LoggedClose {
            period: Period::from_key(r.get(0)?),
            readings_through: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The readings log in arrival order (one machine's, or all), with their stored validation.
fn load_logged_readings(
    conn: &Connection,
    machine: Option<u32>,
) -> Result<Vec<(LoggedReading, Option<VeeColumns>)>, MeteringError> {
    let sql = "SELECT rowid, source, seq, time, total_cycles, mountings, trace_only, vee_code, vee_period,
                      step_tc, step_m, step_t, reversed_tc, reversed_m, reversed_t, removal
               FROM readings WHERE ?1 IS NULL OR source = ?1 ORDER BY rowid";
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params![machine], |r| {
        let int = |i: usize| r.get::<_, i64>(i);
        let logged = LoggedReading {
            rowid: int(0)?,
            machine: int(1)? as usize,
            reading: Reading {
                seq: int(2)? as u64,
                time: int(3)?,
                counters: vee::Channels {
                    total_cycles: int(4)? as u64,
                    mountings: int(5)? as u64,
                    trace_only: int(6)? as u64,
                },
                removal: int(15)? != 0,
            },
        };
        let columns = match r.get::<_, Option<i64>>(7)? {
            None => None,
            Some(code) => Some(VeeColumns {
                code,
                period: r.get(8)?,
                steps: [int(9)?, int(10)?, int(11)?],
                reversed: [int(12)?, int(13)?, int(14)?],
            }),
        };
        Ok((logged, columns))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn write_vee_columns(conn: &Connection, rows: &[(i64, VeeColumns)]) -> Result<(), MeteringError> {
    conn.execute_batch("BEGIN")?;
    {
        let mut stmt = conn.prepare(
            "UPDATE readings SET vee_code = ?2, vee_period = ?3, step_tc = ?4, step_m = ?5, step_t = ?6,
                    reversed_tc = ?7, reversed_m = ?8, reversed_t = ?9 WHERE rowid = ?1",
        )?;
        for (rowid, c) in rows {
            stmt.execute(params![
                rowid,
                c.code,
                c.period,
                c.steps[0],
                c.steps[1],
                c.steps[2],
                c.reversed[0],
                c.reversed[1],
                c.reversed[2]
            ])?;
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}

/// VEE settings as stored in `settings`, one key per field.
const VEE_KEYS: [&str; 6] = [
    "vee.modulus",
    "vee.spike_factor",
    "vee.min_daily_allowance",
    "vee.max_zero_days",
    "vee.window_days",
    "vee.read_grace_hours",
];

fn vee_values(c: &VeeConfig) -> [u64; 6] {
    [
        c.modulus,
        c.spike_factor,
        c.min_daily_allowance,
        c.max_zero_days,
        c.window_days,
        c.read_grace_hours,
    ]
}

/// The store's VEE settings: stored ones win; a new store records `asked` (or the defaults).
fn settle_vee_config(
    conn: &Connection,
    asked: Option<VeeConfig>,
) -> Result<VeeConfig, MeteringError> {
    let mut stored = Vec::new();
    for key in VEE_KEYS {
        let value: Option<String> = conn
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?;
        stored.push(value.and_then(|v| v.parse::<u64>().ok()));
    }
    if stored.iter().all(Option::is_some) {
        let v: Vec<u64> = stored.into_iter().flatten().collect();
        let config = VeeConfig {
            modulus: v[0],
            spike_factor: v[1],
            min_daily_allowance: v[2],
            max_zero_days: v[3],
            window_days: v[4],
            read_grace_hours: v[5],
        };
        return match asked {
            Some(a) if a != config => Err(MeteringError::Conflict(format!(
                "this store validates counters with {config:?}; it cannot switch to {a:?} (start a new store)"
            ))),
            _ => Ok(config),
        };
    }
    let config = asked.unwrap_or_default();
    conn.execute_batch("BEGIN")?;
    for (key, value) in VEE_KEYS.iter().zip(vee_values(&config)) {
        conn.execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value.to_string()],
        )?;
    }
    conn.execute_batch("COMMIT")?;
    Ok(config)
}

/// A row of (shop, billable mountings, trace-only, remakes, counter reads).
fn usage_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UsageRow> {
    let count = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
    Ok(UsageRow {
        shop: ShopId(r.get::<_, i64>(0)? as u32),
        billable_mountings: count(1)?,
        trace_only: count(2)?,
        remakes: count(3)?,
        counter_reads: count(4)?,
    })
}

fn check_binding(bindings: &[Option<ShopId>], e: &UsageEvent) -> Result<(), RejectReason> {
    match bindings.get(e.machine.0 as usize).copied().flatten() {
        None => Err(RejectReason::UnknownMachine),
        Some(shop) if shop != e.shop => Err(RejectReason::WrongShop),
        Some(_) => Ok(()),
    }
}

/// One append-only table: rows accepted but not yet written, and how to write them.
struct Log<T> {
    rows: Vec<T>,
    /// INSERT text for one row and for `ROWS_PER_INSERT` rows, built once.
    sql: [String; 2],
    bind: Binder<T>,
}

type Binder<T> = fn(&mut Statement<'_>, usize, &T) -> rusqlite::Result<()>;

impl Log<UsageEvent> {
    fn jobs() -> Self {
        let head = "INSERT INTO events(source, seq, time, subject, type, attrs) VALUES ";
        Log::new(head, JOB_COLUMNS, bind_job)
    }
}

impl Log<(UsageEvent, VeeColumns)> {
    fn readings() -> Self {
        let head = "INSERT INTO readings(source, seq, time, subject, total_cycles, mountings, trace_only,
                    vee_code, vee_period, step_tc, step_m, step_t, reversed_tc, reversed_m, reversed_t,
                    removal) VALUES ";
        Log::new(head, READING_COLUMNS, bind_reading)
    }
}

impl<T> Log<T> {
    fn new(head: &str, columns: usize, bind: Binder<T>) -> Log<T> {
        let values = |rows: usize| {
            let row = format!("({})", vec!["?"; columns].join(","));
            format!("{head}{}", vec![row; rows].join(","))
        };
        Log {
            rows: Vec::with_capacity(ROWS_PER_INSERT),
            sql: [values(1), values(ROWS_PER_INSERT)],
            bind,
        }
    }

    /// Inserts the buffered rows (a whole chunk with the multi-row statement, fewer one by
    /// one) into the open transaction, and empties the buffer.
    fn write(&mut self, conn: &Connection) -> Result<(), MeteringError> {
        if self.rows.len() == ROWS_PER_INSERT {
            let mut stmt = conn.prepare_cached(&self.sql[1])?;
            for (i, e) in self.rows.iter().enumerate() {
                (self.bind)(&mut stmt, i, e)?;
            }
            stmt.raw_execute()?;
        } else {
            let mut stmt = conn.prepare_cached(&self.sql[0])?;
            for e in &self.rows {
                (self.bind)(&mut stmt, 0, e)?;
                stmt.raw_execute()?;
            }
        }
        self.rows.clear();
        Ok(())
    }
}

const JOB_COLUMNS: usize = 6;
const READING_COLUMNS: usize = 16;

/// Binds a mounting or trace-only event as row `row` of a statement.
/// attrs = frame | material << 4 | remake << 8.
fn bind_job(stmt: &mut Statement<'_>, row: usize, e: &UsageEvent) -> rusqlite::Result<()> {
    let (kind, attrs) = match e.body {
        EventBody::Mounting {
            frame,
            material,
            remake,
        } => (
            TYPE_MOUNTING,
            frame as i64 | (material as i64) << 4 | i64::from(remake) << 8,
        ),
        EventBody::TraceOnly { frame } => (TYPE_TRACE_ONLY, frame as i64),
        EventBody::Counter { .. } => unreachable!("readings go to their own log"),
    };
    let base = row * JOB_COLUMNS;
    stmt.raw_bind_parameter(base + 1, e.machine.0)?;
    // A u64 binds only if it fits an INTEGER (an error otherwise, never a clamp).
    stmt.raw_bind_parameter(base + 2, e.seq)?;
    stmt.raw_bind_parameter(base + 3, e.time)?;
    stmt.raw_bind_parameter(base + 4, e.shop.0)?;
    stmt.raw_bind_parameter(base + 5, kind)?;
    stmt.raw_bind_parameter(base + 6, attrs)
}

/// Binds a counter reading and its validation as row `row` of a statement.
fn bind_reading(
    stmt: &mut Statement<'_>,
    row: usize,
    (e, v): &(UsageEvent, VeeColumns),
) -> rusqlite::Result<()> {
    let EventBody::Counter {
        total_cycles,
        mountings,
        trace_only,
        removal,
    } = e.body
    else {
        unreachable!("only readings go to the readings log")
    };
    let base = row * READING_COLUMNS;
    stmt.raw_bind_parameter(base + 1, e.machine.0)?;
    stmt.raw_bind_parameter(base + 2, e.seq)?;
    stmt.raw_bind_parameter(base + 3, e.time)?;
    stmt.raw_bind_parameter(base + 4, e.shop.0)?;
    // Counters are stored as their 64 bits (read back `as u64`): exact over the whole range.
    stmt.raw_bind_parameter(base + 5, total_cycles as i64)?;
    stmt.raw_bind_parameter(base + 6, mountings as i64)?;
    stmt.raw_bind_parameter(base + 7, trace_only as i64)?;
    stmt.raw_bind_parameter(base + 8, v.code)?;
    stmt.raw_bind_parameter(base + 9, v.period)?;
    for (i, value) in v.steps.iter().chain(&v.reversed).enumerate() {
        stmt.raw_bind_parameter(base + 10 + i, *value)?;
    }
    stmt.raw_bind_parameter(base + 16, i64::from(removal))
}

/// Usage accepted since the last flush: per period, a row per shop (indexed by shop id), so
/// counting an event is an index, not a map lookup.
#[derive(Default)]
struct PendingUsage {
    shops: usize,
    periods: BTreeMap<i64, Vec<UsageRow>>,
}

impl PendingUsage {
    fn for_shops(shops: usize) -> PendingUsage {
        PendingUsage {
            shops,
            periods: BTreeMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.periods.is_empty()
    }

    /// Counts an accepted event; its shop is bound, hence below `shops`.
    fn add(&mut self, period: i64, e: &UsageEvent) {
        let shops = self.shops;
        let rows = self.periods.entry(period).or_insert_with(|| {
            (0..shops)
                .map(|s| UsageRow {
                    shop: ShopId(s as u32),
                    ..UsageRow::default()
                })
                .collect()
        });
        let shop = e.shop.0 as usize;
        if shop >= rows.len() {
            // Only when replaying an event of a shop no machine is bound to any more.
            let from = rows.len();
            rows.extend((from..=shop).map(|s| UsageRow {
                shop: ShopId(s as u32),
                ..UsageRow::default()
            }));
        }
        let row = &mut rows[shop];
        match e.body {
            EventBody::Mounting { remake, .. } => {
                row.billable_mountings += 1;
                row.remakes += u64::from(remake);
            }
            EventBody::TraceOnly { .. } => row.trace_only += 1,
            EventBody::Counter { .. } => row.counter_reads += 1,
        }
    }

    /// The non-empty rows, in (period, shop) order; leaves the set empty.
    fn drain(&mut self) -> impl Iterator<Item = (i64, UsageRow)> {
        std::mem::take(&mut self.periods)
            .into_iter()
            .flat_map(|(period, rows)| rows.into_iter().map(move |row| (period, row)))
            .filter(|(_, row)| {
                *row != UsageRow {
                    shop: row.shop,
                    ..UsageRow::default()
                }
            })
    }
}

/// One past the largest shop id any machine is bound to.
fn max_shop(bindings: &[Option<ShopId>]) -> usize {
    bindings
        .iter()
        .flatten()
        .map(|s| s.0 as usize + 1)
        .max()
        .unwrap_or(0)
}

fn migrate(conn: &Connection) -> Result<(), MeteringError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(MeteringError::Open {
            path: conn.path().unwrap_or_default().to_string(),
            message: format!(
                "schema version {version} is newer than this fleetsim ({SCHEMA_VERSION})"
            ),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(&format!(
            "BEGIN; {sql} PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

fn load_bindings(conn: &Connection) -> Result<Vec<Option<ShopId>>, MeteringError> {
    let max: Option<i64> = conn
        .query_row("SELECT MAX(id) FROM machines", [], |r| r.get(0))
        .optional()?
        .flatten();
    let mut bindings = vec![None; max.map_or(0, |m| m as usize + 1)];
    let mut stmt = conn.prepare("SELECT id, shop FROM machines")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (id, shop) = row?;
        bindings[id as usize] = Some(ShopId(shop as u32));
    }
    Ok(bindings)
}

/// SQLite's automatic WAL checkpoint runs inside a commit, every 1000 pages by default: a
/// stall of several ms on the commit path that every request in the next group waits for. A
/// background connection copies the WAL into the database instead (PASSIVE: it never blocks
/// the writer), every `WAL_CHECKPOINT_EVERY`; the writer's own automatic checkpoint is kept
/// only as a backstop, at 65,536 pages (256 MB of WAL), if the background one falls behind.
struct WalCheckpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const WAL_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

impl WalCheckpointer {
    /// Starts the background checkpoints; without a second connection (a store that cannot be
    /// opened twice), the writer's automatic checkpoint does the work alone.
    fn start(path: &Path) -> WalCheckpointer {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = Connection::open(path).ok().and_then(|conn| {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("fleetsim-wal".into())
                .spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::thread::park_timeout(WAL_CHECKPOINT_EVERY);
                        // A busy or failed checkpoint is retried at the next tick.
                        let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
                    }
                })
                .ok()
        });
        WalCheckpointer { stop, thread }
    }
}

impl Drop for WalCheckpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Rowids of the last `events` and `readings` rows the stored `seen` and `usage` cover.
fn load_checkpoint(conn: &Connection) -> Result<(i64, i64), MeteringError> {
    Ok(conn.query_row(
        "SELECT events_through, readings_through FROM checkpoint",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// The committed log rows past a checkpoint, as events (counters zeroed, removal unset: only
/// the identity, time, shop and kind matter to `seen` and `usage`; VEE replays the whole log
/// through `load_logged_readings`).
fn load_log_tail(
    conn: &Connection,
    events_through: i64,
    readings_through: i64,
) -> Result<Vec<UsageEvent>, MeteringError> {
    let mut stmt = conn.prepare(
        "SELECT source, seq, time, subject, type, attrs FROM events WHERE rowid > ?1
         UNION ALL
         SELECT source, seq, time, subject, 0, 0 FROM readings WHERE rowid > ?2",
    )?;
    let rows = stmt.query_map(params![events_through, readings_through], |r| {
        let attrs: i64 = r.get(5)?;
        let body = match r.get::<_, i64>(4)? {
            TYPE_MOUNTING => EventBody::Mounting {
                frame: Frame::from_index((attrs & 0xf) as usize),
                material: Material::from_index(((attrs >> 4) & 0xf) as usize),
                remake: (attrs >> 8) & 1 == 1,
            },
            TYPE_TRACE_ONLY => EventBody::TraceOnly {
                frame: Frame::from_index((attrs & 0xf) as usize),
            },
            _ => EventBody::Counter {
                total_cycles: 0,
                mountings: 0,
                trace_only: 0,
                removal: false,
            },
        };
        Ok(UsageEvent {
            machine: MachineId(r.get::<_, i64>(0)? as u32),
            seq: r.get::<_, i64>(1)? as u64,
            time: r.get(2)?,
            shop: ShopId(r.get::<_, i64>(3)? as u32),
            body,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn load_seen(conn: &Connection, machines: usize) -> Result<Vec<SeenSet>, MeteringError> {
    let mut ranges: Vec<Vec<(u64, u64)>> = vec![Vec::new(); machines];
    let mut stmt = conn.prepare("SELECT source, lo, hi FROM seen")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (source, lo, hi) = row?;
        if let Some(list) = ranges.get_mut(source as usize) {
            list.push((lo as u64, hi as u64));
        }
    }
    Ok(ranges.into_iter().map(SeenSet::from_ranges).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounting(machine: u32, seq: u64, shop: u32) -> UsageEvent {
        UsageEvent {
            machine: MachineId(machine),
            seq,
            time: 1_704_186_000,
            shop: ShopId(shop),
            body: EventBody::Mounting {
                frame: Frame::FullRim,
                material: Material::Index150,
                remake: false,
            },
        }
    }

    fn engine(dir: &Path) -> SqliteEngine {
        let mut e = SqliteEngine::open(&dir.join("m.sqlite")).unwrap();
        e.provision(&[(MachineId(0), ShopId(0)), (MachineId(1), ShopId(1))])
            .unwrap();
        e
    }

    #[test]
    fn duplicates_are_counted_once_across_batches_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = engine(dir.path());
        let batch: Vec<_> = (1..=100).map(|s| mounting(0, s, 0)).collect();
        assert_eq!(e.ingest(&batch).unwrap().accepted, 100);
        assert_eq!(e.ingest(&batch[10..20]).unwrap().duplicates, 10);
        e.commit().unwrap();
        drop(e);
        let mut e = SqliteEngine::open(&dir.path().join("m.sqlite")).unwrap();
        let again = e.ingest(&batch).unwrap();
        assert_eq!((again.accepted, again.duplicates), (0, 100));
        assert_eq!(e.stored_events().unwrap(), 100);
    }

    #[test]
    fn uncommitted_events_are_not_seen_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = engine(dir.path());
        e.ingest(&[mounting(0, 1, 0)]).unwrap();
        e.commit().unwrap();
        e.ingest(&[mounting(0, 2, 0)]).unwrap();
        drop(e); // no commit: a crash
        let mut e = SqliteEngine::open(&dir.path().join("m.sqlite")).unwrap();
        let r = e.ingest(&[mounting(0, 1, 0), mounting(0, 2, 0)]).unwrap();
        assert_eq!((r.accepted, r.duplicates), (1, 1));
    }

    #[test]
    fn stored_events_read_back_exactly_as_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = engine(dir.path());
        let sent = vec![
            mounting(0, 1, 0),
            UsageEvent {
                body: EventBody::Mounting {
                    frame: Frame::Drilled,
                    material: Material::Mineral,
                    remake: true,
                },
                ..mounting(0, 2, 0)
            },
            UsageEvent {
                body: EventBody::TraceOnly {
                    frame: Frame::Grooved,
                },
                ..mounting(0, 3, 0)
            },
            UsageEvent {
                body: EventBody::Counter {
                    total_cycles: 3,
                    mountings: 2,
                    trace_only: 1,
                    removal: false,
                },
                time: 1_704_216_600,
                ..mounting(0, 4, 0)
            },
            UsageEvent {
                body: EventBody::Counter {
                    total_cycles: 4,
                    mountings: 3,
                    trace_only: 1,
                    removal: true,
                },
                time: 1_704_303_000,
                ..mounting(0, 5, 0)
            },
        ];
        e.ingest(&sent).unwrap();
        e.commit().unwrap();
        assert_eq!(e.stored_events_of(MachineId(0)).unwrap(), sent);
    }

    /// Every integer of an event is kept exactly: the largest sequence number the wire
    /// allows (i64::MAX) and counters over the whole u64 range, also after a reopen. A
    /// sequence number beyond i64::MAX is refused whole, never clamped onto another event.
    #[test]
    fn integers_are_stored_exactly_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = engine(dir.path());
        let top = i64::MAX as u64;
        let extremes = vec![
            mounting(0, top - 1, 0),
            UsageEvent {
                body: EventBody::Counter {
                    total_cycles: u64::MAX,
                    mountings: u64::MAX - 1,
                    trace_only: top + 1,
                    removal: false,
                },
                ..mounting(0, top, 0)
            },
        ];
        assert_eq!(e.ingest(&extremes).unwrap().accepted, 2);
        e.commit().unwrap();
        let beyond = [mounting(1, 1, 1), mounting(1, top + 1, 1)];
        let refused = e.ingest(&beyond);
        assert!(
            matches!(&refused, Err(MeteringError::Unstorable(m)) if m.contains("9223372036854775807")),
            "{refused:?}"
        );
        assert_eq!(
            e.ingest(&beyond[..1]).unwrap().accepted,
            1,
            "nothing of the refused batch was counted"
        );
        e.commit().unwrap();
        drop(e);
        let mut e = SqliteEngine::open(&dir.path().join("m.sqlite")).unwrap();
        assert_eq!(e.stored_events_of(MachineId(0)).unwrap(), extremes);
        assert_eq!(e.ingest(&extremes).unwrap().duplicates, 2);
    }

    /// A close of a store without contracts or counter readings visits only the periods
    /// holding usage, and the last: closing through December 2030 after usage in January and
    /// March 2024 closes 3 periods one by one, not 84; the store is closed through 2030 all the
    /// same (also after a reopen), and the usage was taken. With a contract, every month is
    /// invoiced, so every month is closed.
    #[test]
    fn a_close_visits_the_periods_holding_data_not_the_calendar_span() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        let mut e = engine(dir.path());
        let march = UsageEvent {
            time: 1_709_287_200,
            ..mounting(0, 2, 0)
        };
        e.ingest(&[mounting(0, 1, 0), march]).unwrap();
        e.commit().unwrap();
        let p = |year, month| Period { year, month };
        assert!(e.close_period(p(2030, 12)).unwrap().is_empty());
        assert_eq!(e.periods_closed(), 3);
        assert!(
            e.close_period(p(2030, 12)).unwrap().is_empty(),
            "idempotent"
        );
        assert_eq!(e.periods_closed(), 3);
        drop(e);
        let mut e = SqliteEngine::open(&path).unwrap();
        let skipped = e.record_incidents(ShopId(0), p(2027, 5), &[]);
        assert!(
            matches!(skipped, Err(MeteringError::PeriodClosed { .. })),
            "{skipped:?}"
        );
        // The usage was invoiced (taken) by the close: a contract set now bills none of it.
        e.set_contracts(&[Contract {
            shop: ShopId(0),
            basis: Basis::Events,
            price_per_mounting: crate::money::UnitPrice::parse("3.00").unwrap(),
            currency: crate::money::Currency("EUR".into()),
        }])
        .unwrap();
        let next = e.close_period(p(2031, 3)).unwrap();
        assert_eq!(
            e.periods_closed(),
            3,
            "since the reopen: every month of a contract"
        );
        assert_eq!(next.len(), 3);
        assert!(next.iter().all(|i| i.total_cents == 0), "{next:?}");
    }

    #[test]
    fn rejects_unknown_machines_and_wrong_shops() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = engine(dir.path());
        let r = e
            .ingest(&[mounting(9, 1, 0), mounting(1, 1, 0), mounting(1, 1, 1)])
            .unwrap();
        assert_eq!(
            (
                r.rejected_unknown_machine,
                r.rejected_wrong_shop,
                r.accepted
            ),
            (1, 1, 1)
        );
    }

    fn counter(machine: u32, seq: u64, time: i64, mountings: u64) -> UsageEvent {
        UsageEvent {
            body: EventBody::Counter {
                total_cycles: mountings,
                mountings,
                trace_only: 0,
                removal: false,
            },
            time,
            ..mounting(machine, seq, 0)
        }
    }

    /// A store as fleetsim left it at schema `version` (its first `version` migrations), plus
    /// `rows` written then.
    fn store_at_version(path: &Path, version: usize, rows: &str) {
        let conn = Connection::open(path).unwrap();
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&format!("PRAGMA user_version = {version}; {rows}"))
            .unwrap();
    }

    fn schema_version(e: &SqliteEngine) -> i64 {
        e.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_version_1_store_gets_its_readings_validated_when_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        store_at_version(
            &path,
            1,
            "INSERT INTO machines VALUES (0, 0);
             INSERT INTO readings VALUES (0, 1, 1704067200, 0, 10, 10, 0), (0, 2, 1704223800, 0, 17, 17, 0);
             INSERT INTO seen VALUES (0, 1, 2);",
        );
        let mut e = SqliteEngine::open(&path).unwrap();
        assert_eq!(
            e.vee_differences().unwrap(),
            0,
            "every v1 reading was validated at open"
        );
        let steps: i64 = e
            .conn
            .query_row("SELECT SUM(step_m) FROM readings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(steps, 7);
        let jan = Period {
            year: 2024,
            month: 1,
        };
        assert_eq!(e.counter_usage(jan).unwrap()[0].usage.actual.mountings, 7);
    }

    #[test]
    fn vee_state_is_replayed_exactly_after_a_restart_and_closes_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let jan = Period {
            year: 2024,
            month: 1,
        };
        let mut e = engine(dir.path());
        e.set_contracts(&[Contract {
            shop: ShopId(0),
            basis: Basis::Counters,
            price_per_mounting: crate::money::UnitPrice::parse("2").unwrap(),
            currency: crate::money::Currency("EUR".into()),
        }])
        .unwrap();
        e.ingest(&[
            counter(0, 1, 1_704_067_200, 0),
            counter(0, 2, 1_704_223_800, 5),
        ])
        .unwrap();
        let issued = e.close_period(jan).unwrap();
        assert_eq!(issued.len(), 1);
        assert_eq!(
            issued[0].billed_mountings(),
            5 + issued[0].lines[1].quantity,
            "usage plus the estimate"
        );
        assert!(e.close_period(jan).unwrap().is_empty());
        drop(e);
        let mut e = SqliteEngine::open(&dir.path().join("m.sqlite")).unwrap();
        assert_eq!(e.invoices(jan).unwrap(), issued);
        assert!(
            e.close_period(jan).unwrap().is_empty(),
            "still closed after a restart"
        );
        // The estimate is outstanding in the replayed state: February's first read reverses it.
        e.ingest(&[counter(0, 3, 1_707_000_000, 9)]).unwrap();
        let feb = e.counter_usage(jan.next()).unwrap();
        assert_eq!(
            feb[0].usage.reversed.mountings,
            issued[0].lines[1].quantity as u64
        );
        assert_eq!(e.vee_differences().unwrap(), 0);
    }

    #[test]
    fn a_version_3_store_keeps_its_price_contracts_when_migrated_to_plans() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        store_at_version(
            &path,
            3,
            "INSERT INTO machines VALUES (0, 0);
             INSERT INTO contracts VALUES (0, 'events', '3.85', 'EUR');",
        );
        let mut e = SqliteEngine::open(&path).unwrap();
        assert_eq!(schema_version(&e), SCHEMA_VERSION);
        assert_eq!(e.catalogue().unwrap(), None);
        e.ingest(&[mounting(0, 1, 0), mounting(0, 2, 0)]).unwrap();
        e.commit().unwrap();
        let jan = Period {
            year: 2024,
            month: 1,
        };
        let issued = e.close_period(jan).unwrap();
        assert_eq!(issued[0].total_cents, 770, "2 × 3.85, as before");
        assert!(e.invoice_notes(jan).unwrap().is_empty());
    }

    /// Machine `m` (shop `m`) read daily at 19:30 from Jan 1 to Jan 10, +5 a day; the Jan 10
    /// read is the removal read when `removed`.
    fn ten_january_reads(m: u32, removed: bool) -> Vec<UsageEvent> {
        (0..10u64)
            .map(|day| UsageEvent {
                body: EventBody::Counter {
                    total_cycles: 5 * day,
                    mountings: 5 * day,
                    trace_only: 0,
                    removal: removed && day == 9,
                },
                time: 1_704_137_400 + day as i64 * 86_400,
                ..mounting(m, day + 1, m)
            })
            .collect()
    }

    /// The removal flag is in the log, so a reopened store (log replay) still knows machine 0
    /// is removed: the same counter usage, and January and February close without estimating
    /// it, while machine 1, read the same way without the flag, is estimated.
    #[test]
    fn a_removal_read_survives_a_reopen_and_stops_estimates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        let jan = Period {
            year: 2024,
            month: 1,
        };
        let mut e = engine(dir.path());
        e.ingest(&ten_january_reads(0, true)).unwrap();
        e.ingest(&ten_january_reads(1, false)).unwrap();
        e.commit().unwrap();
        let before = e.counter_usage(jan).unwrap();
        drop(e);

        let mut e = SqliteEngine::open(&path).unwrap();
        assert_eq!(e.counter_usage(jan).unwrap(), before);
        assert_eq!(before[0].usage.actual.mountings, 45);
        e.close_period(jan.next()).unwrap();
        drop(e);

        let mut e = SqliteEngine::open(&path).unwrap();
        for period in [jan, jan.next()] {
            let rows = e.counter_usage(period).unwrap();
            let (removed, kept) = (&rows[0], &rows[1]);
            assert_eq!(removed.estimated_machines, 0, "{period}");
            assert!(removed.usage.estimate.is_zero(), "{period}");
            assert_eq!(kept.estimated_machines, 1, "{period}");
            assert!(kept.usage.estimate.mountings > 0, "{period}");
        }
        assert_eq!(e.vee_differences().unwrap(), 0);
        let explained = e.explain_machine(MachineId(0)).unwrap().unwrap();
        let last = explained.readings.last().unwrap();
        assert!(last.raw.removal);
        assert!(
            last.explanation.contains("removal read"),
            "{}",
            last.explanation
        );
    }

    #[test]
    fn a_version_4_store_gets_the_removal_column_when_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        store_at_version(
            &path,
            4,
            "INSERT INTO machines VALUES (0, 0);
             INSERT INTO readings(source, seq, time, subject, total_cycles, mountings, trace_only)
                 VALUES (0, 1, 1704067200, 0, 10, 10, 0), (0, 2, 1704223800, 0, 17, 17, 0);
             INSERT INTO seen VALUES (0, 1, 2);",
        );
        let mut e = SqliteEngine::open(&path).unwrap();
        assert_eq!(schema_version(&e), SCHEMA_VERSION);
        let stored = e.stored_events_of(MachineId(0)).unwrap();
        assert!(
            stored
                .iter()
                .all(|s| matches!(s.body, EventBody::Counter { removal: false, .. })),
            "readings stored before v5 are end-of-day reads: {stored:?}"
        );
        assert_eq!(e.vee_differences().unwrap(), 0);
        // A removal read after the migration is kept with its flag.
        let removal = UsageEvent {
            body: EventBody::Counter {
                total_cycles: 20,
                mountings: 20,
                trace_only: 0,
                removal: true,
            },
            ..counter(0, 3, 1_704_310_200, 20)
        };
        e.ingest(&[removal]).unwrap();
        e.commit().unwrap();
        assert_eq!(e.stored_events_of(MachineId(0)).unwrap()[2], removal);
    }

    #[test]
    fn another_counter_width_on_an_existing_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        let four_digits = VeeConfig {
            modulus: 10_000,
            ..VeeConfig::default()
        };
        drop(SqliteEngine::open_with(&path, Some(four_digits)).unwrap());
        assert_eq!(SqliteEngine::open(&path).unwrap().vee_config(), four_digits);
        let err = SqliteEngine::open_with(&path, Some(VeeConfig::default()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("cannot switch"), "{err}");
    }

    #[test]
    fn usage_aggregate_equals_recomputation_from_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = engine(dir.path());
        let mut batch: Vec<_> = (1..=77).map(|s| mounting(0, s, 0)).collect();
        batch.extend((1..=5).map(|s| mounting(1, s, 1)));
        batch.extend((1..=5).map(|s| mounting(1, s, 1)));
        e.ingest(&batch).unwrap();
        e.commit().unwrap();
        let period = Period {
            year: 2024,
            month: 1,
        };
        let usage = e.usage(period).unwrap();
        assert_eq!(usage, e.recompute_usage(period).unwrap());
        assert_eq!(usage[0].billable_mountings, 77);
        assert_eq!(usage[1].billable_mountings, 5);
    }

    /// One step of a crash-and-restart history: a batch of (machine, seq, day) events,
    /// committed or lost in a crash.
    #[derive(Clone, Debug)]
    struct Step {
        events: Vec<(u32, u64, i64)>,
        committed: bool,
        reopen: bool,
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        (
            proptest::collection::vec((0u32..2, 1u64..40, 0i64..60), 0..30),
            proptest::bool::weighted(0.8),
            proptest::bool::weighted(0.3),
        )
            .prop_map(|(events, committed, reopen)| Step {
                events,
                committed,
                reopen,
            })
    }

    /// Replays a history with a given checkpoint interval; returns the usage of both
    /// periods and how a final resend of everything is received.
    fn run_history(steps: &[Step], every: u64) -> (Vec<Vec<UsageRow>>, (u64, u64)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        let mut e = engine(dir.path());
        e.set_checkpoint_every(every);
        let as_events = |events: &[(u32, u64, i64)]| -> Vec<UsageEvent> {
            events
                .iter()
                .map(|&(m, seq, day)| UsageEvent {
                    time: 1_704_186_000 + day * 86_400,
                    ..mounting(m, seq, m)
                })
                .collect()
        };
        let mut all = Vec::new();
        for s in steps {
            let batch = as_events(&s.events);
            e.ingest(&batch).unwrap();
            all.extend(batch);
            if s.committed {
                e.commit().unwrap();
            }
            if s.reopen || !s.committed {
                drop(e);
                e = SqliteEngine::open(&path).unwrap();
                e.set_checkpoint_every(every);
            }
        }
        e.commit().unwrap();
        let periods = [Period::from_key(202401), Period::from_key(202402)];
        let usage: Vec<Vec<UsageRow>> = periods.iter().map(|p| e.usage(*p).unwrap()).collect();
        for (p, u) in periods.iter().zip(&usage) {
            assert_eq!(
                u,
                &e.recompute_usage(*p).unwrap(),
                "aggregate = sum of events"
            );
        }
        drop(e);
        let mut e = SqliteEngine::open(&path).unwrap();
        let resend = e.ingest(&all).unwrap();
        (usage, (resend.accepted, resend.duplicates))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Checkpointing is invisible: whatever the interval and wherever the crashes fall,
        /// usage and deduplication are those of a store that checkpoints at every commit.
        #[test]
        fn checkpoint_interval_and_crashes_do_not_change_what_is_stored(
            steps in proptest::collection::vec(step(), 1..8)
        ) {
            let every_commit = run_history(&steps, 1);
            for every in [3, 17, u64::MAX] {
                proptest::prop_assert_eq!(&run_history(&steps, every), &every_commit);
            }
        }
    }
}
