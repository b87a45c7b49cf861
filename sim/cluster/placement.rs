//! Which node simulates which regions: a pure function of the fleet and the node count.
//!
//! The region is the unit of placement (a region's shops, machines, technicians and loaners
//! couple with one another and with nothing outside it), so a node owns whole regions and only
//! the barrier and the results cross the network. Regions are balanced by expected volume with
//! the longest-processing-time rule: heaviest region first, each to the least-loaded node.
//! Ties go to the lower region id and the lower node index, so every node computes the same
//! placement from the same scenario without asking anyone.

use crate::fleet::Fleet;
use crate::service::region::{RegionId, Regions};
use serde::Serialize;

/// Expected work, in thousandths of a job: integers, so the comparison that orders regions is
/// exact and the same on every machine.
pub type MilliJobs = u64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// Indexed by node.
    pub nodes: Vec<NodeShare>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeShare {
    /// In region id order; written as the regions' names.
    #[serde(rename = "regions", serialize_with = "region_names")]
    pub region_ids: Vec<RegionId>,
    pub shops: u32,
    pub machines: u32,
    pub expected_milli_jobs: MilliJobs,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("a cluster needs at least one node")]
    NoNodes,
    #[error(
        "{nodes} nodes for {regions} regions: the unit of placement is the region, so at most {regions} nodes have work"
    )]
    MoreNodesThanRegions { nodes: usize, regions: usize },
}

/// Places every region of `fleet` on one of `nodes` nodes.
pub fn place(fleet: &Fleet, regions: &Regions, nodes: usize) -> Result<Placement, PlacementError> {
    let weights: Vec<(RegionId, MilliJobs)> = RegionId::all()
        .map(|r| (r, expected_work(fleet, regions, r)))
        .collect();
    let owner = longest_first(&weights, nodes)?;
    let mut shares = vec![NodeShare::default(); nodes];
    for (&(region, weight), &node) in weights.iter().zip(&owner) {
        let share = &mut shares[node];
        let region_fleet = regions.fleet(region);
        share.region_ids.push(region);
        share.shops += region_fleet.shops.len() as u32;
        share.machines += region_fleet.machines;
        share.expected_milli_jobs += weight;
    }
    Ok(Placement { nodes: shares })
}

fn region_names<S: serde::Serializer>(ids: &[RegionId], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ids.iter().map(|r| r.name()))
}

/// A region's expected jobs over the run: each shop's level times its days in service.
fn expected_work(fleet: &Fleet, regions: &Regions, region: RegionId) -> MilliJobs {
    regions
        .fleet(region)
        .shops
        .iter()
        .map(|&shop| {
            let profile = &fleet.shops[shop.0 as usize];
            let days = u64::from(profile.in_service.last_day + 1)
                .saturating_sub(u64::from(profile.in_service.first_day));
            (profile.mean_pairs_per_day * 1000.0).round() as u64 * days
        })
        .sum()
}

/// The node of each item (in `weights` order): heaviest first, to the least-loaded node.
fn longest_first(
    weights: &[(RegionId, MilliJobs)],
    nodes: usize,
) -> Result<Vec<usize>, PlacementError> {
    if nodes == 0 {
        return Err(PlacementError::NoNodes);
    }
    if nodes > weights.len() {
        return Err(PlacementError::MoreNodesThanRegions {
            nodes,
            regions: weights.len(),
        });
    }
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(weights[i].1), weights[i].0));
    let mut load = vec![0 as MilliJobs; nodes];
    let mut owner = vec![0; weights.len()];
    for i in order {
        let node = (0..nodes).min_by_key(|&n| (load[n], n)).expect("nodes > 0");
        load[node] += weights[i].1;
        owner[i] = node;
    }
    Ok(owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn items(ws: &[u64]) -> Vec<(RegionId, MilliJobs)> {
        ws.iter()
            .enumerate()
            .map(|(i, &w)| (RegionId(i as u8), w))
            .collect()
    }

    fn loads(ws: &[u64], owner: &[usize], nodes: usize) -> Vec<u64> {
        let mut load = vec![0; nodes];
        for (w, &n) in ws.iter().zip(owner) {
            load[n] += w;
        }
        load
    }

    /// The best split, by trying every assignment (small inputs only).
    fn optimum(ws: &[u64], nodes: usize) -> u64 {
        let mut best = u64::MAX;
        let mut owner = vec![0usize; ws.len()];
        loop {
            best = best.min(*loads(ws, &owner, nodes).iter().max().unwrap());
            let Some(i) = owner.iter().position(|&n| n + 1 < nodes) else {
                return best;
            };
            owner[i] += 1;
            owner[..i].iter_mut().for_each(|n| *n = 0);
        }
    }

    #[test]
    fn the_heaviest_regions_go_first_each_to_the_least_loaded_node() {
        // 9 → node 0; 7 → 1; 6 → 2; 5 → 2 (6 is the least); 4 → 1 (7 < 9 and < 11).
        let owner = longest_first(&items(&[5, 9, 4, 7, 6]), 3).unwrap();
        assert_eq!(owner, vec![2, 0, 1, 1, 2]);
    }

    #[test]
    fn equal_weights_split_by_region_id_then_node_index() {
        let owner = longest_first(&items(&[3, 3, 3, 3]), 2).unwrap();
        assert_eq!(owner, vec![0, 1, 0, 1]);
    }

    #[test]
    fn node_counts_outside_one_to_the_region_count_are_refused() {
        assert_eq!(
            longest_first(&items(&[1, 2]), 0),
            Err(PlacementError::NoNodes)
        );
        assert_eq!(
            longest_first(&items(&[1, 2]), 3),
            Err(PlacementError::MoreNodesThanRegions {
                nodes: 3,
                regions: 2
            })
        );
    }

    proptest! {
        /// Graham's bound for the longest-first rule: within 4/3 − 1/(3m) of the best split.
        #[test]
        fn the_split_is_within_grahams_bound_of_the_best(
            ws in proptest::collection::vec(0u64..1_000, 1..9),
            nodes in 1usize..4,
        ) {
            prop_assume!(nodes <= ws.len());
            let owner = longest_first(&items(&ws), nodes).unwrap();
            let worst = *loads(&ws, &owner, nodes).iter().max().unwrap();
            let best = optimum(&ws, nodes);
            let m = nodes as u64;
            // worst ≤ (4m − 1) / 3m × best, in integers.
            prop_assert!(worst * 3 * m <= (4 * m - 1) * best, "{worst} vs best {best}");
        }
    }

    #[test]
    fn a_real_fleet_places_every_region_once_and_one_node_takes_all() {
        let s = crate::scenario::load(std::path::Path::new("scenarios/quickstart.toml")).unwrap();
        let fleet = Fleet::generate(&s);
        let regions = Regions::assign(s.seed, &fleet);
        let one = place(&fleet, &regions, 1).unwrap();
        assert_eq!(one.nodes[0].shops as usize, fleet.shops.len());
        assert_eq!(one.nodes[0].machines as usize, fleet.machine_count());
        let three = place(&fleet, &regions, 3).unwrap();
        let mut placed: Vec<RegionId> = three
            .nodes
            .iter()
            .flat_map(|n| n.region_ids.clone())
            .collect();
        placed.sort();
        assert_eq!(placed, RegionId::all().collect::<Vec<_>>());
        let total: u64 = three.nodes.iter().map(|n| n.expected_milli_jobs).sum();
        assert_eq!(total, one.nodes[0].expected_milli_jobs);
        assert_eq!(
            three,
            place(&fleet, &regions, 3).unwrap(),
            "a pure function"
        );
    }
}
