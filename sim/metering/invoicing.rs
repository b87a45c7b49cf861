//! The store's side of closing a period: what is due per shop (events and counters), the
//! contracts, and the issued invoices. Plain SQL over the open transaction; the rules live in
//! `billing` (pricing) and `vee` (counters).

use super::vee::{Channel, Channels, PeriodUsage};
use super::{CounterUsageRow, MeteringError, Period};
use crate::billing::{Basis, Contract, CounterDue, EventDue, Invoice, InvoiceLine, LineKind};
use crate::event::ShopId;
use crate::money::{Currency, UnitPrice};
use rusqlite::{params, Connection};
use std::collections::BTreeMap;

/// Event-metered usage not invoiced yet, of `through` and every earlier period, per shop;
/// then marks it invoiced. Late usage shows here as a difference in an earlier period.
pub fn take_events_due(
    conn: &Connection,
    through: Period,
) -> Result<BTreeMap<ShopId, EventDue>, MeteringError> {
    let mut due: BTreeMap<ShopId, EventDue> = BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT shop, period, billable_mountings - invoiced_mountings, trace_only - invoiced_trace_only
             FROM usage WHERE period <= ?1
               AND (billable_mountings != invoiced_mountings OR trace_only != invoiced_trace_only)
             ORDER BY shop, period",
        )?;
        let rows = stmt.query_map(params![through.key()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (shop, period, mountings, trace) = row?;
            let entry = due.entry(ShopId(shop as u32)).or_default();
            entry
                .by_period
                .push((Period::from_key(period), mountings as u64, trace as u64));
        }
    }
    conn.prepare_cached(
        "UPDATE usage SET invoiced_mountings = billable_mountings, invoiced_trace_only = trace_only
         WHERE period <= ?1 AND (billable_mountings != invoiced_mountings OR trace_only != invoiced_trace_only)",
    )?
    .execute(params![through.key()])?;
    Ok(due)
}

/// Sums machines' closed period usage per shop; `shop_of` maps a machine to its shop.
pub fn counters_due(
    closed: &[(usize, PeriodUsage)],
    shop_of: impl Fn(usize) -> Option<ShopId>,
) -> BTreeMap<ShopId, CounterUsageRow> {
    let mut due: BTreeMap<ShopId, CounterUsageRow> = BTreeMap::new();
    for (machine, usage) in closed {
        let Some(shop) = shop_of(*machine) else {
            continue;
        };
        let row = due.entry(shop).or_insert_with(|| CounterUsageRow {
            shop,
            ..CounterUsageRow::default()
        });
        add_usage(&mut row.usage, usage);
        row.estimated_machines += u32::from(usage.estimated);
    }
    due
}

pub fn add_usage(due: &mut CounterDue, usage: &PeriodUsage) {
    due.actual = due.actual.plus(&usage.actual);
    due.estimate = due.estimate.plus(&usage.estimate);
    due.reversed = due.reversed.plus(&usage.reversed_estimate);
}

pub fn store_counter_usage(
    conn: &Connection,
    period: Period,
    rows: &BTreeMap<ShopId, CounterUsageRow>,
) -> Result<(), MeteringError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO counter_usage(period, shop, actual_tc, actual_m, actual_t, estimate_tc, estimate_m, estimate_t,
                                   reversed_tc, reversed_m, reversed_t, estimated_machines)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for row in rows.values() {
        let [a, e, r] = [row.usage.actual, row.usage.estimate, row.usage.reversed].map(columns);
        stmt.execute(params![
            period.key(),
            row.shop.0,
            a[0],
            a[1],
            a[2],
            e[0],
            e[1],
            e[2],
            r[0],
            r[1],
            r[2],
            row.estimated_machines
        ])?;
    }
    Ok(())
}

pub fn load_counter_usage(
    conn: &Connection,
    period: Period,
) -> Result<Vec<CounterUsageRow>, MeteringError> {
    let mut stmt = conn.prepare_cached(
        "SELECT shop, actual_tc, actual_m, actual_t, estimate_tc, estimate_m, estimate_t,
                reversed_tc, reversed_m, reversed_t, estimated_machines
         FROM counter_usage WHERE period = ?1 ORDER BY shop",
    )?;
    let rows = stmt.query_map(params![period.key()], |r| {
        let channels = |at: usize| -> rusqlite::Result<Channels<u64>> {
            Ok(Channels {
                total_cycles: r.get::<_, i64>(at)? as u64,
                mountings: r.get::<_, i64>(at + 1)? as u64,
                trace_only: r.get::<_, i64>(at + 2)? as u64,
            })
        };
        Ok(CounterUsageRow {
            shop: ShopId(r.get::<_, i64>(0)? as u32),
            usage: CounterDue {
                actual: channels(1)?,
                estimate: channels(4)?,
                reversed: channels(7)?,
            },
            estimated_machines: r.get::<_, i64>(10)? as u32,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Keeps each machine's estimate and true-up notes for the period: why the bill says so.
pub fn store_notes(
    conn: &Connection,
    closed: &[(usize, PeriodUsage)],
) -> Result<(), MeteringError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO vee_notes(period, machine, estimate_tc, estimate_m, estimate_t, notes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (machine, usage) in closed.iter().filter(|(_, u)| !u.notes.is_empty()) {
        let e = columns(usage.estimate);
        stmt.execute(params![
            usage.period.key(),
            *machine as i64,
            e[0],
            e[1],
            e[2],
            usage.notes.join("\n")
        ])?;
    }
    Ok(())
}

/// A machine's estimate and true-up notes, per closed period in order.
pub fn load_notes(
    conn: &Connection,
    machine: usize,
) -> Result<Vec<(Period, String)>, MeteringError> {
    let mut stmt = conn
        .prepare_cached("SELECT period, notes FROM vee_notes WHERE machine = ?1 ORDER BY period")?;
    let rows = stmt.query_map(params![machine as i64], |r| {
        Ok((Period::from_key(r.get(0)?), r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn columns(c: Channels<u64>) -> [i64; 3] {
    Channel::ALL.map(|ch| c.get(ch) as i64)
}

pub fn store_contracts(conn: &Connection, contracts: &[Contract]) -> Result<(), MeteringError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO contracts(shop, basis, price, currency) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(shop) DO UPDATE SET basis = excluded.basis, price = excluded.price, currency = excluded.currency",
    )?;
    for c in contracts {
        stmt.execute(params![
            c.shop.0,
            c.basis.name(),
            c.price_per_mounting.to_string(),
            c.currency.0
        ])?;
    }
    Ok(())
}

pub fn load_contracts(conn: &Connection) -> Result<Vec<Contract>, MeteringError> {
    let mut stmt =
        conn.prepare_cached("SELECT shop, basis, price, currency FROM contracts ORDER BY shop")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut contracts = Vec::new();
    for row in rows {
        let (shop, basis, price, currency) = row?;
        let corrupt = |what: &str| {
            MeteringError::Conflict(format!(
                "contract of shop {shop}: stored {what} is not valid"
            ))
        };
        contracts.push(Contract {
            shop: ShopId(shop as u32),
            basis: Basis::parse(&basis).ok_or_else(|| corrupt("basis"))?,
            price_per_mounting: UnitPrice::parse(&price).ok_or_else(|| corrupt("price"))?,
            currency: Currency(currency),
        });
    }
    Ok(contracts)
}

pub fn store_invoices(conn: &Connection, invoices: &[Invoice]) -> Result<(), MeteringError> {
    let mut head = conn.prepare_cached(
        "INSERT INTO invoices(period, shop, basis, currency, total_cents) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut line = conn.prepare_cached(
        "INSERT INTO invoice_lines(period, shop, line, kind, usage_period, quantity, unit_price, amount_cents)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for inv in invoices {
        head.execute(params![
            inv.period.key(),
            inv.shop.0,
            inv.basis.name(),
            inv.currency.0,
            inv.total_cents
        ])?;
        for (i, l) in inv.lines.iter().enumerate() {
            line.execute(params![
                inv.period.key(),
                inv.shop.0,
                i as i64,
                l.kind.name(),
                l.usage_period.key(),
                l.quantity,
                l.unit_price.to_string(),
                l.amount_cents
            ])?;
        }
    }
    Ok(())
}

pub fn load_invoices(conn: &Connection, period: Period) -> Result<Vec<Invoice>, MeteringError> {
    let mut lines: BTreeMap<u32, Vec<InvoiceLine>> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT shop, kind, usage_period, quantity, unit_price, amount_cents
         FROM invoice_lines WHERE period = ?1 ORDER BY shop, line",
    )?;
    let rows = stmt.query_map(params![period.key()], |r| {
        Ok((
            r.get::<_, i64>(0)? as u32,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    for row in rows {
        let (shop, kind, usage_period, quantity, price, amount_cents) = row?;
        let corrupt = || {
            MeteringError::Conflict(format!(
                "invoice of shop {shop} in {period}: a stored line is not valid"
            ))
        };
        lines.entry(shop).or_default().push(InvoiceLine {
            kind: LineKind::parse(&kind).ok_or_else(corrupt)?,
            usage_period: Period::from_key(usage_period),
            quantity,
            unit_price: UnitPrice::parse(&price).ok_or_else(corrupt)?,
            amount_cents,
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT shop, basis, currency, total_cents FROM invoices WHERE period = ?1 ORDER BY shop",
    )?;
    let heads = stmt.query_map(params![period.key()], |r| {
        Ok((
            r.get::<_, i64>(0)? as u32,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut invoices = Vec::new();
    for head in heads {
        let (shop, basis, currency, total_cents) = head?;
        invoices.push(Invoice {
            shop: ShopId(shop),
            period,
            basis: Basis::parse(&basis).ok_or_else(|| {
                MeteringError::Conflict(format!(
                    "invoice of shop {shop} in {period}: stored basis `{basis}`"
                ))
            })?,
            currency: Currency(currency),
            lines: lines.remove(&shop).unwrap_or_default(),
            total_cents,
        });
    }
    Ok(invoices)
}
