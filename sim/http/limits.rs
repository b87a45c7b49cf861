//! Per-key rate limits: token buckets, one per API key, for requests and for events.
//!
//! A bucket holds up to one second's worth of tokens and refills continuously. A request
//! takes one request token; a batch of n events takes n event tokens. A batch larger than the
//! bucket could never pass if it had to wait for n tokens, so a batch passes when the bucket
//! holds min(n, capacity) and may leave it in debt: over any stretch of time a key sends at
//! most `rate × seconds + one batch`. Token counts are floats: they are not money, and a
//! fraction of a token is harmless.

use super::access::KeyId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub struct TokenBuckets {
    /// Tokens per second; 0 means no limit.
    rate: u32,
    buckets: Mutex<HashMap<KeyId, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl TokenBuckets {
    pub fn new(rate: u32) -> TokenBuckets {
        TokenBuckets {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `n` tokens from `key`'s bucket now, or says how many whole seconds to wait.
    pub fn take(&self, key: KeyId, n: u64) -> Result<(), u64> {
        self.take_at(key, n, Instant::now())
    }

    fn take_at(&self, key: KeyId, n: u64, now: Instant) -> Result<(), u64> {
        if self.rate == 0 || n == 0 {
            return Ok(());
        }
        let rate = f64::from(self.rate);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.at = now.max(bucket.at);
        let needed = (n as f64).min(rate);
        if bucket.tokens >= needed {
            bucket.tokens -= n as f64;
            return Ok(());
        }
        Err(((needed - bucket.tokens) / rate).ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_of_one_second_passes_then_the_rate_holds() {
        let b = TokenBuckets::new(10);
        let t0 = Instant::now();
        let key = KeyId(1);
        for _ in 0..10 {
            assert_eq!(b.take_at(key, 1, t0), Ok(()));
        }
        assert_eq!(b.take_at(key, 1, t0), Err(1));
        assert_eq!(b.take_at(KeyId(2), 1, t0), Ok(()), "buckets are per key");
        let later = t0 + Duration::from_millis(250);
        assert_eq!(b.take_at(key, 2, later), Ok(()), "2.5 tokens refilled");
        assert_eq!(b.take_at(key, 1, later), Err(1));
    }

    #[test]
    fn a_batch_larger_than_the_bucket_passes_once_and_leaves_a_debt() {
        let b = TokenBuckets::new(100);
        let t0 = Instant::now();
        let key = KeyId(7);
        assert_eq!(b.take_at(key, 250, t0), Ok(()), "the bucket was full");
        // 150 tokens of debt: 100 needed again, so 2.5 s before the next batch.
        assert_eq!(b.take_at(key, 250, t0 + Duration::from_secs(2)), Err(1));
        assert_eq!(
            b.take_at(key, 250, t0 + Duration::from_millis(2_500)),
            Ok(())
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let b = TokenBuckets::new(0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(b.take_at(KeyId(1), 1_000_000, t0), Ok(()));
        }
    }
}
