//! A machine in the field (`[service]` on): its wheels wear, it fails, it waits for the
//! service organisation, and while it is down the shop's jobs follow the downtime policy.
//!
//! A span is worked job by job. When a pair edged reaches the failure process's threshold the
//! machine stops, reports the failure on the board, and suspends: what it does next depends on
//! when it works again, which only the region's service organisation knows. The coordinator
//! resumes it with that time (`Restore`), in the same span or a later one. Every event keeps
//! the machine's own order: sequence numbers follow time, whatever the rounds.

use super::{MachineState, CLOSES, READ_AT, SWAP_AT};
use crate::actors::MachineDay;
use crate::calendar::DayIndex;
use crate::demand::{Job, JobKind};
use crate::event::EventBody;
use crate::service::failure::FailureProcess;
use crate::service::spec::{DowntimePolicy, ServiceSpec};
use crate::service::wear::Wheels;
use crate::service::Failure;

/// When a failed machine works again, as the service organisation decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restore {
    /// Unix seconds: the machine edges again from then on.
    pub at: i64,
    /// The repair replaced the control board: the counters restart at 0.
    pub board_swap: bool,
    /// A loaner stands in until `at`.
    pub loan: Option<Loan>,
}

/// A loaner machine installed at the shop while its own is repaired: the jobs from `from`
/// until the machine is back are edged on it (`MachineDay::loaner_jobs`; the coordinator
/// gives them the loaner's ids and counters). A loaner is a checked machine: its own failures
/// are not simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loan {
    pub loaner: crate::event::MachineId,
    /// Unix seconds: installed (the end of the diagnosis visit).
    pub from: i64,
}

pub(super) struct FieldState {
    pub(super) failures: FailureProcess,
    wheels: Wheels,
    policy: DowntimePolicy,
    down: Option<Down>,
    /// `Wait` policy: the jobs that came while the machine was down.
    backlog: Vec<Job>,
    /// Where the span's work stopped, waiting for a `Restore`.
    pub(super) suspended: Option<Cursor>,
    /// `[service.predictive]`: visits booked and not yet settled, by arrival (`visit`).
    pub(super) visits: Vec<super::visit::Visit>,
    /// Unix seconds of the machine's last failure (`i64::MIN`: none yet).
    pub(super) last_failure: i64,
}

#[derive(Clone, Copy, Debug)]
struct Down {
    restore: Option<Restore>,
}

/// A position in the span's work: day `day` (index in the span), job `job` of that day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Cursor {
    pub day: usize,
    pub job: usize,
}

/// What working a day came to.
pub(super) enum DayEnd {
    Done,
    /// The machine failed; the rest waits for `Restore` from `Cursor`.
    Suspended(Cursor),
}

impl FieldState {
    pub(super) fn new(
        spec: &ServiceSpec,
        seed: u64,
        machine: crate::event::MachineId,
        pairs_per_day: f64,
        policy: DowntimePolicy,
    ) -> FieldState {
        FieldState {
            failures: FailureProcess::new(&spec.failures, seed, machine, pairs_per_day),
            wheels: Wheels::new(&spec.wear, seed, machine),
            policy,
            down: None,
            backlog: Vec::new(),
            suspended: None,
            visits: Vec::new(),
            last_failure: i64::MIN,
        }
    }

    /// What the daily reading reports: the wheels' wear, and the failure a warning foresees.
    pub(super) fn health(&self) -> crate::event::Health {
        crate::event::Health {
            wheel_wear_permille: self.wheels.wear_permille(),
            warning: self.failures.warning(),
        }
    }

    pub(super) fn is_down(&self) -> bool {
        self.down.is_some()
    }

    /// Stops the machine until `r.at`, as a repair would (a preventive visit).
    pub(super) fn stop_until(&mut self, r: Restore) {
        self.down = Some(Down { restore: Some(r) });
    }

    /// The service organisation's answer for the pending failure.
    pub(super) fn restore(&mut self, r: Restore) {
        if let Some(down) = &mut self.down {
            down.restore = Some(r);
        }
    }
}

impl MachineState {
    /// Works day `k` of the span from job `from` (0 unless resuming), in the field.
    /// Works day `k` of the span, from job `resume` if the machine stopped inside it.
    pub(super) fn field_day(
        &mut self,
        k: usize,
        resume: Option<usize>,
        w: &super::DayWork,
        day: &mut MachineDay,
    ) -> DayEnd {
        let from = resume.unwrap_or(0);
        if resume.is_none() {
            if self.seq == 0 {
                self.commissioning_reading(w.midnight, day);
            }
            if w.open {
                day.open = true;
                // Drawn whether or not the machine is up: job times never depend on failures.
                self.draw_offsets(w.jobs.len());
            }
        }
        if w.open {
            for (i, job) in w.jobs.iter().enumerate().skip(from) {
                let time = w.midnight + self.offsets[i];
                if self.restore_if_due(time, w, day) {
                    return DayEnd::Suspended(Cursor { day: k, job: i });
                }
                day.field.demand_jobs += 1;
                self.visit_if_due(time, day);
                if self.is_down() {
                    match self.loaner_if_in(time, w.midnight, day) {
                        Some(loan) => self.on_loaner(loan, time, job, day),
                        None => self.while_down(job, day),
                    }
                    continue;
                }
                let body = self.field_job(job, day);
                day.events.push(self.event(time, body));
                if self.fails_now(job) {
                    self.report_failure(time, w.day, day);
                    return DayEnd::Suspended(Cursor { day: k, job: i + 1 });
                }
            }
            if self.restore_if_due(w.midnight + READ_AT, w, day) {
                let job = w.jobs.len();
                return DayEnd::Suspended(Cursor { day: k, job });
            }
            // A loaner installed after the last job still edges what waited, today.
            self.loaner_if_in(w.midnight + READ_AT, w.midnight, day);
            self.visit_if_due(w.midnight + READ_AT, day);
        }
        self.day_end(w, day);
        DayEnd::Done
    }

    fn field(&mut self) -> &mut FieldState {
        self.field
            .as_deref_mut()
            .expect("the field path runs with [service] on")
    }

    fn is_down(&self) -> bool {
        self.field.as_ref().is_some_and(|f| f.down.is_some())
    }

    /// Counts the job like `run_job`, and wears the wheels by what it edged.
    fn field_job(&mut self, job: &Job, day: &mut MachineDay) -> EventBody {
        if let JobKind::Mounting { material, .. } = job.kind {
            let edged = self.field().wheels.edge(job.frame, material);
            day.field.wheel_sets += u32::from(edged.wheels_replaced);
        }
        self.run_job(job, day)
    }

    fn fails_now(&mut self, job: &Job) -> bool {
        matches!(job.kind, JobKind::Mounting { .. }) && self.field().failures.edge_pair()
    }

    fn report_failure(&mut self, time: i64, index: DayIndex, day: &mut MachineDay) {
        let shop = self.shop;
        let failure: Failure = self.field().failures.fail(shop, time, index);
        self.field().down = Some(Down { restore: None });
        self.field().last_failure = time;
        day.field.failures += 1;
        self.board.report_failure(failure);
    }

    /// A job while no machine works: ordered remote-edged (lost to billing, and not traced:
    /// the tracer is down too) or kept for when the machine works again.
    fn while_down(&mut self, job: &Job, day: &mut MachineDay) {
        match self.field().policy {
            DowntimePolicy::RemoteEdge => {
                if matches!(job.kind, JobKind::Mounting { .. }) {
                    day.field.lost_mountings += 1;
                }
            }
            DowntimePolicy::Wait => {
                self.field().backlog.push(*job);
                if matches!(job.kind, JobKind::Mounting { .. }) {
                    day.field.waited_mountings += 1;
                }
            }
        }
    }

    /// The loaner standing in at `now`, if one is installed by then; the jobs that waited for
    /// it are edged on it first (stamped no earlier than the technician's morning).
    fn loaner_if_in(&mut self, now: i64, midnight: i64, day: &mut MachineDay) -> Option<Loan> {
        let field = self.field.as_deref_mut()?;
        let loan = field.down?.restore?.loan?;
        if loan.from > now {
            return None;
        }
        let backlog = std::mem::take(&mut field.backlog);
        let at = loan.from.max(midnight + SWAP_AT);
        for job in backlog {
            self.on_loaner(loan, at, &job, day);
        }
        Some(loan)
    }

    /// A job edged on the loaner: the shop's work (tallied here, in its truth), the loaner's
    /// event (numbered and counted by the coordinator).
    fn on_loaner(&mut self, loan: Loan, time: i64, job: &Job, day: &mut MachineDay) {
        let body = super::tally_job(job, day);
        if matches!(job.kind, JobKind::Mounting { .. }) {
            day.field.loaner_mountings += 1;
        }
        day.loaner_jobs.push(crate::actors::LoanerJob {
            loaner: loan.loaner,
            time,
            body,
        });
    }

    /// If the repair is done by `now`, the machine is back: a replaced board is read out and
    /// restarted (as in `faults`), then the jobs that waited are edged. Stamped no earlier than
    /// the technician's morning of the day being worked, so every event lies in its day.
    /// Returns whether the machine failed again while edging what waited.
    fn restore_if_due(&mut self, now: i64, w: &super::DayWork, day: &mut MachineDay) -> bool {
        let midnight = w.midnight;
        let Some(field) = self.field.as_deref_mut() else {
            return false;
        };
        let Some(Down { restore: Some(r) }) = field.down else {
            return false;
        };
        if r.at > now {
            return false;
        }
        field.down = None;
        let backlog = std::mem::take(&mut field.backlog);
        let at = r.at.clamp(midnight + SWAP_AT, midnight + CLOSES).min(now);
        if r.board_swap {
            let final_read = self.reading();
            day.events.push(self.event(at, final_read));
            self.counters.reset();
            let first_read = self.reading();
            day.events.push(self.event(at, first_read));
            day.tally.counter_reads += 2;
            day.faults.board_swaps += 1;
        }
        for (i, job) in backlog.iter().enumerate() {
            let body = self.field_job(job, day);
            day.events.push(self.event(at, body));
            if self.fails_now(job) {
                self.report_failure(at, w.day, day);
                self.field().backlog.extend_from_slice(&backlog[i + 1..]);
                return true;
            }
        }
        false
    }

    /// Works the span's days from `start` (`resume`: the job to go on from on its first day)
    /// until its end or the next failure, keeping the span for the resume.
    pub(super) fn field_span(
        &mut self,
        span: Vec<super::DayWork>,
        days: &mut [MachineDay],
        start: usize,
        mut resume: Option<usize>,
    ) {
        for k in start..span.len() {
            let w = &span[k];
            if w.open || w.removal {
                if let DayEnd::Suspended(at) = self.field_day(k, resume, w, &mut days[k]) {
                    self.field().suspended = Some(at);
                    self.span = span;
                    return;
                }
            }
            resume = None;
        }
    }

    /// The service organisation's answer: go on from where the failure stopped the span.
    pub(super) fn field_restore(&mut self, r: Restore, days: &mut [MachineDay]) {
        let field = self.field();
        field.restore(r);
        let Some(at) = field.suspended.take() else {
            return;
        };
        let span = std::mem::take(&mut self.span);
        self.field_span(span, days, at.day, Some(at.job));
    }
}
