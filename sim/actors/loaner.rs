//! The loaners, held by the coordinator (`[service]`): a loaner goes from shop to shop within
//! its region, one stay at a time, so its sequence numbers and counters go on from stay to
//! stay, starting from its own values (`faults::Counters::new`, its own stream).
//!
//! A stay begins when the technician installs the loaner (`Loan::from`): the engine is told
//! first (`LoanerDay::installs`, provisioned with that time), then the loaner sends an
//! installation reading, its jobs (edged for the shop's machine, `MachineDay::loaner_jobs`),
//! an end-of-day reading every day the shop opens, and a removal read when the repaired
//! machine is back (`Restore::at`). The removal is never on the day of the next installation
//! (`dispatch`: the loaner is checked overnight), so the engine always has it first.
//!
//! A loaner's events skip the transport's outages (it is installed and checked on the spot)
//! and its reads are never lost; its wear and failures are not simulated. Each day is worked
//! loaner by loaner (by id), its acts in time order: the output never depends on which
//! machine's slot came first.

use super::faults::Counters;
use super::LoanerJob;
use crate::event::{EventBody, MachineId, ShopId, UsageEvent};
use crate::scenario::FaultSpec;
use std::collections::{BTreeMap, VecDeque};

/// Read after closing, as the shop's own machines are.
pub(super) use super::machine::READ_AT;
const DAY: i64 = 86_400;

/// One loaner's time at one shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stay {
    pub shop: ShopId,
    /// The machine it stands in for (whose slot says whether the shop opened).
    pub host: MachineId,
    /// Unix seconds: installed.
    pub from: i64,
    /// Unix seconds: removed (the shop's machine is back).
    pub until: i64,
}

struct Loaner {
    seq: u64,
    counters: Counters,
    /// Mountings since its last reading.
    since_read: u64,
    /// Stays to come or under way, in time order.
    stays: VecDeque<Stay>,
    /// The shop of its latest stay.
    shop: Option<ShopId>,
}

/// What the loaners did on one day.
#[derive(Debug, Default)]
pub(super) struct LoanerDay {
    /// In (loaner, seq) order.
    pub events: Vec<UsageEvent>,
    /// Loaners installed today: (loaner, shop, unix seconds), to provision before the events.
    pub installs: Vec<(MachineId, ShopId, i64)>,
    /// Counter readings sent, per shop (the truth's `counter_reads`).
    pub reads: Vec<ShopId>,
    /// Counter wraps.
    pub rollovers: u64,
}

/// Something a loaner does, in the order of the day.
#[derive(Clone, Copy, Debug)]
enum Act {
    Install(ShopId),
    Job(EventBody),
    Read,
    Remove,
}

pub(super) struct Loaners {
    faults: FaultSpec,
    seed: u64,
    by_id: BTreeMap<MachineId, Loaner>,
}

impl Loaners {
    pub fn new(faults: FaultSpec, seed: u64) -> Loaners {
        Loaners {
            faults,
            seed,
            by_id: BTreeMap::new(),
        }
    }

    /// A stay the service organisation decided (stays of one loaner come in time order).
    pub fn book(&mut self, loaner: MachineId, stay: Stay) {
        let (faults, seed) = (&self.faults, self.seed);
        let l = self.by_id.entry(loaner).or_insert_with(|| Loaner {
            seq: 0,
            counters: Counters::new(faults, seed, loaner),
            since_read: 0,
            stays: VecDeque::new(),
            shop: None,
        });
        debug_assert!(l.stays.back().is_none_or(|s| s.until <= stay.from));
        l.stays.push_back(stay);
    }

    /// Works the day starting at `midnight`; `host(machine)` reads that machine's slot of the
    /// day: whether its shop opened, and the jobs a loaner edged for it (asked only of the
    /// machines a loaner stands in for today).
    pub fn day(
        &mut self,
        midnight: i64,
        host: impl Fn(MachineId) -> (bool, Vec<LoanerJob>),
        out: &mut LoanerDay,
    ) {
        let today = midnight..midnight + DAY;
        for (&id, loaner) in &mut self.by_id {
            let Some(stay) = loaner
                .stays
                .iter()
                .find(|s| s.from < today.end && s.until >= today.start)
            else {
                continue;
            };
            let (open, jobs) = host(stay.host);
            let acts = loaner.acts_of(id, midnight, &jobs, open);
            for (time, act) in acts {
                loaner.act(id, time, act, out);
            }
            loaner.stays.retain(|s| s.until >= midnight + DAY);
        }
    }

    /// Per shop, the mountings the loaners did after their last reading sent.
    pub fn unread(&self) -> impl Iterator<Item = (ShopId, u64)> + '_ {
        self.by_id
            .values()
            .filter_map(|l| Some((l.shop?, l.since_read)))
    }
}

impl Loaner {
    /// The day's acts in time order (at the same instant: installation, jobs, read, removal).
    fn acts_of(
        &self,
        id: MachineId,
        midnight: i64,
        jobs: &[LoanerJob],
        open: bool,
    ) -> Vec<(i64, Act)> {
        let today = midnight..midnight + DAY;
        let mut acts: Vec<(i64, u8, Act)> = Vec::new();
        for s in &self.stays {
            if today.contains(&s.from) {
                acts.push((s.from, 0, Act::Install(s.shop)));
            }
            let read = midnight + READ_AT;
            if s.from <= read && read < s.until && open {
                acts.push((read, 2, Act::Read));
            }
            if today.contains(&s.until) {
                acts.push((s.until, 3, Act::Remove));
            }
        }
        for j in jobs.iter().filter(|j| j.loaner == id) {
            acts.push((j.time, 1, Act::Job(j.body)));
        }
        // Stable: jobs keep the order the machine edged them in.
        acts.sort_by_key(|&(time, rank, _)| (time, rank));
        acts.into_iter().map(|(t, _, a)| (t, a)).collect()
    }

    fn act(&mut self, id: MachineId, time: i64, act: Act, out: &mut LoanerDay) {
        let body = match act {
            Act::Install(shop) => {
                self.shop = Some(shop);
                out.installs.push((id, shop, time));
                self.reading(false)
            }
            Act::Job(body) => {
                out.rollovers += self.count(&body);
                body
            }
            Act::Read => self.reading(false),
            Act::Remove => self.reading(true),
        };
        let shop = self.shop.expect("a loaner acts only once installed");
        if matches!(body, EventBody::Counter { .. }) {
            out.reads.push(shop);
        }
        self.seq += 1;
        out.events.push(UsageEvent {
            machine: id,
            seq: self.seq,
            time,
            shop,
            body,
        });
    }

    fn count(&mut self, body: &EventBody) -> u64 {
        match body {
            EventBody::Mounting { .. } => {
                self.since_read += 1;
                self.counters.count_mounting()
            }
            EventBody::TraceOnly { .. } => self.counters.count_trace_only(),
            EventBody::Counter { .. } => 0,
        }
    }

    fn reading(&mut self, removal: bool) -> EventBody {
        self.since_read = 0;
        self.counters.reading(removal, None)
    }
}
