//! The contracts a pricing gives the fleet's shops: a price per mounting for each, and a
//! catalogue plan for the shops that sign one. The run sets `[pricing]`'s on the engine; an
//! alternative's are rated from the engine's metered closes.

use crate::billing::catalogue::Pricing;
use crate::billing::close::ContractTerms;
use crate::billing::{Contract, PlanAgreement, PlanTerms};
use crate::event::ShopId;
use crate::fleet::Fleet;
use crate::money::UnitPrice;
use crate::scenario::PricingSpec;

/// Every shop's price contract, by shop id.
pub fn price_contracts(pricing: &PricingSpec, fleet: &Fleet) -> Vec<Contract> {
    fleet
        .shops
        .iter()
        .enumerate()
        .map(|(i, shop)| Contract {
            shop: ShopId(i as u32),
            basis: pricing.basis_of(i as u32),
            price_per_mounting: pricing.price_of(i as u32, shop.segment),
            currency: pricing.currency.clone(),
        })
        .collect()
}

/// The shops billed from catalogue plans: the terms they signed, from the fleet's contract
/// dates, in the shop's segment (the price per mounting of an audited shop overrides the
/// plan's).
pub fn plan_agreements(pricing: &PricingSpec, fleet: &Fleet) -> Vec<PlanAgreement> {
    let Some(catalogue) = &pricing.catalogue else {
        return Vec::new();
    };
    (0..fleet.shops.len() as u32)
        .filter_map(|s| {
            let choice = pricing.plan_of(s)?;
            let shop = &fleet.shops[s as usize];
            let segment = shop.segment.as_str();
            let priced_by_segment = catalogue.catalogue.plan(&choice.plan).is_some_and(|p| {
                matches!(&p.pricing, Pricing::PerMounting { segment_prices, .. } if segment_prices.contains_key(segment))
            });
            Some(PlanAgreement {
                shop: ShopId(s),
                basis: pricing.basis_of(s),
                terms: PlanTerms {
                    plan: choice.plan.clone(),
                    segment: priced_by_segment.then(|| segment.to_string()),
                    price_override: pricing.per_shop.get(&s).copied(),
                    service: choice.service.clone(),
                    options: choice.options.clone(),
                    start: shop.in_service.start,
                    term_months: pricing.term_months,
                    terminated_on: shop.in_service.terminated_on,
                },
            })
        })
        .collect()
}

/// The contracts as a close reads them, in shop order: a plan shop's plan terms replace its
/// price contract, with the catalogue's currency and a price of 0, as an engine stores them.
pub fn close_terms(
    pricing: &PricingSpec,
    contracts: &[Contract],
    plans: &[PlanAgreement],
) -> Vec<ContractTerms> {
    let mut terms: Vec<ContractTerms> = contracts.iter().map(|c| (c.clone(), None)).collect();
    let currency = pricing
        .catalogue
        .as_ref()
        .map(|c| c.catalogue.currency.clone());
    for a in plans {
        let slot = &mut terms[a.shop.0 as usize];
        slot.0 = Contract {
            shop: a.shop,
            basis: a.basis,
            price_per_mounting: UnitPrice(rust_decimal::Decimal::ZERO),
            currency: currency.clone().unwrap_or_else(|| slot.0.currency.clone()),
        };
        slot.1 = Some(a.terms.clone());
    }
    terms
}
