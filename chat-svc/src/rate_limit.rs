//! How fast each user may send messages.

use std::{collections::HashMap, sync::Mutex, time::Instant};

use crate::domain::UserId;
use parley_common::lock::lock;

/// A per-user token bucket: `per_minute` sends a minute, in bursts of at most as many.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<UserId, (f64, Instant)>>,
}

/// Users tracked at once; full buckets are dropped past it.
const TRACKED_USERS: usize = 100_000;

impl RateLimiter {
    /// `per_minute` 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one send from `user`'s allowance, or says in how many ms one is available.
    pub fn check(&self, user: UserId) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_ms = capacity / 60_000.0;
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        if buckets.len() >= TRACKED_USERS {
            buckets.retain(|_, (tokens, at)| {
                *tokens + at.elapsed().as_millis() as f64 * per_ms < capacity
            });
        }
        let (tokens, at) = buckets.entry(user).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_millis() as f64 * per_ms).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / per_ms).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn the_limit_refuses_the_sixty_first_send_of_a_minute_with_a_wait() {
        let limiter = RateLimiter::new(60);
        let user = UserId(Uuid::new_v4());
        for _ in 0..60 {
            assert!(limiter.check(user).is_ok());
        }
        let wait = limiter.check(user).expect_err("limited");
        assert!((1..=1000).contains(&wait), "{wait}");
        assert!(limiter.check(UserId(Uuid::new_v4())).is_ok(), "per user");
        assert!(RateLimiter::new(0).check(user).is_ok(), "0 disables");
    }
}
