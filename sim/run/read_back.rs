//! What the engine metered and billed, read back through its public interface only.

use super::RunError;
use crate::billing::Invoice;
use crate::calendar::Period;
use crate::event::ShopId;
use crate::metering::{CounterUsageRow, MeteringEngine, UsageRow};
use std::collections::BTreeMap;

/// What the engine metered and billed, per period, for the run's own shops.
pub(super) struct Billed {
    pub usage: Vec<Vec<UsageRow>>,
    pub counters: Vec<Vec<CounterUsageRow>>,
    /// Per period, per shop id.
    pub invoices: Vec<Vec<Option<Invoice>>>,
    /// Per period: the notes of plan invoices (included, not included, proration, …), by shop.
    pub notes: Vec<BTreeMap<ShopId, Vec<String>>>,
}

/// Reads usage (both bases) and the issued invoices back through the engine's interface.
/// A shared engine may meter other shops too: the run reconciles its own. Usage misattributed
/// to a foreign shop still shows, as usage missing from ours.
pub(super) fn read_back(
    engine: &mut dyn MeteringEngine,
    periods: &[Period],
    shops: usize,
) -> Result<Billed, RunError> {
    let ours = |shop: ShopId| (shop.0 as usize) < shops;
    let mut billed = Billed {
        usage: Vec::new(),
        counters: Vec::new(),
        invoices: Vec::new(),
        notes: Vec::new(),
    };
    for &period in periods {
        let mut rows = engine.usage(period)?;
        rows.retain(|r| ours(r.shop));
        billed.usage.push(rows);
        let mut rows = engine.counter_usage(period)?;
        rows.retain(|r| ours(r.shop));
        // Reports and reconciliation look shops up by binary search; another engine need not
        // answer in shop order.
        rows.sort_by_key(|r| r.shop);
        billed.counters.push(rows);
        let mut by_shop = vec![None; shops];
        for invoice in engine.invoices(period)? {
            let shop = invoice.shop.0 as usize;
            if shop < shops {
                by_shop[shop] = Some(invoice);
            }
        }
        billed.invoices.push(by_shop);
        let mut notes = engine.invoice_notes(period)?;
        notes.retain(|shop, _| ours(*shop));
        billed.notes.push(notes);
    }
    Ok(billed)
}
