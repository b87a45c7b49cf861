//! The embedded metering engine: SQLite (WAL), idempotent on (source machine, sequence).
//!
//! Layout choices, for speed without skipping work:
//! - `events` is WITHOUT ROWID keyed by (source, seq): the key *is* the dedup index, so each
//!   event costs one B-tree insert. A batch from the simulator arrives sorted by that key
//!   (machine order, then sequence), so inserts walk the tree in order.
//! - Many days go into one transaction (`commit` is the caller's durability point), so each
//!   machine's last leaf page is written once per commit rather than once per day.
//! - Usage per (shop, period) is maintained on every accepted insert and upserted at flush,
//!   inside the same transaction: the aggregate can never disagree with the events it sums.

use super::*;
use crate::event::EventBody;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::Path;

const SCHEMA_VERSION: i64 = 1;

const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE machines(id INTEGER PRIMARY KEY, shop INTEGER NOT NULL);
     CREATE TABLE events(
        source INTEGER NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL,
        subject INTEGER NOT NULL, type INTEGER NOT NULL, attrs INTEGER NOT NULL,
        c_total INTEGER, c_mountings INTEGER, c_trace INTEGER,
        PRIMARY KEY(source, seq)) WITHOUT ROWID;
     CREATE TABLE usage(
        shop INTEGER NOT NULL, period INTEGER NOT NULL,
        billable_mountings INTEGER NOT NULL, trace_only INTEGER NOT NULL,
        remakes INTEGER NOT NULL, counter_reads INTEGER NOT NULL,
        PRIMARY KEY(period, shop)) WITHOUT ROWID;",
];

/// Event type codes in the `type` column.
const TYPE_MOUNTING: i64 = 1;
const TYPE_TRACE_ONLY: i64 = 2;
const TYPE_COUNTER: i64 = 3;

pub struct SqliteEngine {
    conn: Connection,
    /// Machine id → bound shop, mirrored from the `machines` table.
    bindings: Vec<Option<ShopId>>,
    /// Usage accepted since the last flush, keyed (period, shop).
    pending: BTreeMap<(i64, u32), UsageRow>,
    in_transaction: bool,
    totals: IngestReceipt,
}

impl SqliteEngine {
    /// Opens (creating and migrating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteEngine, MeteringError> {
        let conn = Connection::open(path).map_err(|e| MeteringError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY;",
        )?;
        migrate(&conn)?;
        let bindings = load_bindings(&conn)?;
        Ok(SqliteEngine { conn, bindings, pending: BTreeMap::new(), in_transaction: false, totals: IngestReceipt::default() })
    }

    fn begin(&mut self) -> Result<(), MeteringError> {
        if !self.in_transaction {
            self.conn.execute_batch("BEGIN")?;
            self.in_transaction = true;
        }
        Ok(())
    }

    fn insert_all(&mut self, events: &[UsageEvent], receipt: &mut IngestReceipt) -> Result<(), MeteringError> {
        let mut insert = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO events(source, seq, time, subject, type, attrs, c_total, c_mountings, c_trace)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for e in events {
            if let Err(reason) = check_binding(&self.bindings, e) {
                receipt.reject(reason);
                continue;
            }
            let (kind, attrs, counters) = columns(&e.body);
            let seq = i64::try_from(e.seq).unwrap_or(i64::MAX);
            let inserted = insert.execute(params![
                e.machine.0, seq, e.time, e.shop.0, kind, attrs, counters[0], counters[1], counters[2]
            ])?;
            if inserted == 0 {
                receipt.duplicates += 1;
                continue;
            }
            receipt.accepted += 1;
            add_usage(&mut self.pending, e);
        }
        Ok(())
    }

    fn flush_usage(&mut self) -> Result<(), MeteringError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.begin()?;
        let mut upsert = self.conn.prepare_cached(
            "INSERT INTO usage(period, shop, billable_mountings, trace_only, remakes, counter_reads)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(period, shop) DO UPDATE SET
               billable_mountings = billable_mountings + excluded.billable_mountings,
               trace_only = trace_only + excluded.trace_only,
               remakes = remakes + excluded.remakes,
               counter_reads = counter_reads + excluded.counter_reads",
        )?;
        for ((period, shop), u) in std::mem::take(&mut self.pending) {
            upsert.execute(params![
                period,
                shop,
                u.billable_mountings as i64,
                u.trace_only as i64,
                u.remakes as i64,
                u.counter_reads as i64
            ])?;
        }
        Ok(())
    }

    /// Recomputes one period's usage from the stored events (a full scan): the invariant
    /// check that the maintained aggregate equals the sum of the events.
    pub fn recompute_usage(&self, period: Period) -> Result<Vec<UsageRow>, MeteringError> {
        let start = period_start(period);
        let end = period_start(period.next());
        let mut stmt = self.conn.prepare(
            "SELECT subject,
                    SUM(type = ?3), SUM(type = ?4), SUM(type = ?3 AND (attrs >> 8) & 1), SUM(type = ?5)
             FROM events WHERE time >= ?1 AND time < ?2 GROUP BY subject ORDER BY subject",
        )?;
        let rows = stmt.query_map(params![start, end, TYPE_MOUNTING, TYPE_TRACE_ONLY, TYPE_COUNTER], |r| {
            Ok(UsageRow {
                shop: ShopId(r.get::<_, i64>(0)? as u32),
                billable_mountings: r.get::<_, i64>(1)? as u64,
                trace_only: r.get::<_, i64>(2)? as u64,
                remakes: r.get::<_, i64>(3)? as u64,
                counter_reads: r.get::<_, i64>(4)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Number of distinct events stored.
    pub fn stored_events(&self) -> Result<u64, MeteringError> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))? as u64)
    }
}

impl MeteringEngine for SqliteEngine {
    fn provision(&mut self, machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError> {
        self.begin()?;
        {
            let mut stmt = self.conn.prepare_cached(
                "INSERT INTO machines(id, shop) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET shop = excluded.shop",
            )?;
            for (machine, shop) in machines {
                stmt.execute(params![machine.0, shop.0])?;
            }
        }
        self.commit()?;
        self.bindings = load_bindings(&self.conn)?;
        Ok(())
    }

    fn ingest(&mut self, events: &[UsageEvent]) -> Result<IngestReceipt, MeteringError> {
        self.begin()?;
        let mut receipt = IngestReceipt::default();
        self.insert_all(events, &mut receipt)?;
        debug_assert_eq!(receipt.total(), events.len() as u64, "every event is accounted for");
        self.totals.add(&receipt);
        Ok(receipt)
    }

    fn commit(&mut self) -> Result<(), MeteringError> {
        self.flush_usage()?;
        if self.in_transaction {
            self.conn.execute_batch("COMMIT")?;
            self.in_transaction = false;
        }
        Ok(())
    }

    fn usage(&mut self, period: Period) -> Result<Vec<UsageRow>, MeteringError> {
        self.flush_usage()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT shop, billable_mountings, trace_only, remakes, counter_reads
             FROM usage WHERE period = ?1 ORDER BY shop",
        )?;
        let rows = stmt.query_map(params![period.key()], |r| {
            Ok(UsageRow {
                shop: ShopId(r.get::<_, i64>(0)? as u32),
                billable_mountings: r.get::<_, i64>(1)? as u64,
                trace_only: r.get::<_, i64>(2)? as u64,
                remakes: r.get::<_, i64>(3)? as u64,
                counter_reads: r.get::<_, i64>(4)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn receipt_totals(&self) -> IngestReceipt {
        self.totals
    }
}

fn check_binding(bindings: &[Option<ShopId>], e: &UsageEvent) -> Result<(), RejectReason> {
    match bindings.get(e.machine.0 as usize).copied().flatten() {
        None => Err(RejectReason::UnknownMachine),
        Some(shop) if shop != e.shop => Err(RejectReason::WrongShop),
        Some(_) => Ok(()),
    }
}

/// (type code, packed attributes, counter columns) of an event body.
/// attrs = frame | material << 4 | remake << 8.
fn columns(body: &EventBody) -> (i64, i64, [Option<i64>; 3]) {
    match *body {
        EventBody::Mounting { frame, material, remake } => {
            (TYPE_MOUNTING, frame as i64 | (material as i64) << 4 | i64::from(remake) << 8, [None; 3])
        }
        EventBody::TraceOnly { frame } => (TYPE_TRACE_ONLY, frame as i64, [None; 3]),
        EventBody::Counter { total_cycles, mountings, trace_only } => (
            TYPE_COUNTER,
            0,
            [Some(total_cycles as i64), Some(mountings as i64), Some(trace_only as i64)],
        ),
    }
}

fn add_usage(pending: &mut BTreeMap<(i64, u32), UsageRow>, e: &UsageEvent) {
    let row = pending
        .entry((Period::of_unix(e.time).key(), e.shop.0))
        .or_insert(UsageRow { shop: e.shop, ..UsageRow::default() });
    match e.body {
        EventBody::Mounting { remake, .. } => {
            row.billable_mountings += 1;
            row.remakes += u64::from(remake);
        }
        EventBody::TraceOnly { .. } => row.trace_only += 1,
        EventBody::Counter { .. } => row.counter_reads += 1,
    }
}

fn period_start(p: Period) -> i64 {
    chrono::NaiveDate::from_ymd_opt(p.year, p.month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(0, |t| t.and_utc().timestamp())
}

fn migrate(conn: &Connection) -> Result<(), MeteringError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(MeteringError::Open {
            path: conn.path().unwrap_or_default().to_string(),
            message: format!("schema version {version} is newer than this fleetsim ({SCHEMA_VERSION})"),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(&format!("BEGIN; {sql} PRAGMA user_version = {}; COMMIT;", i + 1))?;
    }
    Ok(())
}

fn load_bindings(conn: &Connection) -> Result<Vec<Option<ShopId>>, MeteringError> {
    let max: Option<i64> = conn.query_row("SELECT MAX(id) FROM machines", [], |r| r.get(0)).optional()?.flatten();
    let mut bindings = vec![None; max.map_or(0, |m| m as usize + 1)];
    let mut stmt = conn.prepare("SELECT id, shop FROM machines")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (id, shop) = row?;
        bindings[id as usize] = Some(ShopId(shop as u32));
    }
    Ok(bindings)
}
