//! The events the generator sends: valid fleetsim events with machine-issued identity, unique
//! across the run, and their request bodies.
//!
//! Event `k` of the run (batch `k / batch_size`) belongs to machine `k mod machines` with
//! sequence number `first_seq + k / machines`: consecutive events go to consecutive machines,
//! so every batch interleaves many machines, as a gateway's traffic does, and each machine's
//! sequence numbers increase by one per round. Everything is a pure function of `k`, so any
//! thread can build any batch, and the verification can recount what a batch held.

use crate::calendar::Period;
use crate::event::wire::encode::batch_json;
use crate::event::{EventBody, Frame, MachineId, Material, ShopId, UsageEvent};
use chrono::{Months, NaiveDate};
use std::time::Instant;

/// The share of events that are trace-only cycles (remote-edged orders, not billable), per
/// hundred: the calibrated in-store share is about 0.75.
const TRACE_ONLY_PER_HUNDRED: u64 = 25;
/// The share of mountings that are remakes, per hundred (calibrated 5–15%).
const REMAKE_PER_HUNDRED: u64 = 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventPlan {
    pub machines: u32,
    pub first_seq: u64,
    pub batch_size: u64,
    pub period: Period,
    /// Unix seconds at the start of `period`, and the period's length.
    period_start: i64,
    period_seconds: i64,
}

/// Billable mountings and trace-only cycles, the two usage columns the verification reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub billable_mountings: u64,
    pub trace_only: u64,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.billable_mountings += other.billable_mountings;
        self.trace_only += other.trace_only;
    }

    pub fn total(&self) -> u64 {
        self.billable_mountings + self.trace_only
    }
}

impl EventPlan {
    /// `None` when the period does not exist or a count is zero.
    pub fn new(machines: u32, first_seq: u64, batch_size: u64, period: Period) -> Option<Self> {
        let start = NaiveDate::from_ymd_opt(period.year, period.month, 1)?;
        let end = start.checked_add_months(Months::new(1))?;
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
        let (period_start, period_end) = (midnight(start)?, midnight(end)?);
        (machines > 0 && batch_size > 0).then_some(EventPlan {
            machines,
            first_seq,
            batch_size,
            period,
            period_start,
            period_seconds: period_end - period_start,
        })
    }

    /// Machine `m` is bound to shop `m` (one edger per shop, the common case).
    pub fn shop_of(machine: MachineId) -> ShopId {
        ShopId(machine.0)
    }

    pub fn bindings(&self) -> impl Iterator<Item = (MachineId, ShopId)> {
        (0..self.machines).map(|m| (MachineId(m), Self::shop_of(MachineId(m))))
    }

    /// The events of fresh batch `batch`, sorted by machine, then sequence number.
    pub fn batch(&self, batch: u64) -> Vec<UsageEvent> {
        let first = batch * self.batch_size;
        let mut events: Vec<UsageEvent> = (first..first + self.batch_size)
            .map(|k| self.event(k))
            .collect();
        events.sort_unstable_by_key(|e| (e.machine, e.seq));
        events
    }

    fn event(&self, k: u64) -> UsageEvent {
        let machines = u64::from(self.machines);
        let machine = MachineId((k % machines) as u32);
        let round = k / machines;
        UsageEvent {
            machine,
            seq: self.first_seq + round,
            // A machine's events move forward in time, one second per round, inside the period.
            time: self.period_start + (round % self.period_seconds as u64) as i64,
            shop: Self::shop_of(machine),
            body: body_of(k),
        }
    }

    pub fn tally(&self, batch: u64) -> Tally {
        let first = batch * self.batch_size;
        let mut tally = Tally::default();
        for k in first..first + self.batch_size {
            match body_of(k) {
                EventBody::Mounting { .. } => tally.billable_mountings += 1,
                _ => tally.trace_only += 1,
            }
        }
        tally
    }

    /// The request body of fresh batch `batch`: a CloudEvents batch, rendered by `event::wire`.
    pub fn body(&self, batch: u64) -> Vec<u8> {
        batch_json(&self.batch(batch))
    }

    /// The first sequence number a later run on the same store can use after `batches`
    /// fresh batches of this one, so that its ids are new.
    pub fn next_first_seq(&self, batches: u64) -> u64 {
        let events = batches * self.batch_size;
        self.first_seq + events.div_ceil(u64::from(self.machines))
    }
}

/// What event `k` records: a deterministic mix of mountings (some remakes) and trace-only
/// cycles over the frame and material types, so bodies look like real traffic.
fn body_of(k: u64) -> EventBody {
    let h = mix(k);
    let frame = Frame::from_index((h % 3) as usize);
    if (h >> 8) % 100 < TRACE_ONLY_PER_HUNDRED {
        return EventBody::TraceOnly { frame };
    }
    EventBody::Mounting {
        frame,
        material: Material::from_index(((h >> 16) % 5) as usize),
        remake: (h >> 24) % 100 < REMAKE_PER_HUNDRED,
    }
}

/// SplitMix64's finaliser: a cheap, well-spread hash of the event index.
fn mix(k: u64) -> u64 {
    let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Request bodies, either all built before the run (outside the timed path) or built by each
/// sender just before its request is due.
pub enum Bodies {
    /// Shared with the requests by reference count: sending one copies nothing.
    Prebuilt(Vec<bytes::Bytes>),
    OnTheFly,
}

/// How the bodies were made, and what that cost: reported so that the choice is visible.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BodyStats {
    /// "prebuilt" (every body sent was built before the run), "on_the_fly", or
    /// "partly_prebuilt" (a --max run outran the prebuilt bodies).
    pub mode: &'static str,
    /// Bodies built before the run (0 on the fly).
    pub prebuilt: u64,
    /// Their total size in bytes.
    pub prebuilt_bytes: u64,
    /// The size of the first body, in bytes.
    pub body_bytes: u64,
    /// Wall time spent building bodies before the run.
    pub build_seconds: f64,
    /// CPU microseconds to build one body, measured on a sample before the run.
    pub build_us_per_body: f64,
    /// Bodies the senders built during the run (on the fly, or past the prebuilt ones).
    pub built_during_run: u64,
}

/// Bodies sampled to measure the cost and size of one body.
const SAMPLE_BODIES: u64 = 16;

/// Measures one body's size and build time on a small sample.
pub fn sample_body_cost(plan: &EventPlan) -> (u64, f64) {
    let started = Instant::now();
    let sizes: Vec<usize> = (0..SAMPLE_BODIES).map(|b| plan.body(b).len()).collect();
    let micros = started.elapsed().as_secs_f64() * 1e6 / SAMPLE_BODIES as f64;
    (sizes.first().copied().unwrap_or(0) as u64, micros)
}

/// Builds `count` bodies on `threads` threads.
pub fn prebuild(plan: &EventPlan, count: u64, threads: usize) -> Vec<Vec<u8>> {
    let threads = threads.max(1) as u64;
    let per_thread = count.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * per_thread).min(count)..((t + 1) * per_thread).min(count);
                scope.spawn(move || range.map(|b| plan.body(b)).collect::<Vec<_>>())
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap_or_default())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::wire::{from_cloudevent, CloudEvent};
    use std::collections::BTreeSet;

    fn plan(machines: u32, batch: u64) -> EventPlan {
        EventPlan::new(
            machines,
            1,
            batch,
            Period {
                year: 2024,
                month: 3,
            },
        )
        .unwrap()
    }

    #[test]
    fn ids_are_unique_across_batches_and_sequences_increase_per_machine() {
        let p = plan(7, 10);
        let events: Vec<UsageEvent> = (0..50).flat_map(|b| p.batch(b)).collect();
        let ids: BTreeSet<(MachineId, u64)> = events.iter().map(|e| (e.machine, e.seq)).collect();
        assert_eq!(ids.len(), 500);
        for m in 0..7 {
            let seqs: Vec<u64> = events
                .iter()
                .filter(|e| e.machine == MachineId(m))
                .map(|e| e.seq)
                .collect();
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "machine {m}: {seqs:?}"
            );
        }
    }

    #[test]
    fn a_batch_is_sorted_and_interleaves_machines() {
        let p = plan(1000, 100);
        let batch = p.batch(9); // events 900..1000 and wrapping: machines 900..999
        assert!(batch
            .windows(2)
            .all(|w| (w[0].machine, w[0].seq) < (w[1].machine, w[1].seq)));
        let machines: BTreeSet<MachineId> = batch.iter().map(|e| e.machine).collect();
        assert_eq!(machines.len(), 100);
        let wrapped = p.batch(10);
        assert_eq!(wrapped[0].machine, MachineId(0));
        assert_eq!(wrapped[0].seq, 2);
    }

    #[test]
    fn bodies_parse_back_through_the_wire_format_inside_the_period() {
        let p = plan(5, 20);
        let cloud: Vec<CloudEvent> = serde_json::from_slice(&p.body(3)).unwrap();
        let events: Vec<UsageEvent> = cloud.iter().map(|c| from_cloudevent(c).unwrap()).collect();
        assert_eq!(events, p.batch(3));
        assert!(events.iter().all(|e| Period::of_unix(e.time) == p.period));
    }

    #[test]
    fn the_tally_counts_what_the_batch_holds() {
        let p = plan(13, 100);
        let mut both = Tally::default();
        for b in 0..20 {
            let t = p.tally(b);
            let billable = p.batch(b).iter().filter(|e| e.billable()).count() as u64;
            assert_eq!((t.billable_mountings, t.total()), (billable, 100));
            both.add(t);
        }
        // About a quarter trace-only, as calibrated.
        assert!((400..600).contains(&both.trace_only), "{both:?}");
    }

    #[test]
    fn a_later_run_starts_beyond_this_ones_sequences() {
        let p = plan(1000, 100);
        let next = p.next_first_seq(25); // 2,500 events: rounds 0, 1 and half of 2
        assert_eq!(next, 4);
        let last = p.batch(24);
        assert!(last.iter().all(|e| e.seq < next));
    }

    #[test]
    fn invalid_plans_are_refused() {
        let march = Period {
            year: 2024,
            month: 3,
        };
        assert_eq!(EventPlan::new(0, 1, 100, march), None);
        assert_eq!(EventPlan::new(10, 1, 0, march), None);
        let bad = Period {
            year: 2024,
            month: 13,
        };
        assert_eq!(EventPlan::new(10, 1, 100, bad), None);
    }

    #[test]
    fn prebuilt_bodies_come_in_batch_order() {
        let p = plan(10, 5);
        let bodies = prebuild(&p, 7, 3);
        assert_eq!(bodies.len(), 7);
        for (b, body) in bodies.iter().enumerate() {
            assert_eq!(body, &p.body(b as u64));
        }
    }
}
