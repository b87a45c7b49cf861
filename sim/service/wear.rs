//! Grinding-wheel wear: what each pair edged consumes, when a wheel set is worn out, and the
//! share of the set's life used (the machine's health telemetry). Pure: the only randomness is
//! each set's life, drawn from the machine's `Purpose::Wear` stream when the set is fitted.

use super::spec::WearSpec;
use crate::event::{Frame, MachineId, Material};
use crate::rng::{self, Purpose};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Lens-equivalents one pair consumes: 2 lenses × (the material's wear + the frame's extra
/// for grooving, drilling and polishing).
pub fn wear_per_pair(spec: &WearSpec, frame: Frame, material: Material) -> f64 {
    2.0 * (spec.by_material[material as usize] + spec.extra_by_frame[frame as usize])
}

/// What edging one pair did to the tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edged {
    /// This pair wore the set out: it was replaced after the pair (one wheel set consumed).
    pub wheels_replaced: bool,
    /// Grooving and drilling tools and bits used by this pair.
    pub tool_cents: i64,
}

/// A machine's current wheel set.
#[derive(Clone, Debug)]
pub struct Wheels {
    /// Lens-equivalents per pair, by `[frame][material]` (computed once).
    wear: [[f64; 5]; 3],
    tool_cents_by_frame: [i64; 3],
    life_range: (f64, f64),
    /// Lens-equivalents used on the current set, and the set's life.
    used: f64,
    life: f64,
    rng: ChaCha8Rng,
}

impl Wheels {
    /// A new machine with a new set, its life drawn from the machine's wear stream.
    pub fn new(spec: &WearSpec, seed: u64, machine: MachineId) -> Wheels {
        let wear = Frame::ALL.map(|f| Material::ALL.map(|m| wear_per_pair(spec, f, m)));
        let mut wheels = Wheels {
            wear,
            tool_cents_by_frame: spec.tool_cents_by_frame,
            life_range: spec.wheel_life,
            used: 0.0,
            life: 0.0,
            rng: rng::stream(seed, Purpose::Wear, machine.0),
        };
        wheels.fit_new_set();
        wheels
    }

    /// Edges one pair. The pair that reaches the set's life wears it out; the next pair is
    /// edged on a new set (its life drawn now).
    pub fn edge(&mut self, frame: Frame, material: Material) -> Edged {
        self.used += self.wear[frame as usize][material as usize];
        let worn_out = self.used >= self.life;
        if worn_out {
            self.fit_new_set();
        }
        Edged {
            wheels_replaced: worn_out,
            tool_cents: self.tool_cents_by_frame[frame as usize],
        }
    }

    /// Share of the current set's life used, in ‰ (0..=1000): the health telemetry.
    pub fn wear_permille(&self) -> u16 {
        let share = if self.life > 0.0 {
            self.used / self.life
        } else {
            1.0
        };
        (share * 1000.0).clamp(0.0, 1000.0) as u16
    }

    /// Predictive maintenance changes the wheels before they are worn out.
    pub fn replace(&mut self) {
        self.fit_new_set();
    }

    fn fit_new_set(&mut self) {
        let (lo, hi) = self.life_range;
        self.used = 0.0;
        self.life = self.rng.random_range(lo..=hi);
    }
}

/// Consumables of a shop (or a machine) from its counts: wheel sets, tools per pair by frame,
/// sundries per mounting. Counts are bounded by the scenario (at most 360 pairs a machine-day
/// over 120 months), so the products stay far inside 64 bits.
pub fn consumables_cents(
    spec: &WearSpec,
    wheel_sets: u64,
    pairs_by_frame: [u64; 3],
    mountings: u64,
) -> i64 {
    let tools: i64 = pairs_by_frame
        .iter()
        .zip(spec.tool_cents_by_frame)
        .map(|(pairs, cents)| *pairs as i64 * cents)
        .sum();
    wheel_sets as i64 * spec.wheel_cents
        + tools
        + mountings as i64 * spec.sundries_cents_per_mounting
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceSpec;

    fn spec() -> WearSpec {
        ServiceSpec::default().wear
    }

    /// Materials in order of wheel wear, most first, for a pair of every frame.
    fn by_wear(spec: &WearSpec, frame: Frame) -> Vec<Material> {
        let mut materials = vec![
            Material::Index150,
            Material::Index160,
            Material::Polycarbonate,
            Material::Mineral,
        ];
        materials.sort_by(|a, b| {
            wear_per_pair(spec, frame, *b).total_cmp(&wear_per_pair(spec, frame, *a))
        });
        materials
    }

    #[test]
    fn mineral_wears_more_than_polycarbonate_more_than_160_more_than_150() {
        let expected = [
            Material::Mineral,
            Material::Polycarbonate,
            Material::Index160,
            Material::Index150,
        ];
        for frame in Frame::ALL {
            assert_eq!(by_wear(&spec(), frame), expected, "{frame:?}");
        }
        // Two lenses of mineral in a drilled frame: 2 × (4.0 + 0.6).
        let drilled = wear_per_pair(&spec(), Frame::Drilled, Material::Mineral);
        assert!((drilled - 9.2).abs() < 1e-12, "{drilled}");
    }

    #[test]
    fn a_permuted_wear_table_breaks_the_ordering() {
        let mut permuted = spec();
        permuted.by_material.swap(3, 4); // polycarbonate ↔ mineral
        assert_ne!(
            by_wear(&permuted, Frame::FullRim)[..2],
            [Material::Mineral, Material::Polycarbonate]
        );
    }

    #[test]
    fn a_set_lasts_its_drawn_life_and_the_next_is_drawn_when_fitted() {
        let spec = spec();
        let mut wheels = Wheels::new(&spec, 7, MachineId(3));
        let life = wheels.life;
        assert!((8_000.0..=15_000.0).contains(&life), "{life}");
        // 1.5 index, full rim: 2 lens-equivalents a pair.
        let pairs_per_set = (life / 2.0).ceil() as u64;
        for pair in 1..pairs_per_set {
            let e = wheels.edge(Frame::FullRim, Material::Index150);
            assert!(!e.wheels_replaced, "pair {pair} of {pairs_per_set}");
        }
        assert!(wheels.wear_permille() >= 999, "{}", wheels.wear_permille());
        let last = wheels.edge(Frame::FullRim, Material::Index150);
        assert!(last.wheels_replaced);
        assert_eq!(wheels.wear_permille(), 0);
        assert_ne!(wheels.life, life, "a new set has its own life");
    }

    #[test]
    fn wear_is_the_used_share_in_permille() {
        let mut spec = spec();
        spec.extra_by_frame[Frame::Grooved as usize] = 0.5;
        let mut wheels = Wheels::new(&spec, 1, MachineId(0));
        wheels.life = 10_000.0;
        for _ in 0..250 {
            wheels.edge(Frame::Grooved, Material::Mineral); // 2 × (4.0 + 0.5) = 9 each
        }
        assert_eq!(wheels.wear_permille(), 225);
    }

    #[test]
    fn wheel_lives_come_from_the_machines_own_stream() {
        let a = Wheels::new(&spec(), 7, MachineId(3)).life;
        assert_eq!(a, Wheels::new(&spec(), 7, MachineId(3)).life);
        assert_ne!(a, Wheels::new(&spec(), 7, MachineId(4)).life);
        assert_ne!(a, Wheels::new(&spec(), 8, MachineId(3)).life);
    }

    #[test]
    fn tools_are_charged_by_frame() {
        let mut wheels = Wheels::new(&spec(), 1, MachineId(0));
        let cents = Frame::ALL.map(|f| wheels.edge(f, Material::Index150).tool_cents);
        assert_eq!(cents, [0, 10, 30]);
    }

    #[test]
    fn consumables_add_wheels_tools_and_sundries() {
        // 2 sets × 1,200.00 + 100 grooved × 0.10 + 10 drilled × 0.30 + 1,000 × 0.15.
        let cents = consumables_cents(&spec(), 2, [890, 100, 10], 1_000);
        assert_eq!(cents, 240_000 + 1_000 + 300 + 15_000);
    }
}
