//! Checkpoints: `seen` ranges and usage are counted in memory and reach their tables every
//! `CHECKPOINT_EVENTS` accepted events (and before anything reads them), with the log rowids
//! they cover; opening the store loads them and replays the log rows past the checkpoint.

use super::rows::{At, LogRow, EVENT_COLUMNS, READING_COLUMNS};
use super::*;
use crate::event::EventBody;

impl SqliteEngine {
    pub(super) fn flush_seen(&mut self) -> Result<(), MeteringError> {
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

    pub(super) fn flush_usage(&mut self) -> Result<(), MeteringError> {
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

/// Rowids of the last `events` and `readings` rows the stored `seen` and `usage` cover.
pub(super) fn load_checkpoint(conn: &Connection) -> Result<(i64, i64), MeteringError> {
    let (events, readings): (i64, i64) = conn.query_row(
        "SELECT events_through, readings_through FROM checkpoint",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let at = At::key("checkpoint", "id 0");
    at.count("events_through", events)?;
    at.count("readings_through", readings)?;
    Ok((events, readings))
}

/// The committed log rows past a checkpoint, as events (only the identity, time, shop and
/// kind matter to `seen` and `usage`; VEE replays the whole log through
/// `load_logged_readings`).
pub(super) fn load_log_tail(
    conn: &Connection,
    events_through: i64,
    readings_through: i64,
) -> Result<Vec<UsageEvent>, MeteringError> {
    let mut tail = Vec::new();
    for (table, columns, through) in [
        ("events", EVENT_COLUMNS, events_through),
        ("readings", READING_COLUMNS, readings_through),
    ] {
        let sql = format!("SELECT {columns} FROM {table} WHERE rowid > ?1 ORDER BY rowid");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params![through], |r| LogRow::read(table, r))?;
        for row in rows {
            tail.push(row?.event()?);
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
