//! How fast a caller may act: a keyed GCRA limiter (governor), a number of actions per key
//! (a user, a client address) per minute in bursts of as many, whose memory stays bounded.
//! The edge's per-IP and per-event-class limits, chat-svc's and media-svc's per-user limits
//! and media-svc's per-IP data-plane limit are all one of these.
//!
//! The limits are per process: with several replicas a caller gets each limit per replica
//! their calls reach (decision 0005).

use std::{
    hash::Hash,
    num::NonZeroU32,
    sync::{Arc, Weak},
    time::Duration,
};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};

/// How often keys that are back to a full allowance are forgotten, so that a limiter holds
/// only the keys of the last minute or so.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// `per_minute` actions per key per minute, in bursts of as many; 0 turns it off.
pub struct RateLimit<K: Hash + Eq + Clone> {
    limiter: Option<Arc<DefaultKeyedRateLimiter<K>>>,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> RateLimit<K> {
    /// A limit of `per_minute` (0: none). Spawns the task that keeps its memory bounded, so
    /// it is made inside the runtime; the task ends with the limit.
    pub fn per_minute(per_minute: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute)
            .map(|rate| Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate))));
        if let Some(limiter) = &limiter {
            forget_idle_keys(limiter);
        }
        Self { limiter }
    }

    /// Takes one action from `key`'s allowance, or says in how many ms one is available.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.check_n(key, 1)
    }

    /// Takes `n` actions at once (e.g. members added by one call), or says in how many ms
    /// they are available; `n` 0 always passes. More than the whole burst is never
    /// available: the wait is then a full minute, after which a smaller call passes.
    pub fn check_n(&self, key: &K, n: u32) -> Result<(), u64> {
        let (Some(limiter), Some(n)) = (&self.limiter, NonZeroU32::new(n)) else {
            return Ok(());
        };
        match limiter.check_key_n(key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                Err(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1))
            }
            Err(governor::InsufficientCapacity(_)) => Err(60_000),
        }
    }
}

/// Keeps a keyed limiter's memory to the keys seen lately, until the limiter is dropped (for
/// limiters built elsewhere too, such as tower_governor's).
pub fn forget_idle_keys<K: Hash + Eq + Clone + Send + Sync + 'static>(
    limiter: &Arc<DefaultKeyedRateLimiter<K>>,
) {
    tokio::spawn(forget_idle(Arc::downgrade(limiter)));
}

async fn forget_idle<K: Hash + Eq + Clone>(limiter: Weak<DefaultKeyedRateLimiter<K>>) {
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

/// An HTTP layer of `per_minute` requests per key (a client address, by `key`), in bursts of
/// as many, whose memory stays bounded; `None` when `per_minute` is 0 (no limit). Past it,
/// 429 with `Retry-After`.
pub fn per_minute_layer<K>(
    per_minute: u32,
    key: K,
) -> Option<
    tower_governor::GovernorLayer<
        K,
        governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
        axum::body::Body,
    >,
>
where
    K: tower_governor::key_extractor::KeyExtractor,
    K::Key: Send + Sync + 'static,
{
    let burst = NonZeroU32::new(per_minute)?;
    let config = tower_governor::governor::GovernorConfigBuilder::default()
        .key_extractor(key)
        .period(Duration::from_secs(60) / burst.get())
        .burst_size(burst.get())
        .finish()?;
    // Weakly held, so the task ends with the layer (a strong one kept every test server's).
    forget_idle_keys(config.limiter());
    Some(tower_governor::GovernorLayer::new(config))
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[tokio::test]
    async fn the_limit_refuses_the_sixty_first_send_of_a_minute_with_a_wait() {
        let limit = RateLimit::per_minute(60);
        let user = Uuid::new_v4();
        for _ in 0..60 {
            assert!(limit.check(&user).is_ok());
        }
        let wait = limit.check(&user).expect_err("limited");
        assert!((1..=1000).contains(&wait), "{wait}");
        assert!(limit.check(&Uuid::new_v4()).is_ok(), "per user");
        assert!(RateLimit::per_minute(0).check(&user).is_ok(), "0 disables");
    }

    #[tokio::test]
    async fn a_call_takes_as_many_as_it_adds_and_never_more_than_the_burst() {
        let limit = RateLimit::per_minute(10);
        let user = Uuid::new_v4();
        assert!(limit.check_n(&user, 0).is_ok(), "nothing to take");
        assert!(limit.check_n(&user, 8).is_ok());
        let wait = limit.check_n(&user, 3).expect_err("only 2 left");
        assert!(
            (1..=6000).contains(&wait),
            "one more in 6 s at most: {wait}"
        );
        assert!(limit.check_n(&user, 2).is_ok(), "a refusal takes nothing");
        assert_eq!(limit.check_n(&Uuid::new_v4(), 11), Err(60_000));
    }
}
