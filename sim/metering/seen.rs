//! Which sequence numbers a machine has already delivered: a set of disjoint, non-adjacent
//! inclusive ranges. Machines number their events 1, 2, 3, … so an in-order stream is one
//! range that grows at its end (the fast path); gaps (lost or late events) add ranges that
//! merge again when the missing numbers arrive. Memory is proportional to the gaps, not to
//! the events, and the set is exact for the whole life of the store.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeenSet {
    /// Sorted by start; `ranges[i].1 + 1 < ranges[i + 1].0`.
    ranges: Vec<(u64, u64)>,
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
        SeenSet { ranges: merged }
    }

    /// Adds `seq`; returns false if it was already there (a duplicate).
    pub fn insert(&mut self, seq: u64) -> bool {
        if let Some(last) = self.ranges.last_mut() {
            if seq == last.1.wrapping_add(1) && last.1 != u64::MAX {
                last.1 = seq;
                return true;
            }
            if seq > last.1 {
                self.ranges.push((seq, seq));
                return true;
            }
        } else {
            self.ranges.push((seq, seq));
            return true;
        }
        self.insert_slow(seq)
    }

    pub fn contains(&self, seq: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < seq);
        self.ranges.get(i).is_some_and(|r| r.0 <= seq)
    }

    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|(lo, hi)| hi - lo + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    fn insert_slow(&mut self, seq: u64) -> bool {
        // First range whose end is ≥ seq − 1: the only one seq can join or fall into.
        let i = self.ranges.partition_point(|r| r.1.saturating_add(1) < seq);
        match self.ranges.get(i).copied() {
            Some((lo, hi)) if lo <= seq && seq <= hi => false,
            Some((lo, _)) if seq.checked_add(1) == Some(lo) => {
                self.ranges[i].0 = seq;
                self.merge_left(i);
                true
            }
            Some((_, hi)) if hi.checked_add(1) == Some(seq) => {
                self.ranges[i].1 = seq;
                self.merge_right(i);
                true
            }
            _ => {
                self.ranges.insert(i, (seq, seq));
                true
            }
        }
    }

    fn merge_left(&mut self, i: usize) {
        if i > 0 && self.ranges[i - 1].1 + 1 >= self.ranges[i].0 {
            self.ranges[i - 1].1 = self.ranges[i].1;
            self.ranges.remove(i);
        }
    }

    fn merge_right(&mut self, i: usize) {
        if i + 1 < self.ranges.len() && self.ranges[i].1 + 1 >= self.ranges[i + 1].0 {
            self.ranges[i].1 = self.ranges[i + 1].1;
            self.ranges.remove(i + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn in_order_stream_is_one_range() {
        let mut s = SeenSet::default();
        for seq in 1..=1000 {
            assert!(s.insert(seq));
        }
        assert!(!s.insert(500));
        assert_eq!(s.ranges(), &[(1, 1000)]);
    }

    #[test]
    fn gaps_close_when_late_events_arrive() {
        let mut s = SeenSet::default();
        for seq in [1, 2, 3, 7, 8, 5] {
            assert!(s.insert(seq));
        }
        assert_eq!(s.ranges(), &[(1, 3), (5, 5), (7, 8)]);
        assert!(s.insert(4));
        assert!(s.insert(6));
        assert_eq!(s.ranges(), &[(1, 8)]);
        assert!(!s.insert(6));
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(seqs in proptest::collection::vec(0u64..200, 0..400)) {
            let mut s = SeenSet::default();
            let mut model = BTreeSet::new();
            for seq in seqs {
                prop_assert_eq!(s.insert(seq), model.insert(seq));
                prop_assert!(s.contains(seq));
            }
            prop_assert_eq!(s.len(), model.len() as u64);
            for w in s.ranges().windows(2) {
                prop_assert!(w[0].1 + 1 < w[1].0, "ranges stay disjoint and non-adjacent");
            }
            let reloaded = SeenSet::from_ranges(s.ranges().to_vec());
            prop_assert_eq!(&reloaded, &s);
        }
    }
}
