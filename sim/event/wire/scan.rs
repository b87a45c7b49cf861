//! The fastest path: a hand-written scanner for CloudEvents batches as fleetsim and plain
//! gateways write them — known attributes in any order, any JSON whitespace, strings without
//! escapes, data with only the fields of fleetsim's types. It reads the bytes once, borrows
//! every string and allocates nothing but the result.
//!
//! It takes a strict subset of JSON and declines (`None`) everything else — an escape, an
//! extension attribute, a number that is not a plain unsigned integer, a repeated key — for
//! the serde visitor (`decode`), which handles all of JSON, to decide. What it accepts, it
//! reads exactly as serde_json would (the property tests check it against the reference).

use super::decode::Data;
use super::{identity, Attributes, Health, UsageEvent};
use crate::service::Cause;

/// A batch (a JSON array of events) from a body already checked to be UTF-8.
pub fn scan_batch(text: &str, capacity: usize) -> Option<Vec<UsageEvent>> {
    let mut s = Scanner::new(text);
    s.expect(b'[')?;
    let mut events = Vec::with_capacity(capacity);
    if !s.next_is(b']') {
        loop {
            events.push(s.event()?);
            if s.next_is(b']') {
                break;
            }
            s.expect(b',')?;
        }
    }
    s.at_end().then_some(events)
}

/// One event (a JSON object) from a body already checked to be UTF-8.
pub fn scan_event(text: &str) -> Option<UsageEvent> {
    let mut s = Scanner::new(text);
    let event = s.event()?;
    s.at_end().then_some(event)
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

/// The string attributes, in the order `event` destructures them.
const ATTRIBUTE_NAMES: [&str; 6] = ["specversion", "id", "source", "type", "time", "subject"];

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            text,
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    /// Nothing but whitespace is left.
    fn at_end(&mut self) -> bool {
        self.skip_whitespace();
        self.at == self.bytes.len()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// Skips whitespace; consumes `byte` if it comes next.
    fn next_is(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.next_is(byte).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let found = self.bytes[self.at..].starts_with(word);
        self.at += if found { word.len() } else { 0 };
        found
    }

    /// A string without escapes or control characters (which JSON forbids raw), borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let len = plain_run(&self.bytes[start..]);
        if self.bytes.get(start + len) != Some(&b'"') {
            return None;
        }
        self.at = start + len + 1;
        // Both ends are next to an ASCII quote, so on character boundaries.
        self.text.get(start..start + len)
    }

    /// The next member's key, then its colon.
    fn key(&mut self) -> Option<&'a str> {
        let key = self.string()?;
        self.expect(b':')?;
        Some(key)
    }

    fn boolean(&mut self) -> Option<bool> {
        self.skip_whitespace();
        if self.literal(b"true") {
            Some(true)
        } else if self.literal(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// A plain unsigned integer that fits in u64 (no sign, fraction, exponent or leading zero).
    fn unsigned(&mut self) -> Option<u64> {
        self.skip_whitespace();
        let digits = self.bytes[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = &self.bytes[self.at..self.at + digits];
        if digits == 0 || (digits > 1 && text[0] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.bytes.get(self.at + digits) {
            return None;
        }
        self.at += digits;
        text.iter().try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    }

    /// Members of an object until its closing brace, each handed to `member` with its key.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        if self.next_is(b'}') {
            return Some(());
        }
        loop {
            let key = self.key()?;
            member(self, key)?;
            if self.next_is(b'}') {
                return Some(());
            }
            self.expect(b',')?;
        }
    }

    fn event(&mut self) -> Option<UsageEvent> {
        let mut attributes: [Option<&'a str>; 6] = [None; 6];
        let mut content_type_seen = false;
        let mut data = None;
        self.members(|s, key| {
            if let Some(slot) = ATTRIBUTE_NAMES.iter().position(|name| *name == key) {
                return fill_once(&mut attributes[slot], s.string()?);
            }
            match key {
                "datacontenttype" if !content_type_seen => {
                    content_type_seen = true;
                    s.skip_whitespace();
                    if !s.literal(b"null") {
                        s.string()?;
                    }
                    Some(())
                }
                "data" => fill_once(&mut data, s.data()?),
                _ => None,
            }
        })?;
        let [specversion, id, source, kind, time, subject] = attributes;
        let identity = identity(&Attributes {
            specversion: specversion?,
            id: id?,
            source: source?,
            time: time?,
            subject: subject?,
        })
        .ok()?;
        let body = data?.body_of(kind?)?;
        Some(identity.with_body(body))
    }

    fn data(&mut self) -> Option<Data> {
        let mut d = Data::default();
        self.members(|s, key| match key {
            "frame" => fill_once(&mut d.frame, named(s.string()?)?),
            "material" => fill_once(&mut d.material, named(s.string()?)?),
            "remake" => fill_once(&mut d.remake, s.boolean()?),
            "billable" => fill_once(&mut d.billable, s.boolean()?),
            "total_cycles" => fill_once(&mut d.total_cycles, s.unsigned()?),
            "mountings" => fill_once(&mut d.mountings, s.unsigned()?),
            "trace_only" => fill_once(&mut d.trace_only, s.unsigned()?),
            "removal" => fill_once(&mut d.removal, s.boolean()?),
            "health" => fill_once(&mut d.health, s.health()?),
            _ => None,
        })?;
        Some(d)
    }

    /// A counter reading's `health` with only its two known keys (any other declines).
    fn health(&mut self) -> Option<Health> {
        let mut wear = None;
        let mut warning = None;
        self.members(|s, key| match key {
            "wheel_wear_permille" => {
                let w = s.unsigned().filter(|&w| w <= u64::from(Health::WORN_OUT))?;
                fill_once(&mut wear, w as u16)
            }
            "warning" => fill_once(&mut warning, Cause::parse(s.string()?)?),
            _ => None,
        })?;
        Some(Health {
            wheel_wear_permille: wear?,
            warning,
        })
    }
}

/// The length of the run of bytes that can stand in a JSON string as they are: up to the
/// first quote, backslash or control character. Eight bytes at a time (SWAR): the strings
/// are most of a body, and a byte-by-byte loop made this scanner no faster than serde_json.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    /// High bit set in the lowest byte of `x` below `n` (n ≤ 0x80); bytes above the first
    /// one found may be flagged falsely, which `trailing_zeros` ignores.
    fn below(x: u64, n: u8) -> u64 {
        x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS
    }
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let stops = below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1)
            | below(x, 0x20);
        if stops != 0 {
            return at + (stops.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(bytes.len() - at)
}

/// Fills an empty slot; a repeated key declines.
fn fill_once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.replace(value).is_none().then_some(())
}

/// A variant by its wire name, through its serde derive: the names are spelled once.
fn named<'de, T: serde::Deserialize<'de>>(name: &'de str) -> Option<T> {
    use serde::de::value::{BorrowedStrDeserializer, Error};
    T::deserialize(BorrowedStrDeserializer::<Error>::new(name)).ok()
}

#[cfg(test)]
mod tests {
    use super::plain_run;
    use proptest::prelude::*;

    fn plain_run_bytewise(bytes: &[u8]) -> usize {
        let stop = |b: &u8| *b == b'"' || *b == b'\\' || *b < 0x20;
        bytes.iter().position(stop).unwrap_or(bytes.len())
    }

    proptest! {
        #[test]
        fn plain_runs_end_where_a_bytewise_scan_ends(
            bytes in prop::collection::vec(
                prop_oneof![0x20u8..0x7f, Just(b'"'), Just(b'\\'), 0u8..0x20, 0x80u8..=0xff],
                0..40,
            )
        ) {
            prop_assert_eq!(plain_run(&bytes), plain_run_bytewise(&bytes));
        }
    }

    #[test]
    fn every_byte_value_stops_or_not_as_json_says() {
        for b in 0..=255u8 {
            for at in 0..17 {
                let mut bytes = vec![b'a'; 17];
                bytes[at] = b;
                assert_eq!(
                    plain_run(&bytes),
                    plain_run_bytewise(&bytes),
                    "{b:#x} at {at}"
                );
            }
        }
    }
}
