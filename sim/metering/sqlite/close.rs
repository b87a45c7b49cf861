//! Closing periods: VEE closes, event usage not invoiced yet (kept as the period's metered
//! close), and each contracted shop's invoice rated from it by billing, all in one transaction.

use super::*;
use crate::billing::close::{rate_close, CloseError, Ledger, MeteredClose, ResolvedPlans};
use crate::billing::BillingError;
use rusqlite::OptionalExtension;

impl SqliteEngine {
    /// The periods a close through `period` must close one by one, in order: from the one
    /// after the last closed (or the earliest period holding usage) to `period`; none if it
    /// is closed. In a store without contracts or counter readings, a period holding no usage
    /// to invoice would issue and store nothing: only the periods holding such usage are
    /// closed, and `period` itself (which marks the store closed through it), so the cost
    /// follows the data, not the calendar span.
    pub(super) fn periods_to_close(&self, period: Period) -> Result<Vec<Period>, MeteringError> {
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

    /// Closes one period inside the open transaction and returns its invoices: metering's
    /// part (VEE closes, event usage due taken, both kept as the period's metered close), then
    /// billing's pure step over it (`billing::close::rate_close`) with the plan ledger in SQL.
    pub(super) fn close_one(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        self.periods_closed += 1;
        let readings_through: i64 =
            self.conn
                .query_row("SELECT COALESCE(MAX(rowid), 0) FROM readings", [], |r| {
                    r.get(0)
                })?;
        self.conn
            .prepare_cached(
                "INSERT INTO closes(period, readings_through, metered) VALUES (?1, ?2, 1)",
            )?
            .execute(params![period.key(), readings_through])?;
        let closed = self.vee.close(period);
        let stays = &self.stays;
        let counters = invoicing::counters_due(&closed, |s| stays.shop_of(s.machine, s.stay));
        invoicing::store_counter_usage(&self.conn, period, &counters)?;
        invoicing::store_notes(&self.conn, &closed)?;
        let events = invoicing::take_events_due(&self.conn, period)?;
        invoicing::store_events_due(&self.conn, period, &events)?;
        let metered = MeteredClose {
            period,
            events,
            counters,
            incidents: invoicing::load_period_incidents(&self.conn, period)?,
        };
        let contracts = invoicing::load_contracts(&self.conn)?;
        let mut ledger = SqlLedger(&self.conn);
        let rated = rate_close(
            &metered,
            &contracts,
            &mut ResolvedPlans::new(self.catalogue.as_ref()),
            &mut ledger,
        )
        .map_err(|e| match e {
            CloseError::Ledger(e) => e,
            CloseError::Billing(BillingError::Catalogue(m)) => MeteringError::Catalogue(m),
            CloseError::Billing(e) => MeteringError::Billing(e),
        })?;
        for (shop, notes) in &rated.notes {
            invoicing::store_invoice_notes(&self.conn, period, *shop, notes)?;
        }
        invoicing::store_invoices(&self.conn, &rated.invoices)?;
        Ok(rated.invoices)
    }

    /// What the close of `period` handed billing, read back; `None` while it is open. A period
    /// a close skipped (a store without contracts or counters closes only months holding usage)
    /// had nothing due.
    pub(super) fn read_metered_close(
        &self,
        period: Period,
    ) -> Result<Option<MeteredClose>, MeteringError> {
        if self.vee.closed_through().is_none_or(|c| period > c) {
            return Ok(None);
        }
        let metered: Option<i64> = self
            .conn
            .prepare_cached("SELECT metered FROM closes WHERE period = ?1")?
            .query_row(params![period.key()], |r| r.get(0))
            .optional()?;
        match metered {
            None => return Ok(Some(MeteredClose::empty(period))),
            Some(0) => {
                return Err(MeteringError::Conflict(format!(
                    "{period} was closed by a fleetsim before closes kept their metered usage \
                     (store schema 7); its metered close cannot be read back"
                )))
            }
            Some(_) => {}
        }
        Ok(Some(MeteredClose {
            period,
            events: invoicing::load_events_due(&self.conn, period)?,
            counters: invoicing::load_counter_usage(&self.conn, period)?
                .into_iter()
                .map(|row| (row.shop, row))
                .collect(),
            incidents: invoicing::load_period_incidents(&self.conn, period)?,
        }))
    }
}

/// The plan ledger of the store's own contracts: `plan_billed`, inside the close's transaction.
struct SqlLedger<'a>(&'a Connection);

impl Ledger for SqlLedger<'_> {
    type Error = MeteringError;

    fn billed(&mut self, shop: ShopId, period: Period) -> Result<(u64, u64), MeteringError> {
        invoicing::plan_billed(self.0, shop, period)
    }

    fn open_estimates(&mut self, shop: ShopId) -> Result<Vec<(Period, u64, u64)>, MeteringError> {
        invoicing::open_estimates(self.0, shop)
    }

    fn add(
        &mut self,
        shop: ShopId,
        period: Period,
        mountings: i64,
        estimate: i64,
    ) -> Result<(), MeteringError> {
        invoicing::add_plan_billed(self.0, shop, period, mountings, estimate)
    }
}

pub(super) fn earliest_usage_period(conn: &Connection) -> Result<Option<Period>, MeteringError> {
    let key: Option<i64> = conn.query_row("SELECT MIN(period) FROM usage", [], |r| r.get(0))?;
    Ok(key.map(Period::from_key))
}
