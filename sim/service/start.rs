//! Setting the field up for a run: which region each shop is in, what its service tier
//! promises, and one service organisation actor per region that has machines.

use super::dispatch::Promise;
use super::org::{OrgArgs, OrgMsg, ServiceOrgActor};
use super::region::{RegionId, Regions};
use crate::event::MachineId;
use crate::fleet::Fleet;
use crate::scenario::Scenario;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};

/// The loaner id the catalogue's option and tiers use: a shop has a loaner when its tier or
/// its options include it.
pub const LOANER_OPTION: &str = "loaner";

/// What a shop's service tier promises: the catalogue tier it signed (response, repair, a
/// loaner if the tier or its options include one), or the offer's full service
/// (`[service.field]` defaults) for a shop without one.
pub fn promise_of(scenario: &Scenario, shop: u32) -> Promise {
    let field = &scenario.service.field;
    let pricing = &scenario.pricing;
    let (Some(catalogue), Some(choice)) = (&pricing.catalogue, pricing.plan_of(shop)) else {
        return Promise::default_of(field);
    };
    let Some(tier) = choice
        .service
        .as_deref()
        .and_then(|id| catalogue.catalogue.service(id))
    else {
        // A plan without a service tier: repairs are promised nothing beyond the defaults,
        // and no loaner unless an option buys one.
        return Promise {
            loaner: choice.options.iter().any(|o| o == LOANER_OPTION),
            ..Promise::default_of(field)
        };
    };
    Promise {
        response_hours: tier.response_hours,
        repair_hours: tier.repair_hours,
        loaner: tier.includes.iter().any(|o| o == LOANER_OPTION)
            || choice.options.iter().any(|o| o == LOANER_OPTION),
    }
}

/// The organisations, and per shop (by id) the index of its region's organisation and its
/// promise. Loaners take the ids after the fleet's machines, region by region.
pub async fn spawn_field(
    scenario: &Scenario,
    fleet: &Fleet,
    supervisor: ActorCell,
) -> Result<(Vec<ActorRef<OrgMsg>>, Vec<(usize, Promise)>), ActorProcessingErr> {
    let field = &scenario.service.field;
    let regions = Regions::assign(scenario.seed, fleet);
    let mut orgs = Vec::new();
    let mut org_of_region = Vec::new();
    let mut next_loaner = fleet.machine_count() as u32;
    for region in RegionId::all() {
        if regions.fleet(region).machines == 0 {
            org_of_region.push(usize::MAX);
            continue;
        }
        let loaners = regions.loaners(field, region);
        let args = OrgArgs {
            field: field.clone(),
            region,
            technicians: regions.technicians(field, region),
            loaners: (next_loaner..next_loaner + loaners)
                .map(MachineId)
                .collect(),
            seed: scenario.seed,
        };
        next_loaner += loaners;
        let (org, _) = Actor::spawn_linked(None, ServiceOrgActor, args, supervisor.clone()).await?;
        org_of_region.push(orgs.len());
        orgs.push(org);
    }
    let shops = (0..fleet.shops.len() as u32)
        .map(|s| {
            let region = regions.of_shop[s as usize];
            (
                org_of_region[usize::from(region.0)],
                promise_of(scenario, s),
            )
        })
        .collect();
    Ok((orgs, shops))
}
