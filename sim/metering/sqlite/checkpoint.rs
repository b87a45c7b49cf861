//! Checkpoints: `seen` ranges and usage are counted in memory and reach their tables with the
//! log rowids they cover; opening the store loads them and replays the log rows past the
//! checkpoint.
//!
//! Every `CHECKPOINT_EVENTS` accepted events a **round** starts: what is dirty then (machines'
//! ranges, usage per period and shop) is written a slice per group commit, at most
//! `CHECKPOINT_SLICE` machines and usage rows each, and the last slice moves the checkpoint to
//! the log ends at the round's start. Writing 15,000 machines and shops at once stalled one
//! commit for ≈ 45–80 ms, and every request waiting behind it; a slice costs ≈ 1 ms.
//!
//! A crash mid-round stays exact: a machine's stored ranges may run past the checkpoint
//! (inserting a sequence number again changes nothing), and each usage row records the log
//! rowids it holds the events through (`usage.events_through`, `readings_through`), so the
//! replay counts an event only if its row does not hold it already. Reads that need the
//! tables (usage queries, closes) write everything at once (`checkpoint`).

use super::rows::{At, LogRow, EVENT_COLUMNS, READING_COLUMNS};
use super::*;
use crate::event::EventBody;

/// Machines, and usage rows, written per group commit during a round: ≈ 1 ms at France size,
/// so a round of 15,000 machines and shops spreads over some 60 commits (a fraction of a
/// second at 400 k events/s, against ≈ 5 s between rounds).
pub(super) const CHECKPOINT_SLICE: usize = 256;

/// The last rowid of each log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LogEnds {
    pub(super) events: i64,
    pub(super) readings: i64,
}

impl LogEnds {
    /// Whether a log row at or before these ends.
    fn holds(&self, row: &Logged) -> bool {
        let end = if row.reading {
            self.readings
        } else {
            self.events
        };
        row.rowid <= end
    }
}

/// A checkpoint under way: the machines dirty and the usage accepted when it started, each
/// written once, in key order, a slice at a time.
pub(super) struct Round {
    through: LogEnds,
    machines: Vec<u32>,
    usage: Vec<(i64, UsageRow)>,
    machines_written: usize,
    usage_written: usize,
}

impl Round {
    fn is_done(&self) -> bool {
        self.machines_written == self.machines.len() && self.usage_written == self.usage.len()
    }
}

impl SqliteEngine {
    /// Starts a round over everything dirty now (the logs are written already).
    pub(super) fn start_round(&mut self) -> Result<(), MeteringError> {
        let through = log_ends(&self.conn)?;
        let mut machines = std::mem::take(&mut self.dirty);
        // Key order: SQLite B-tree writes in order are ~10× cheaper than interleaved ones.
        machines.sort_unstable();
        let usage = self.pending.drain().collect();
        self.since_checkpoint = 0;
        self.round = Some(Round {
            through,
            machines,
            usage,
            machines_written: 0,
            usage_written: 0,
        });
        Ok(())
    }

    /// Writes the round's next slice into the open transaction; the last one moves the
    /// checkpoint. A machine written keeps its dirty flag cleared until it accepts again.
    pub(super) fn continue_round(&mut self) -> Result<(), MeteringError> {
        if self.round.is_none() {
            return Ok(());
        }
        self.begin()?;
        let slice = self.checkpoint_slice;
        let Some(round) = self.round.as_mut() else {
            return Ok(());
        };
        let from = round.machines_written;
        let to = (from + slice).min(round.machines.len());
        write_seen(
            &self.conn,
            &self.seen,
            &mut self.dirty_flag,
            &round.machines[from..to],
        )?;
        round.machines_written = to;
        let from = round.usage_written;
        let to = (from + slice).min(round.usage.len());
        write_usage(&self.conn, &round.usage[from..to], round.through)?;
        round.usage_written = to;
        if round.is_done() {
            write_position(&self.conn, round.through)?;
            self.round = None;
        }
        Ok(())
    }

    /// Writes everything held in memory (events, seen ranges, usage, a round under way) into
    /// the open transaction, with the log positions it covers.
    pub(super) fn checkpoint(&mut self) -> Result<(), MeteringError> {
        self.write_buffer()?;
        self.since_checkpoint = 0;
        self.absorb_round();
        if self.dirty.is_empty() && self.pending.is_empty() {
            return Ok(());
        }
        self.begin()?;
        let through = log_ends(&self.conn)?;
        let mut machines = std::mem::take(&mut self.dirty);
        machines.sort_unstable();
        write_seen(&self.conn, &self.seen, &mut self.dirty_flag, &machines)?;
        let usage: Vec<_> = self.pending.drain().collect();
        write_usage(&self.conn, &usage, through)?;
        write_position(&self.conn, through)
    }

    /// Hands what a round has not written yet back to the dirty set and the pending usage.
    fn absorb_round(&mut self) {
        let Some(round) = self.round.take() else {
            return;
        };
        // Their dirty flags are still set: only a write clears them.
        self.dirty
            .extend_from_slice(&round.machines[round.machines_written..]);
        for (period, row) in &round.usage[round.usage_written..] {
            self.pending.add_row(*period, row);
        }
    }
}

/// Rewrites the stored ranges of `machines` (in id order) from memory.
fn write_seen(
    conn: &Connection,
    seen: &[SeenSet],
    dirty_flag: &mut [bool],
    machines: &[u32],
) -> Result<(), MeteringError> {
    let mut clear = conn.prepare_cached("DELETE FROM seen WHERE source = ?1")?;
    let mut insert = conn.prepare_cached("INSERT INTO seen(source, lo, hi) VALUES (?1, ?2, ?3)")?;
    for &m in machines {
        clear.execute(params![m])?;
        for &(lo, hi) in seen[m as usize].ranges() {
            insert.execute(params![m, lo as i64, hi as i64])?;
        }
        dirty_flag[m as usize] = false;
    }
    Ok(())
}

/// Adds usage to the stored rows, each then holding its events through `through`.
fn write_usage(
    conn: &Connection,
    rows: &[(i64, UsageRow)],
    through: LogEnds,
) -> Result<(), MeteringError> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO usage(period, shop, billable_mountings, trace_only, remakes, counter_reads,
                           events_through, readings_through)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(period, shop) DO UPDATE SET
           billable_mountings = billable_mountings + excluded.billable_mountings,
           trace_only = trace_only + excluded.trace_only,
           remakes = remakes + excluded.remakes,
           counter_reads = counter_reads + excluded.counter_reads,
           events_through = excluded.events_through,
           readings_through = excluded.readings_through",
    )?;
    for (period, u) in rows {
        upsert.execute(params![
            period,
            u.shop.0,
            u.billable_mountings as i64,
            u.trace_only as i64,
            u.remakes as i64,
            u.counter_reads as i64,
            through.events,
            through.readings
        ])?;
    }
    Ok(())
}

fn write_position(conn: &Connection, through: LogEnds) -> Result<(), MeteringError> {
    conn.prepare_cached("UPDATE checkpoint SET events_through = ?1, readings_through = ?2")?
        .execute(params![through.events, through.readings])?;
    Ok(())
}

/// The last rowid of each log, rows of the open transaction included.
pub(super) fn log_ends(conn: &Connection) -> Result<LogEnds, MeteringError> {
    Ok(conn.query_row(
        "SELECT (SELECT COALESCE(MAX(rowid), 0) FROM events),
                (SELECT COALESCE(MAX(rowid), 0) FROM readings)",
        [],
        |r| {
            Ok(LogEnds {
                events: r.get(0)?,
                readings: r.get(1)?,
            })
        },
    )?)
}

/// Usage accepted since the last flush: per period, a row per shop (indexed by shop id), so
/// counting an event is an index, not a map lookup.
#[derive(Default)]
pub(super) struct PendingUsage {
    shops: usize,
    pub(super) periods: BTreeMap<i64, Vec<UsageRow>>,
}

impl PendingUsage {
    pub(super) fn for_shops(shops: usize) -> PendingUsage {
        PendingUsage {
            shops,
            periods: BTreeMap::new(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.periods.is_empty()
    }

    /// Room for `shops` shops in every period held.
    pub(super) fn grow_to(&mut self, shops: usize) {
        if shops <= self.shops {
            return;
        }
        for rows in self.periods.values_mut() {
            rows.extend((self.shops..shops).map(|s| UsageRow {
                shop: ShopId(s as u32),
                ..UsageRow::default()
            }));
        }
        self.shops = shops;
    }

    /// Counts an accepted event; its shop is bound, hence below `shops`.
    pub(super) fn add(&mut self, period: i64, e: &UsageEvent) {
        let row = self.row(period, e.shop);
        match e.body {
            EventBody::Mounting { remake, .. } => {
                row.billable_mountings += 1;
                row.remakes += u64::from(remake);
            }
            EventBody::TraceOnly { .. } => row.trace_only += 1,
            EventBody::Counter { .. } => row.counter_reads += 1,
        }
    }

    /// Adds a row's counts (a round's usage not written yet).
    fn add_row(&mut self, period: i64, u: &UsageRow) {
        let row = self.row(period, u.shop);
        row.billable_mountings += u.billable_mountings;
        row.trace_only += u.trace_only;
        row.remakes += u.remakes;
        row.counter_reads += u.counter_reads;
    }

    fn row(&mut self, period: i64, shop: ShopId) -> &mut UsageRow {
        let shops = self.shops;
        let rows = self.periods.entry(period).or_insert_with(|| {
            (0..shops)
                .map(|s| UsageRow {
                    shop: ShopId(s as u32),
                    ..UsageRow::default()
                })
                .collect()
        });
        let shop = shop.0 as usize;
        if shop >= rows.len() {
            // Only when replaying an event of a shop no machine is bound to any more.
            let from = rows.len();
            rows.extend((from..=shop).map(|s| UsageRow {
                shop: ShopId(s as u32),
                ..UsageRow::default()
            }));
        }
        &mut rows[shop]
    }

    /// The non-empty rows, in (period, shop) order; leaves the set empty.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = (i64, UsageRow)> {
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

/// Log ends the stored `seen` and `usage` cover.
pub(super) fn load_checkpoint(conn: &Connection) -> Result<LogEnds, MeteringError> {
    let (events, readings): (i64, i64) = conn.query_row(
        "SELECT events_through, readings_through FROM checkpoint",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let at = At::key("checkpoint", "id 0");
    at.count("events_through", events)?;
    at.count("readings_through", readings)?;
    Ok(LogEnds { events, readings })
}

/// Usage rows written past the checkpoint (by a round that had not ended), with the log ends
/// each holds its events through, keyed (period, shop).
pub(super) struct WrittenUsage(BTreeMap<(i64, u32), LogEnds>);

impl WrittenUsage {
    /// Whether the stored row of this period and shop holds this log row already.
    pub(super) fn holds(&self, period: i64, shop: ShopId, row: &Logged) -> bool {
        self.0
            .get(&(period, shop.0))
            .is_some_and(|through| through.holds(row))
    }
}

/// Reads every usage row's log ends (a scan of the table, at open only): those past the
/// checkpoint, checked to lie within the logs.
pub(super) fn load_written_usage(
    conn: &Connection,
    checkpoint: LogEnds,
) -> Result<WrittenUsage, MeteringError> {
    let ends = log_ends(conn)?;
    let mut stmt = conn.prepare(
        "SELECT period, shop, events_through, readings_through FROM usage
         WHERE events_through > ?1 OR readings_through > ?2
            OR events_through < 0 OR readings_through < 0",
    )?;
    let rows = stmt.query_map(params![checkpoint.events, checkpoint.readings], |r| {
        Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?])
    })?;
    let mut written = BTreeMap::new();
    for row in rows {
        let [period, shop, events, readings]: [i64; 4] = row?;
        let at = At::key("usage", format!("(period {period}, shop {shop})"));
        let shop = at.id("shop", shop)?;
        for (column, value, end) in [
            ("events_through", events, ends.events),
            ("readings_through", readings, ends.readings),
        ] {
            if at.count(column, value)? > end as u64 {
                let allowed = format!("values up to the log's last rowid ({end})");
                return Err(at.corrupt(column, value, &allowed));
            }
        }
        written.insert((period, shop), LogEnds { events, readings });
    }
    Ok(WrittenUsage(written))
}

/// A committed log row past the checkpoint, as an event (only the identity, time, shop and
/// kind matter to `seen` and `usage`; VEE replays the whole log through
/// `load_logged_readings`), and where it is in the logs.
pub(super) struct Logged {
    pub(super) reading: bool,
    pub(super) rowid: i64,
    pub(super) event: UsageEvent,
}

pub(super) fn load_log_tail(
    conn: &Connection,
    checkpoint: LogEnds,
) -> Result<Vec<Logged>, MeteringError> {
    let mut tail = Vec::new();
    for (table, columns, through) in [
        ("events", EVENT_COLUMNS, checkpoint.events),
        ("readings", READING_COLUMNS, checkpoint.readings),
    ] {
        let sql = format!("SELECT {columns} FROM {table} WHERE rowid > ?1 ORDER BY rowid");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params![through], |r| LogRow::read(table, r))?;
        for row in rows {
            let row = row?;
            tail.push(Logged {
                reading: table == "readings",
                rowid: row.rowid,
                event: row.event()?,
            });
        }
    }
    Ok(tail)
}

pub(super) fn load_seen(conn: &Connection, machines: usize) -> Result<Vec<SeenSet>, MeteringError> {
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
        let at = At::key("seen", format!("(source {source}, lo {lo})"));
        let (lo, hi) = (at.count("lo", lo)?, at.count("hi", hi)?);
        if lo > hi {
            return Err(at.corrupt("hi", hi, "ranges with lo ≤ hi"));
        }
        // A machine unbound since has nothing to dedup against any more.
        if let Some(list) = ranges.get_mut(at.id("source", source)? as usize) {
            list.push((lo, hi));
        }
    }
    Ok(ranges.into_iter().map(SeenSet::from_ranges).collect())
}
