//! How fast each user may act: one keyed GCRA limiter (governor) per kind of action, each a
//! number of actions per user per minute in bursts of as many.
//!
//! The limits are per process: with several replicas a user gets each limit per replica
//! their calls reach (decision 0005).

use std::{
    num::NonZeroU32,
    sync::{Arc, Weak},
    time::Duration,
};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};

use crate::domain::UserId;

/// How often users who are back to a full allowance are forgotten, so that the limiter holds
/// only the users of the last minute or so.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// `per_minute` actions per user per minute, in bursts of as many; 0 turns it off.
pub struct PerUserLimit {
    limiter: Option<Arc<DefaultKeyedRateLimiter<UserId>>>,
}

impl PerUserLimit {
    /// A limit of `per_minute` (0: none). Spawns the task that keeps its memory bounded, so
    /// it is made inside the runtime; the task ends with the limit.
    pub fn per_minute(per_minute: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute)
            .map(|rate| Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate))));
        if let Some(limiter) = &limiter {
            tokio::spawn(forget_idle(Arc::downgrade(limiter)));
        }
        Self { limiter }
    }

    /// Takes one action from `user`'s allowance, or says in how many ms one is available.
    pub fn check(&self, user: UserId) -> Result<(), u64> {
        self.check_n(user, 1)
    }

    /// Takes `n` actions at once (e.g. members added by one call), or says in how many ms
    /// they are available; `n` 0 always passes. More than the whole burst is never
    /// available: the wait is then a full minute, after which a smaller call passes.
    pub fn check_n(&self, user: UserId, n: u32) -> Result<(), u64> {
        let (Some(limiter), Some(n)) = (&self.limiter, NonZeroU32::new(n)) else {
            return Ok(());
        };
        match limiter.check_key_n(&user, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                Err(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1))
            }
            Err(governor::InsufficientCapacity(_)) => Err(60_000),
        }
    }
}

/// Keeps the limiter's memory to the users seen lately; ends with the limiter.
async fn forget_idle(limiter: Weak<DefaultKeyedRateLimiter<UserId>>) {
    let mut tick = tokio::time::interval(FORGET_EVERY);
    loop {
        tick.tick().await;
        let Some(limiter) = limiter.upgrade() else {
            return;
        };
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[tokio::test]
    async fn the_limit_refuses_the_sixty_first_send_of_a_minute_with_a_wait() {
        let limit = PerUserLimit::per_minute(60);
        let user = UserId(Uuid::new_v4());
        for _ in 0..60 {
            assert!(limit.check(user).is_ok());
        }
        let wait = limit.check(user).expect_err("limited");
        assert!((1..=1000).contains(&wait), "{wait}");
        assert!(limit.check(UserId(Uuid::new_v4())).is_ok(), "per user");
        assert!(
            PerUserLimit::per_minute(0).check(user).is_ok(),
            "0 disables"
        );
    }

    #[tokio::test]
    async fn a_call_takes_as_many_as_it_adds_and_never_more_than_the_burst() {
        let limit = PerUserLimit::per_minute(10);
        let user = UserId(Uuid::new_v4());
        assert!(limit.check_n(user, 0).is_ok(), "nothing to take");
        assert!(limit.check_n(user, 8).is_ok());
        let wait = limit.check_n(user, 3).expect_err("only 2 left");
        assert!(
            (1..=6000).contains(&wait),
            "one more in 6 s at most: {wait}"
        );
        assert!(limit.check_n(user, 2).is_ok(), "a refusal takes nothing");
        assert_eq!(limit.check_n(UserId(Uuid::new_v4()), 11), Err(60_000));
    }
}
