//! Closing periods: VEE closes, event usage not invoiced yet, and each contracted shop's
//! invoice, all in one transaction.

use super::*;
use crate::billing::plans::{self, Correction, CorrectionCause, PlanInvoice};
use crate::billing::{invoice_from_counters, invoice_from_events, EventDue};

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

    /// Closes one period inside the open transaction and returns its invoices.
    pub(super) fn close_one(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
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
        let stays = &self.stays;
        let counters = invoicing::counters_due(&closed, |s| stays.shop_of(s.machine, s.stay));
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
    pub(super) fn plan_invoice(
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

pub(super) fn earliest_usage_period(conn: &Connection) -> Result<Option<Period>, MeteringError> {
    let key: Option<i64> = conn.query_row("SELECT MIN(period) FROM usage", [], |r| r.get(0))?;
    Ok(key.map(Period::from_key))
}
