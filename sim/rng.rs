//! Named, portable random streams: one stream per entity and purpose.
//!
//! ChaCha8 is specified (its output never changes across `rand` versions, unlike `StdRng`),
//! and its 64-bit stream parameter gives every entity an independent sequence from one seed.
//! Nothing in the simulation may draw randomness from anywhere else.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a stream is for. The tag is part of the stream id, so adding a purpose never shifts
/// the numbers another purpose draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Purpose {
    /// A shop's static profile (segment, volume, closures, prices).
    ShopProfile = 1,
    /// A shop's daily demand.
    ShopDemand = 2,
    /// A machine's own behaviour (timing of jobs through the day).
    Machine = 3,
    /// The transport between machines and the metering engine (fault injection).
    Transport = 4,
    /// A machine's counter values on the first day (an installed fleet).
    CounterStart = 5,
    /// When a machine's control board is replaced (its counters restart at 0).
    BoardSwap = 6,
    /// Which of a machine's daily readings never reach the head-end.
    LostRead = 7,
    /// When a machine is offline, and for how long.
    Outage = 8,
    /// When a shop's plan contract starts (a staggered rollout) and whether it ends early.
    Contract = 9,
    /// A machine's failures: when the next comes, its cause, what its repair needs.
    Failure = 10,
    /// A machine's grinding wheels: each set's life.
    Wear = 11,
    /// Which region a shop is in, and its distance from the region's technicians.
    Region = 12,
    /// A region's service organisation: travel per visit, remote sessions.
    Dispatch = 13,
    /// The service desk's predictive maintenance: whether it acts on a machine's warning.
    Predictive = 14,
}

/// The generator for `purpose` of entity `index` under the scenario `seed`.
pub fn stream(seed: u64, purpose: Purpose, index: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((purpose as u64) << 32) | u64::from(index));
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a1 = stream(7, Purpose::ShopDemand, 3).next_u64();
        let a2 = stream(7, Purpose::ShopDemand, 3).next_u64();
        let b = stream(7, Purpose::ShopDemand, 4).next_u64();
        let c = stream(7, Purpose::Machine, 3).next_u64();
        let d = stream(8, Purpose::ShopDemand, 3).next_u64();
        assert_eq!(a1, a2);
        assert!(a1 != b && a1 != c && a1 != d);
    }

    /// Pins the generator's output: if this changes, every scenario's numbers change.
    #[test]
    fn stream_output_is_pinned() {
        let mut rng = stream(42, Purpose::ShopProfile, 0);
        let first = rng.next_u64();
        let again = stream(42, Purpose::ShopProfile, 0).next_u64();
        assert_eq!(first, again);
        assert_eq!(first, PINNED_FIRST_U64);
    }

    const PINNED_FIRST_U64: u64 = 10_517_904_778_964_690_192;
}
