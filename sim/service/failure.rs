//! A machine's failure process: a power-law NHPP in pairs edged since the machine was installed
//! new at the contract's start, with minimal repair (a repaired machine is as old as it was).
//!
//! Cumulative intensity Λ(c) = (c/η)^β. The scale η follows from the calibration: a machine
//! edging the reference volume for the whole term fails term_years × incidents_per_year times,
//! Λ(term_years × reference_pairs_per_year) = term_years × incidents_per_year_at_reference.
//! The next failure comes at the pair count c_next with Λ(c_next) = Λ(c_last) + E, E ~ Exp(1).
//!
//! Per pair edged the process only compares a counter with the threshold: every draw (from the
//! machine's `Purpose::Failure` stream) happens at construction, at `fail` and at `prevent`.

use super::spec::{CauseSpec, FailureSpec};
use super::{Cause, Failure};
use crate::calendar::DayIndex;
use crate::event::{MachineId, ShopId};
use crate::rng::{self, Purpose};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp1, StandardNormal};
use std::sync::Arc;

/// Λ(c) = (c/η)^β in pairs edged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PowerLaw {
    /// η, in pairs: Λ(η) = 1.
    pub scale: f64,
    /// β.
    pub shape: f64,
}

impl PowerLaw {
    /// η from the calibration: Λ(term × reference volume) = term × incidents a year. With no
    /// incidents at all, η is infinite and the machine never fails.
    pub fn of(spec: &FailureSpec) -> PowerLaw {
        let pairs = spec.term_years * spec.reference_pairs_per_year;
        let failures = spec.term_years * spec.incidents_per_year_at_reference;
        PowerLaw {
            scale: pairs / failures.powf(1.0 / spec.shape),
            shape: spec.shape,
        }
    }

    /// Λ(c): expected failures in the first `pairs` pairs.
    pub fn cumulative(&self, pairs: f64) -> f64 {
        (pairs / self.scale).powf(self.shape)
    }

    /// Λ⁻¹: the pair count at which Λ reaches `intensity`.
    pub fn inverse(&self, intensity: f64) -> f64 {
        self.scale * intensity.powf(1.0 / self.shape)
    }
}

/// One machine's failures.
#[derive(Clone, Debug)]
pub struct FailureProcess {
    spec: Arc<FailureSpec>,
    law: PowerLaw,
    machine: MachineId,
    /// Expected pairs per open day: turns a precursor's days of warning into pairs.
    pairs_per_day: f64,
    /// Pairs edged since the machine was installed.
    pairs: u64,
    /// The pending failure: the pair during which it happens, its cause, and from which pair
    /// count its warning shows (`None`: it gives none).
    fails_at: u64,
    cause: Cause,
    warns_from: Option<u64>,
    rng: ChaCha8Rng,
}

impl FailureProcess {
    /// A new machine and its first failure threshold.
    pub fn new(
        spec: &FailureSpec,
        seed: u64,
        machine: MachineId,
        pairs_per_day: f64,
    ) -> FailureProcess {
        FailureProcess::shared(Arc::new(spec.clone()), seed, machine, pairs_per_day)
    }

    /// As `new`, with the spec shared between the fleet's machines.
    pub fn shared(
        spec: Arc<FailureSpec>,
        seed: u64,
        machine: MachineId,
        pairs_per_day: f64,
    ) -> FailureProcess {
        let mut process = FailureProcess {
            law: PowerLaw::of(&spec),
            spec,
            machine,
            pairs_per_day,
            pairs: 0,
            fails_at: 0,
            cause: Cause::ToolsWear,
            warns_from: None,
            rng: rng::stream(seed, Purpose::Failure, machine.0),
        };
        process.draw_next();
        process
    }

    /// One pair edged; true when the machine fails during it (call `fail` then).
    pub fn edge_pair(&mut self) -> bool {
        self.pairs += 1;
        self.pairs == self.fails_at
    }

    /// The cause of the pending failure once its warning shows in the telemetry.
    pub fn warning(&self) -> Option<Cause> {
        self.warns_from
            .filter(|from| self.pairs >= *from)
            .map(|_| self.cause)
    }

    /// The pending failure happens: draws what its repair needs, then the next threshold.
    pub fn fail(&mut self, shop: ShopId, time: i64, day: DayIndex) -> Failure {
        let cause = self.cause;
        let needs = draw_needs(&mut self.rng, &self.spec.causes[cause as usize]);
        let swap = self.rng.random::<f64>() < self.spec.board_swap_share;
        let visit = !needs.remote_fixable;
        self.draw_next();
        Failure {
            machine: self.machine,
            shop,
            time,
            day,
            cause,
            remote_fixable: needs.remote_fixable,
            on_site_minutes: needs.on_site_minutes,
            parts_cents: if visit { needs.parts_cents } else { 0 },
            parts_order_days: if visit { needs.parts_order_days } else { 0 },
            board_swap: visit && cause == Cause::SoftwareComms && swap,
        }
    }

    /// Predictive maintenance services the component about to fail: the pending failure is
    /// cancelled and the next drawn from the pairs edged so far. Returns the cause serviced.
    pub fn prevent(&mut self) -> Cause {
        let serviced = self.cause;
        self.draw_next();
        serviced
    }

    pub fn pairs(&self) -> u64 {
        self.pairs
    }

    /// The pair count during which the pending failure happens.
    pub fn fails_at(&self) -> u64 {
        self.fails_at
    }

    pub fn pending_cause(&self) -> Cause {
        self.cause
    }

    /// Λ(pairs) + E, its cause and its warning; a fixed number of draws whatever the outcome.
    fn draw_next(&mut self) {
        let e: f64 = self.rng.sample(Exp1);
        let cause = pick_cause(&self.spec.causes, self.rng.random());
        let warns = self.rng.random::<f64>() < self.spec.causes[cause as usize].precursor;
        let (lo, hi) = self.spec.causes[cause as usize].precursor_days;
        let days = self.rng.random_range(lo..=hi);
        let at = self.law.inverse(self.law.cumulative(self.pairs as f64) + e);
        // `as` saturates: an infinite threshold (no failures) is never reached.
        self.fails_at = (at.ceil() as u64).max(self.pairs.saturating_add(1));
        self.cause = cause;
        let lead = (f64::from(days) * self.pairs_per_day).round() as u64;
        self.warns_from = warns.then(|| self.fails_at.saturating_sub(lead));
    }
}

/// What one failure's repair needs, drawn in a fixed order (every draw made every time).
struct Needs {
    remote_fixable: bool,
    on_site_minutes: u32,
    parts_cents: i64,
    parts_order_days: u32,
}

fn draw_needs(rng: &mut ChaCha8Rng, c: &CauseSpec) -> Needs {
    let remote_fixable = rng.random::<f64>() < c.remote_fixable;
    let on_site_minutes = rng.random_range(c.on_site_minutes.0..=c.on_site_minutes.1);
    let z: f64 = rng.sample(StandardNormal);
    let order = rng.random::<f64>() < c.parts_order;
    let order_days = rng.random_range(c.parts_order_days.0..=c.parts_order_days.1);
    // Lognormal around the median; parts are bounded by the scenario, far from overflow.
    let parts = (c.parts_median_cents as f64 * (c.parts_sigma * z).exp()).round();
    Needs {
        remote_fixable,
        on_site_minutes,
        parts_cents: parts as i64,
        parts_order_days: if order { order_days } else { 0 },
    }
}

/// The cause whose share interval holds `u` in [0, 1); shares sum to 1 within 1e-9, so a `u`
/// past the sum falls to the last cause that has a share.
fn pick_cause(causes: &[CauseSpec; 6], u: f64) -> Cause {
    let mut upto = 0.0;
    for (cause, spec) in Cause::ALL.iter().zip(causes) {
        upto += spec.share;
        if u < upto {
            return *cause;
        }
    }
    Cause::ALL
        .iter()
        .zip(causes)
        .rev()
        .find(|(_, spec)| spec.share > 0.0)
        .map_or(Cause::ToolsWear, |(cause, _)| *cause)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quote::CostModel;
    use crate::service::ServiceSpec;
    use rust_decimal::prelude::ToPrimitive;
    use rust_decimal::Decimal;
    use std::sync::OnceLock;

    fn spec() -> FailureSpec {
        ServiceSpec::default().failures
    }

    /// Failures of a simulated fleet, each machine at the reference volume for the whole term.
    struct Fleet {
        machines: u32,
        in_first_half: u64,
        failures: Vec<Failure>,
    }

    const MACHINES: u32 = 20_000;
    /// 3,000 pairs a year for 4 years.
    const TERM_PAIRS: u64 = 12_000;

    fn fleet() -> &'static Fleet {
        static FLEET: OnceLock<Fleet> = OnceLock::new();
        FLEET.get_or_init(|| {
            let spec = Arc::new(spec());
            let mut failures = Vec::new();
            let mut in_first_half = 0;
            for m in 0..MACHINES {
                let mut p = FailureProcess::shared(spec.clone(), 11, MachineId(m), 10.0);
                for pair in 1..=TERM_PAIRS {
                    if p.edge_pair() {
                        failures.push(p.fail(ShopId(m), 0, 0));
                        in_first_half += u64::from(pair <= TERM_PAIRS / 2);
                    }
                }
            }
            Fleet {
                machines: MACHINES,
                in_first_half,
                failures,
            }
        })
    }

    fn share_of(fleet: &Fleet, pick: impl Fn(&Failure) -> bool) -> f64 {
        fleet.failures.iter().filter(|f| pick(f)).count() as f64 / fleet.failures.len() as f64
    }

    /// 20,000 machines × Λ(12,000) = 6 → 120,000 failures; a Poisson count's σ is 0.3 %,
    /// the tolerance 1.5 % (5 σ). Half the term: Λ(6,000) = 6 × 0.5^1.5 = 2.12 a machine.
    #[test]
    fn the_fleets_failures_follow_the_cumulative_intensity() {
        let fleet = fleet();
        let law = PowerLaw::of(&spec());
        let machines = f64::from(fleet.machines);
        let whole = law.cumulative(TERM_PAIRS as f64) * machines;
        let half = law.cumulative((TERM_PAIRS / 2) as f64) * machines;
        assert!((whole - 120_000.0).abs() < 1e-6, "{whole}");
        let within = |count: f64, expected: f64| (count / expected - 1.0).abs() < 0.015;
        let n = fleet.failures.len() as f64;
        assert!(
            within(n, whole),
            "{n} failures over the term, Λ says {whole}"
        );
        let h = fleet.in_first_half as f64;
        assert!(within(h, half), "{h} in the first half, Λ says {half}");
    }

    /// σ of a share near 0.3 over 120,000 failures is 0.0013: tolerance 0.01.
    #[test]
    fn causes_come_in_their_shares() {
        let fleet = fleet();
        for (cause, c) in Cause::ALL.iter().zip(&spec().causes) {
            let s = share_of(fleet, |f| f.cause == *cause);
            assert!((s - c.share).abs() < 0.01, "{cause:?}: {s} vs {}", c.share);
        }
    }

    /// Defaults: Σ share × remote = 0.32 (calibration: ≈ 30 % fixed remotely); a loaner is
    /// for a visit waiting for parts: Σ share × (1 − remote) × order = 0.094 (≈ 10 %).
    #[test]
    fn remote_fixes_and_loaner_repairs_come_in_the_calibrated_shares() {
        let fleet = fleet();
        let remote = share_of(fleet, |f| f.remote_fixable);
        assert!((remote - 0.32).abs() < 0.01, "remote-fixable {remote}");
        let loaner = share_of(fleet, |f| !f.remote_fixable && f.parts_order_days > 0);
        assert!((0.09..=0.10).contains(&loaner), "loaner-needing {loaner}");
        let remote_with_parts = share_of(fleet, |f| f.remote_fixable && f.parts_cents > 0);
        assert_eq!(remote_with_parts, 0.0);
        let swaps = share_of(fleet, |f| f.board_swap);
        // software/comms 0.15 × visits 0.1 × half of them: 0.0075.
        assert!((swaps - 0.0075).abs() < 0.002, "board swaps {swaps}");
        assert!(fleet
            .failures
            .iter()
            .all(|f| !f.board_swap || f.cause == Cause::SoftwareComms));
    }

    /// Incidents a year averaged over the term, Λ(T r)/T = I (r/R)^β: at β = 1.5 the quote
    /// calculator's `1.5 × (r/3000)^1.5`.
    #[test]
    fn the_term_average_is_the_quote_calculators_formula() {
        let spec = spec();
        let law = PowerLaw::of(&spec);
        let model = CostModel::default();
        for r in [250, 1_000, 3_000, 4_500, 12_000] {
            let simulated = law.cumulative(spec.term_years * f64::from(r)) / spec.term_years;
            let quoted = model
                .incidents_per_machine_year(Decimal::from(r))
                .to_f64()
                .unwrap();
            assert!(
                (simulated / quoted - 1.0).abs() < 1e-9,
                "{r} pairs a year: {simulated} vs {quoted}"
            );
        }
    }

    #[test]
    fn each_machine_has_its_own_stream() {
        let spec = spec();
        let run = |m: u32| {
            let mut p = FailureProcess::new(&spec, 5, MachineId(m), 10.0);
            while !p.edge_pair() {}
            (p.pairs(), p.fail(ShopId(0), 0, 0))
        };
        let (at, failure) = run(1);
        assert_eq!(run(1), (at, failure));
        let (other_at, other) = run(2);
        assert!(
            other_at != at && other.machine == MachineId(2),
            "{other_at} {at}"
        );
        let third = FailureProcess::new(&spec, 6, MachineId(1), 10.0);
        assert_ne!(third.fails_at(), at, "another seed, another stream");
    }

    /// Two twins: one edges 10,000 pairs below its threshold, the other none. If edging drew
    /// randomness, their streams would part, and with them what their failures need.
    #[test]
    fn edging_a_pair_draws_nothing() {
        let mut rare = spec();
        rare.incidents_per_year_at_reference = 0.01;
        let mut busy = FailureProcess::new(&rare, 3, MachineId(9), 10.0);
        let mut idle = busy.clone();
        assert!(
            busy.fails_at() > 10_000,
            "precondition: {}",
            busy.fails_at()
        );
        let position = busy.rng.get_word_pos();
        for _ in 0..10_000 {
            assert!(!busy.edge_pair());
        }
        assert_eq!(busy.rng.get_word_pos(), position);
        assert_eq!(busy.fail(ShopId(1), 7, 0), idle.fail(ShopId(1), 7, 0));
    }

    fn always_warns(days: u32) -> FailureSpec {
        let mut spec = spec();
        for c in &mut spec.causes {
            c.precursor = 1.0;
            c.precursor_days = (days, days);
        }
        spec
    }

    #[test]
    fn the_warning_shows_the_precursor_days_ahead_in_pairs() {
        // 10 days ahead at 4 pairs a day: 40 pairs before the failure.
        let mut p = FailureProcess::new(&always_warns(10), 1, MachineId(0), 4.0);
        let fails_at = p.fails_at();
        assert!(fails_at > 40, "precondition: {fails_at}");
        let mut first_warning = None;
        while !p.edge_pair() {
            if first_warning.is_none() && p.warning().is_some() {
                first_warning = Some(p.pairs());
            }
        }
        assert_eq!(first_warning, Some(fails_at - 40));
        assert_eq!(p.pairs(), fails_at);
        let cause = p.pending_cause();
        assert_eq!(p.warning(), Some(cause));
        assert_eq!(p.fail(ShopId(0), 0, 0).cause, cause);
    }

    #[test]
    fn without_precursors_no_warning_ever_shows() {
        let mut spec = spec();
        spec.causes.iter_mut().for_each(|c| c.precursor = 0.0);
        let mut p = FailureProcess::new(&spec, 1, MachineId(0), 4.0);
        for _ in 0..20_000 {
            assert_eq!(p.warning(), None);
            if p.edge_pair() {
                p.fail(ShopId(0), 0, 0);
            }
        }
    }

    #[test]
    fn preventing_cancels_the_pending_failure_and_draws_the_next_from_now() {
        let mut p = FailureProcess::new(&always_warns(10), 2, MachineId(4), 4.0);
        let old = p.fails_at();
        while p.warning().is_none() {
            assert!(!p.edge_pair());
        }
        let warned = p.warning();
        let now = p.pairs();
        assert_eq!(Some(p.prevent()), warned);
        assert!(
            p.fails_at() > now && p.fails_at() != old,
            "{} {old}",
            p.fails_at()
        );
    }

    #[test]
    fn no_incidents_means_no_failure() {
        let mut spec = spec();
        spec.incidents_per_year_at_reference = 0.0;
        let mut p = FailureProcess::new(&spec, 1, MachineId(0), 4.0);
        assert_eq!(p.fails_at(), u64::MAX);
        assert!((0..100_000).all(|_| !p.edge_pair()));
    }

    #[test]
    fn causes_are_picked_by_their_share_intervals() {
        let causes = spec().causes;
        assert_eq!(pick_cause(&causes, 0.0), Cause::ToolsWear);
        assert_eq!(pick_cause(&causes, 0.349), Cause::ToolsWear);
        assert_eq!(pick_cause(&causes, 0.351), Cause::Clamping);
        assert_eq!(pick_cause(&causes, 0.95), Cause::SpindleMotor);
        assert_eq!(pick_cause(&causes, 1.0), Cause::SpindleMotor);
    }
}
