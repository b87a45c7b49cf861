//! Which sequence numbers a machine has already delivered: a set of disjoint, non-adjacent
//! inclusive ranges. Machines number their events 1, 2, 3, … so an in-order stream is one
//! range that grows at its end (the fast path); gaps (lost or late events) add ranges that
//! merge again when the missing numbers arrive. Memory is proportional to the gaps, not to
//! the events, and the set is exact for the whole life of the store.
//!
//! The highest range is kept apart (`top`), so the fast path touches no tree; the others are
//! in a B-tree, so an event that arrives out of order costs O(log ranges) whatever the order
//! (descending, interleaved streams), never a shift of every range after it.

use std::collections::BTreeSet;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeenSet {
    /// Every range below `top`, ordered by start; disjoint and non-adjacent.
    below: BTreeSet<(u64, u64)>,
    /// The highest range; `None` only when the set is empty.
    top: Option<(u64, u64)>,
}

impl SeenSet {
    /// Rebuilds a set from stored ranges (any order; overlapping or adjacent ones merge).
    pub fn from_ranges(mut ranges: Vec<(u64, u64)>) -> SeenSet {
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        let top = merged.pop();
        SeenSet {
            below: merged.into_iter().collect(),
            top,
        }
    }

    /// Adds `seq`; returns false if it was already there (a duplicate).
    pub fn insert(&mut self, seq: u64) -> bool {
        let Some(top) = &mut self.top else {
            self.top = Some((seq, seq));
            return true;
        };
        if seq > top.1 {
            // `top.1 < seq`, so `top.1 + 1` cannot overflow.
            if seq == top.1 + 1 {
                top.1 = seq;
            } else {
                let old = std::mem::replace(top, (seq, seq));
                self.below.insert(old);
            }
            return true;
        }
        if seq >= top.0 {
            return false;
        }
        self.insert_below_top(seq)
    }

    pub fn contains(&self, seq: u64) -> bool {
        match self.top {
            Some((lo, hi)) if lo <= seq => seq <= hi,
            Some(_) => self.below_at_or_before(seq).is_some_and(|r| seq <= r.1),
            None => false,
        }
    }

    /// The ranges in increasing order.
    pub fn ranges(&self) -> impl Iterator<Item = &(u64, u64)> + '_ {
        self.below.iter().chain(self.top.iter())
    }

    pub fn len(&self) -> u64 {
        self.ranges().map(|(lo, hi)| hi - lo + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.top.is_none()
    }

    /// The range of `below` that starts at or before `seq`, the last such.
    fn below_at_or_before(&self, seq: u64) -> Option<(u64, u64)> {
        self.below.range(..=(seq, u64::MAX)).next_back().copied()
    }

    /// The slow path, for `seq < top.0`: joins the range that ends just before it, the one
    /// that starts just after it (`top` included), both, or neither.
    fn insert_below_top(&mut self, seq: u64) -> bool {
        // A reversed stream: `top` grows down while nothing below is in reach.
        if let Some(top) = &mut self.top {
            if seq + 1 == top.0 && self.below.last().is_none_or(|r| r.1 + 1 < seq) {
                top.0 = seq;
                return true;
            }
        }
        let before = self.below_at_or_before(seq);
        if before.is_some_and(|r| seq <= r.1) {
            return false;
        }
        let before = before.filter(|r| r.1 + 1 == seq);
        // `seq < top.0`, so `seq + 1` cannot overflow.
        let after = self.below.range((seq + 1, 0)..).next().copied();
        let after_top = after.is_none();
        let after = after.or(self.top).filter(|r| r.0 == seq + 1);
        let lo = before.map_or(seq, |r| r.0);
        let hi = after.map_or(seq, |r| r.1);
        if let Some(r) = before {
            self.below.remove(&r);
        }
        match after {
            Some(_) if after_top => self.top = Some((lo, hi)),
            Some(r) => {
                self.below.remove(&r);
                self.below.insert((lo, hi));
            }
            None => {
                self.below.insert((lo, hi));
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn ranges(s: &SeenSet) -> Vec<(u64, u64)> {
        s.ranges().copied().collect()
    }

    #[test]
    fn in_order_stream_is_one_range() {
        let mut s = SeenSet::default();
        for seq in 1..=1000 {
            assert!(s.insert(seq));
        }
        assert!(!s.insert(500));
        assert_eq!(ranges(&s), [(1, 1000)]);
    }

    #[test]
    fn gaps_close_when_late_events_arrive() {
        let mut s = SeenSet::default();
        for seq in [1, 2, 3, 7, 8, 5] {
            assert!(s.insert(seq));
        }
        assert_eq!(ranges(&s), [(1, 3), (5, 5), (7, 8)]);
        assert!(s.insert(4));
        assert!(s.insert(6));
        assert_eq!(ranges(&s), [(1, 8)]);
        assert!(!s.insert(6));
    }

    #[test]
    fn a_reversed_stream_is_one_range_growing_down() {
        let mut s = SeenSet::default();
        for seq in (1..=1000).rev() {
            assert!(s.insert(seq));
        }
        assert!(!s.insert(1) && !s.insert(1000));
        assert_eq!(ranges(&s), [(1, 1000)]);
    }

    #[test]
    fn the_ends_of_the_number_line_do_not_overflow() {
        let mut s = SeenSet::default();
        for seq in [u64::MAX, 0, u64::MAX - 1, 1, u64::MAX - 3] {
            assert!(s.insert(seq));
        }
        assert!(!s.insert(u64::MAX) && !s.insert(0));
        assert_eq!(
            ranges(&s),
            [
                (0, 1),
                (u64::MAX - 3, u64::MAX - 3),
                (u64::MAX - 1, u64::MAX)
            ]
        );
        assert!(s.insert(u64::MAX - 2));
        assert_eq!(ranges(&s), [(0, 1), (u64::MAX - 3, u64::MAX)]);
        assert!(s.contains(u64::MAX) && s.contains(0) && !s.contains(2));
    }

    /// The set's ranges as a plain set would give them: maximal runs of consecutive numbers.
    fn runs(model: &BTreeSet<u64>) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for &seq in model {
            match runs.last_mut() {
                Some(last) if last.1.checked_add(1) == Some(seq) => last.1 = seq,
                _ => runs.push((seq, seq)),
            }
        }
        runs
    }

    /// Inserts `seqs` into a `SeenSet` and into a `BTreeSet`, checking every answer, then
    /// that the two hold the same numbers as the same ranges, and that the stored ranges
    /// rebuild the same set.
    fn check_against_a_plain_set(seqs: &[u64], probes: &[u64]) -> Result<(), TestCaseError> {
        let mut s = SeenSet::default();
        let mut model = BTreeSet::new();
        for &seq in seqs {
            prop_assert_eq!(s.insert(seq), model.insert(seq), "insert {}", seq);
            prop_assert!(s.contains(seq));
        }
        for &p in probes {
            prop_assert_eq!(s.contains(p), model.contains(&p), "contains {}", p);
        }
        prop_assert_eq!(s.len(), model.len() as u64);
        prop_assert_eq!(s.is_empty(), model.is_empty());
        prop_assert_eq!(ranges(&s), runs(&model));
        let reloaded = SeenSet::from_ranges(ranges(&s));
        prop_assert_eq!(&reloaded, &s);
        Ok(())
    }

    /// Numbers from a small window starting at `base`, so that gaps open and close often.
    fn window(base: u64) -> impl Fn(u64) -> u64 {
        move |k| base + k
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(
            offsets in proptest::collection::vec(0u64..200, 0..400),
            base in prop_oneof![Just(0), Just(1 << 40), Just(u64::MAX - 199)],
        ) {
            let at = window(base);
            let seqs: Vec<u64> = offsets.into_iter().map(&at).collect();
            let probes: Vec<u64> = (0..200).map(&at).collect();
            check_against_a_plain_set(&seqs, &probes)?;
        }

        #[test]
        fn any_arrival_order_of_a_stream_gives_the_same_set(
            order in Just((1u64..=300).collect::<Vec<_>>()).prop_shuffle(),
            resent in proptest::collection::vec(1u64..=300, 0..50),
        ) {
            let seqs: Vec<u64> = order.iter().copied().chain(resent).collect();
            let probes: Vec<u64> = (0..=301).collect();
            check_against_a_plain_set(&seqs, &probes)?;
        }

        #[test]
        fn interleaved_and_reversed_streams_behave_like_a_set(
            streams in 1u64..6,
            reversed in any::<bool>(),
            n in 0u64..300,
        ) {
            // `streams` senders, each sending every `streams`-th number, one after another.
            let mut seqs: Vec<u64> = (0..streams)
                .flat_map(|s| (1..=n).filter(move |k| k % streams == s))
                .collect();
            if reversed {
                seqs.reverse();
            }
            let probes: Vec<u64> = (0..=n + 1).collect();
            check_against_a_plain_set(&seqs, &probes)?;
        }
    }
}
