//! The store's side of closing a period: what is due per shop (events and counters), the
//! contracts, and the issued invoices. Plain SQL over the open transaction; the rules live in
//! `billing` (pricing) and `vee` (counters).

use super::rows::At;
use crate::billing::service::Incident;
use crate::billing::{
    Basis, Contract, CounterDue, EventDue, Invoice, InvoiceLine, LineKind, PlanAgreement, PlanTerms,
};
use crate::calendar::Period;
use crate::event::ShopId;
use crate::metering::vee::{Channel, Channels, PeriodUsage};
use crate::metering::vee_book::Slot;
use crate::metering::{CounterUsageRow, MeteringError};
use crate::money::{Currency, UnitPrice};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;

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
            let at = At::key("usage", format!("(period {period}, shop {shop})"));
            let entry = due.entry(ShopId(at.id("shop", shop)?)).or_default();
            entry.by_period.push((
                at.period("period", period)?,
                at.count("billable_mountings - invoiced_mountings", mountings)?,
                at.count("trace_only - invoiced_trace_only", trace)?,
            ));
        }
    }
    conn.prepare_cached(
        "UPDATE usage SET invoiced_mountings = billable_mountings, invoiced_trace_only = trace_only
         WHERE period <= ?1 AND (billable_mountings != invoiced_mountings OR trace_only != invoiced_trace_only)",
    )?
    .execute(params![through.key()])?;
    Ok(due)
}

/// Keeps the event usage a close took (`take_events_due`), for its metered close.
pub fn store_events_due(
    conn: &Connection,
    period: Period,
    due: &BTreeMap<ShopId, EventDue>,
) -> Result<(), MeteringError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO events_due(period, shop, usage_period, mountings, trace_only)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (shop, d) in due {
        for &(usage_period, m, t) in &d.by_period {
            stmt.execute(params![
                period.key(),
                shop.0,
                usage_period.key(),
                m as i64,
                t as i64
            ])?;
        }
    }
    Ok(())
}

/// The event usage the close of `period` took, per shop, in usage-period order.
pub fn load_events_due(
    conn: &Connection,
    period: Period,
) -> Result<BTreeMap<ShopId, EventDue>, MeteringError> {
    let mut stmt = conn.prepare_cached(
        "SELECT shop, usage_period, mountings, trace_only FROM events_due
         WHERE period = ?1 ORDER BY shop, usage_period",
    )?;
    let rows = stmt.query_map(params![period.key()], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut due: BTreeMap<ShopId, EventDue> = BTreeMap::new();
    for row in rows {
        let (shop, usage_period, m, t) = row?;
        let at = At::key("events_due", format!("(period {period}, shop {shop})"));
        due.entry(ShopId(at.id("shop", shop)?))
            .or_default()
            .by_period
            .push((
                at.period("usage_period", usage_period)?,
                at.count("mountings", m)?,
                at.count("trace_only", t)?,
            ));
    }
    Ok(due)
}

/// The periods up to `through` holding event usage not invoiced yet, in order.
pub fn periods_with_usage_due(
    conn: &Connection,
    through: Period,
) -> Result<Vec<Period>, MeteringError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT period FROM usage WHERE period <= ?1
           AND (billable_mountings != invoiced_mountings OR trace_only != invoiced_trace_only)
         ORDER BY period",
    )?;
    let rows = stmt.query_map(params![through.key()], |r| r.get::<_, i64>(0))?;
    rows.map(|key| Ok(Period::from_key(key?))).collect()
}

/// Whether any shop has a contract (price or plan).
pub fn has_contracts(conn: &Connection) -> Result<bool, MeteringError> {
    Ok(conn.query_row("SELECT EXISTS(SELECT 1 FROM contracts)", [], |r| r.get(0))?)
}

/// Sums stays' closed period usage per shop; `shop_of` maps a stay to its shop.
pub fn counters_due(
    closed: &[(Slot, PeriodUsage)],
    shop_of: impl Fn(Slot) -> Option<ShopId>,
) -> BTreeMap<ShopId, CounterUsageRow> {
    let mut due: BTreeMap<ShopId, CounterUsageRow> = BTreeMap::new();
    for (slot, usage) in closed {
        let Some(shop) = shop_of(*slot) else {
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
        let mut values = [0_i64; 11];
        for (i, v) in values.iter_mut().enumerate() {
            *v = r.get(i)?;
        }
        Ok(values)
    })?;
    let mut usage = Vec::new();
    for row in rows {
        let v = row?;
        let at = At::key("counter_usage", format!("(period {period}, shop {})", v[0]));
        let channels = |i: usize, what: &str| -> Result<Channels<u64>, MeteringError> {
            Ok(Channels {
                total_cycles: at.count(&format!("{what}_tc"), v[i])?,
                mountings: at.count(&format!("{what}_m"), v[i + 1])?,
                trace_only: at.count(&format!("{what}_t"), v[i + 2])?,
            })
        };
        usage.push(CounterUsageRow {
            shop: ShopId(at.id("shop", v[0])?),
            usage: CounterDue {
                actual: channels(1, "actual")?,
                estimate: channels(4, "estimate")?,
                reversed: channels(7, "reversed")?,
            },
            estimated_machines: at.id("estimated_machines", v[10])?,
        });
    }
    Ok(usage)
}

/// Keeps each machine's estimate and true-up notes for the period: why the bill says so.
pub fn store_notes(conn: &Connection, closed: &[(Slot, PeriodUsage)]) -> Result<(), MeteringError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO vee_notes(period, machine, estimate_tc, estimate_m, estimate_t, notes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    // `closed` is in slot order: a loaner's stays in the period are one machine's notes.
    let noted = closed.iter().filter(|(_, u)| !u.notes.is_empty());
    let mut by_machine: Vec<(usize, Period, Channels<u64>, Vec<&str>)> = Vec::new();
    for (slot, usage) in noted {
        match by_machine.last_mut() {
            Some((m, _, estimate, notes)) if *m == slot.machine => {
                *estimate = estimate.plus(&usage.estimate);
                notes.extend(usage.notes.iter().map(String::as_str));
            }
            _ => by_machine.push((
                slot.machine,
                usage.period,
                usage.estimate,
                usage.notes.iter().map(String::as_str).collect(),
            )),
        }
    }
    for (machine, period, estimate, notes) in by_machine {
        let e = columns(estimate);
        stmt.execute(params![
            period.key(),
            machine as i64,
            e[0],
            e[1],
            e[2],
            notes.join("\n")
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
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut notes = Vec::new();
    for row in rows {
        let (period, text) = row?;
        let at = At::key("vee_notes", format!("(period {period}, machine {machine})"));
        notes.push((at.period("period", period)?, text));
    }
    Ok(notes)
}

fn columns(c: Channels<u64>) -> [i64; 3] {
    Channel::ALL.map(|ch| c.get(ch) as i64)
}

pub fn store_contracts(conn: &Connection, contracts: &[Contract]) -> Result<(), MeteringError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO contracts(shop, basis, price, currency, plan) VALUES (?1, ?2, ?3, ?4, NULL)
         ON CONFLICT(shop) DO UPDATE SET basis = excluded.basis, price = excluded.price,
                                         currency = excluded.currency, plan = NULL",
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

/// Plan contracts: the basis and the plan terms (JSON in `plan`); the price column holds 0 and
/// the currency the catalogue's.
pub fn store_plan_contracts(
    conn: &Connection,
    contracts: &[PlanAgreement],
    currency: &Currency,
) -> Result<(), MeteringError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO contracts(shop, basis, price, currency, plan) VALUES (?1, ?2, '0', ?3, ?4)
         ON CONFLICT(shop) DO UPDATE SET basis = excluded.basis, price = excluded.price,
                                         currency = excluded.currency, plan = excluded.plan",
    )?;
    for c in contracts {
        let terms = serde_json::to_string(&c.terms)
            .map_err(|e| MeteringError::Conflict(format!("contract of shop {}: {e}", c.shop)))?;
        stmt.execute(params![c.shop.0, c.basis.name(), currency.0, terms])?;
    }
    Ok(())
}

/// Every contract in shop order, with its plan terms for a plan contract.
pub fn load_contracts(
    conn: &Connection,
) -> Result<Vec<(Contract, Option<PlanTerms>)>, MeteringError> {
    let mut stmt = conn
        .prepare_cached("SELECT shop, basis, price, currency, plan FROM contracts ORDER BY shop")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    let mut contracts = Vec::new();
    for row in rows {
        let (shop, basis, price, currency, plan) = row?;
        let at = At::key("contracts", format!("shop {shop}"));
        let plan = match plan {
            None => None,
            Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                at.corrupt("plan", format!("{text:?}"), &format!("plan terms ({e})"))
            })?),
        };
        contracts.push((
            Contract {
                shop: ShopId(at.id("shop", shop)?),
                basis: Basis::parse(&basis)
                    .ok_or_else(|| at.corrupt("basis", &basis, "counters or events"))?,
                price_per_mounting: UnitPrice::parse(&price)
                    .ok_or_else(|| at.corrupt("price", &price, "decimal prices"))?,
                currency: Currency(currency),
            },
            plan,
        ));
    }
    Ok(contracts)
}

/// A value of the `settings` table.
pub fn setting(conn: &Connection, key: &str) -> Result<Option<String>, MeteringError> {
    Ok(conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            params![key],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<(), MeteringError> {
    conn.prepare_cached(
        "INSERT INTO settings(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// Mountings billed for one usage period of a plan contract (its own invoice plus every
/// correction since), and the part of it that is an estimate not reversed yet; (0, 0) if none.
pub fn plan_billed(
    conn: &Connection,
    shop: ShopId,
    period: Period,
) -> Result<(u64, u64), MeteringError> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT mountings, estimate_left FROM plan_billed WHERE shop = ?1 AND period = ?2",
        )?
        .query_row(params![shop.0, period.key()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let at = At::key("plan_billed", format!("(shop {shop}, period {period})"));
    match row {
        None => Ok((0, 0)),
        Some((m, e)) => Ok((at.count("mountings", m)?, at.count("estimate_left", e)?)),
    }
}

/// A shop's usage periods with an estimate not reversed yet, oldest first:
/// (period, mountings billed for it, estimate left).
pub fn open_estimates(
    conn: &Connection,
    shop: ShopId,
) -> Result<Vec<(Period, u64, u64)>, MeteringError> {
    let mut stmt = conn.prepare_cached(
        "SELECT period, mountings, estimate_left FROM plan_billed
         WHERE shop = ?1 AND estimate_left > 0 ORDER BY period",
    )?;
    let rows = stmt.query_map(params![shop.0], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut open = Vec::new();
    for row in rows {
        let (period, billed, left) = row?;
        let at = At::key("plan_billed", format!("(shop {shop}, period {period})"));
        open.push((
            at.period("period", period)?,
            at.count("mountings", billed)?,
            at.count("estimate_left", left)?,
        ));
    }
    Ok(open)
}

/// Adds to the mountings billed for a usage period and to its estimate left.
pub fn add_plan_billed(
    conn: &Connection,
    shop: ShopId,
    period: Period,
    mountings: i64,
    estimate: i64,
) -> Result<(), MeteringError> {
    conn.prepare_cached(
        "INSERT INTO plan_billed(shop, period, mountings, estimate_left) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(shop, period) DO UPDATE SET mountings = mountings + excluded.mountings,
                                                 estimate_left = estimate_left + excluded.estimate_left",
    )?
    .execute(params![shop.0, period.key(), mountings, estimate])?;
    Ok(())
}

/// Replaces the incidents of one shop in one period.
pub fn store_incidents(
    conn: &Connection,
    shop: ShopId,
    period: Period,
    incidents: &[Incident],
) -> Result<(), MeteringError> {
    conn.prepare_cached("DELETE FROM incidents WHERE period = ?1 AND shop = ?2")?
        .execute(params![period.key(), shop.0])?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO incidents(period, shop, seq, response_hours, repair_hours, labour_minutes, visits, parts_cost)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (i, inc) in incidents.iter().enumerate() {
        stmt.execute(params![
            period.key(),
            shop.0,
            i as i64,
            inc.response_hours.to_string(),
            inc.repair_hours.to_string(),
            inc.labour_minutes,
            inc.visits,
            inc.parts_cost.to_string()
        ])?;
    }
    Ok(())
}

/// Every shop's incidents of one period, by shop, each in recorded order.
pub fn load_period_incidents(
    conn: &Connection,
    period: Period,
) -> Result<BTreeMap<ShopId, Vec<Incident>>, MeteringError> {
    let mut stmt =
        conn.prepare_cached("SELECT DISTINCT shop FROM incidents WHERE period = ?1 ORDER BY shop")?;
    let shops = stmt
        .query_map(params![period.key()], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut by_shop = BTreeMap::new();
    for shop in shops {
        let at = At::key("incidents", format!("(period {period}, shop {shop})"));
        let shop = ShopId(at.id("shop", shop)?);
        by_shop.insert(shop, load_incidents(conn, shop, period)?);
    }
    Ok(by_shop)
}

pub fn load_incidents(
    conn: &Connection,
    shop: ShopId,
    period: Period,
) -> Result<Vec<Incident>, MeteringError> {
    let mut stmt = conn.prepare_cached(
        "SELECT response_hours, repair_hours, labour_minutes, visits, parts_cost
         FROM incidents WHERE period = ?1 AND shop = ?2 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![period.key(), shop.0], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    let mut incidents = Vec::new();
    for row in rows {
        let (response, repair, labour, visits, parts) = row?;
        let at = At::key(
            "incidents",
            format!("(period {period}, shop {shop}, seq {})", incidents.len()),
        );
        let dec = |column: &str, t: &str| {
            Decimal::from_str(t).map_err(|_| at.corrupt(column, t, "decimals"))
        };
        let small = |column: &str, v: i64| {
            u32::try_from(v).map_err(|_| at.corrupt(column, v, "counts of 0 to 4294967295"))
        };
        incidents.push(Incident {
            response_hours: dec("response_hours", &response)?,
            repair_hours: dec("repair_hours", &repair)?,
            labour_minutes: small("labour_minutes", labour)?,
            visits: small("visits", visits)?,
            parts_cost: dec("parts_cost", &parts)?,
        });
    }
    Ok(incidents)
}

pub fn store_invoice_notes(
    conn: &Connection,
    period: Period,
    shop: ShopId,
    notes: &[String],
) -> Result<(), MeteringError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO invoice_notes(period, shop, line, text) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (i, text) in notes.iter().enumerate() {
        stmt.execute(params![period.key(), shop.0, i as i64, text])?;
    }
    Ok(())
}

pub fn load_invoice_notes(
    conn: &Connection,
    period: Period,
) -> Result<BTreeMap<ShopId, Vec<String>>, MeteringError> {
    let mut stmt = conn.prepare_cached(
        "SELECT shop, text FROM invoice_notes WHERE period = ?1 ORDER BY shop, line",
    )?;
    let rows = stmt.query_map(params![period.key()], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut notes: BTreeMap<ShopId, Vec<String>> = BTreeMap::new();
    for row in rows {
        let (shop, text) = row?;
        let at = At::key("invoice_notes", format!("(period {period}, shop {shop})"));
        notes
            .entry(ShopId(at.id("shop", shop)?))
            .or_default()
            .push(text);
    }
    Ok(notes)
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
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    for row in rows {
        let (shop, kind, usage_period, quantity, price, amount_cents) = row?;
        let at = At::key("invoice_lines", format!("(period {period}, shop {shop})"));
        let shop = at.id("shop", shop)?;
        lines.entry(shop).or_default().push(InvoiceLine {
            kind: LineKind::parse(&kind)
                .ok_or_else(|| at.corrupt("kind", &kind, "invoice line kinds"))?,
            usage_period: at.period("usage_period", usage_period)?,
            quantity,
            unit_price: UnitPrice::parse(&price)
                .ok_or_else(|| at.corrupt("unit_price", &price, "decimal prices"))?,
            amount_cents,
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT shop, basis, currency, total_cents FROM invoices WHERE period = ?1 ORDER BY shop",
    )?;
    let heads = stmt.query_map(params![period.key()], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut invoices = Vec::new();
    for head in heads {
        let (shop, basis, currency, total_cents) = head?;
        let at = At::key("invoices", format!("(period {period}, shop {shop})"));
        let shop = at.id("shop", shop)?;
        invoices.push(Invoice {
            shop: ShopId(shop),
            period,
            basis: Basis::parse(&basis)
                .ok_or_else(|| at.corrupt("basis", &basis, "counters or events"))?,
            currency: Currency(currency),
            lines: lines.remove(&shop).unwrap_or_default(),
            total_cents,
        });
    }
    Ok(invoices)
}
