//! A gRPC client channel over every replica of a service: calls are spread over the replicas
//! that answer (or sent by user, see [`Choice::ByKey`] and [`Choice::ByShard`]), and a replica
//! whose connection fails is left alone for a moment.
//!
//! A URL setting may list replicas separated by commas
//! (`http://10.0.0.1:50053,http://10.0.0.2:50053`). A failed connection fails that one call
//! with `UNAVAILABLE` (its body may be half sent, so it is not retried here: callers retry,
//! clients with the same `clientMsgId`), and the replica is skipped for [`RESTING`] while
//! the others take its calls.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;
use tonic::{
    body::Body,
    transport::{Channel, Error},
};
use tower::{BoxError, Service, ServiceExt};

use crate::{grpc::lazy_channel, service_token::ServiceToken};

/// How long a replica whose connection failed gets no calls.
const RESTING: Duration = Duration::from_secs(2);

/// Which replica takes a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Each call to the next replica in turn: for services whose replicas share all state.
    Spread,
    /// A call carrying [`ROUTE_KEY`] to the replica that key ranks first among those that
    /// answer (rendezvous hashing); others in turn. For a service whose replicas share their
    /// data but keep per-user state in memory (chat-svc's rate limits and typing timers):
    /// one replica sees all of a user's calls, and when a replica goes only its users move.
    ByKey,
    /// A call carrying [`ROUTE_KEY`] (a user id) to the replica that holds the key's shard
    /// ([`shard_of`]), as the replicas last said ([`Replicas::set_shards`]); a shard no
    /// replica has named goes as with [`Choice::ByKey`]. For a service whose replicas each
    /// own a share of the users (presence-svc). An `UNAVAILABLE` answer may mean that the
    /// shard moved: [`Replicas::shards_stale`] wakes whoever asks the replicas again.
    ByShard,
}

/// How many shards the users are divided into, for [`Choice::ByShard`].
pub const SHARDS: u32 = 1024;

/// The shard of a user, from the text of their id: the same in every process and build.
pub fn shard_of(key: &[u8]) -> u32 {
    // The remainder is below SHARDS, so it fits.
    (rank(&[key]) % u64::from(SHARDS)) as u32
}

/// The request header that names whose call it is, for [`Choice::ByKey`] and
/// [`Choice::ByShard`].
pub const ROUTE_KEY: &str = "parley-route-key";

/// `grpc-status` of `UNAVAILABLE`.
const UNAVAILABLE: &str = "14";

/// Clients of one service's replicas; cloning is cheap and clones share the connections.
#[derive(Clone)]
pub struct Replicas {
    inner: Arc<Inner>,
    /// Every call to this replica: a view made by [`Replicas::only`].
    pinned: Option<usize>,
}

struct Inner {
    replicas: Vec<Replica>,
    choice: Choice,
    next: AtomicUsize,
    /// Sent with every call when the services require it.
    token: Option<ServiceToken>,
    /// For [`Choice::ByShard`]: each shard's replica, as its index + 1; 0 while unknown.
    holders: Box<[AtomicUsize]>,
    /// Woken when a [`Choice::ByShard`] call suggests that the holders changed.
    stale: tokio::sync::Notify,
}

struct Replica {
    url: String,
    channel: Channel,
    resting_until: Mutex<Option<Instant>>,
}

impl Replica {
    fn resting(&self, now: Instant) -> bool {
        self.lock().is_some_and(|until| until > now)
    }

    fn rest(&self) {
        *self.lock() = Some(Instant::now() + RESTING);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // A plain value: a poisoned lock still holds a usable one.
        crate::lock::lock(&self.resting_until)
    }
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<&str> = self.urls().collect();
        f.debug_struct("Replicas")
            .field("urls", &urls)
            .field("choice", &self.inner.choice)
            .finish()
    }
}

/// The URLs of a comma-separated list, trimmed, empty entries left out.
pub fn split_urls(urls: &str) -> impl Iterator<Item = &str> {
    urls.split(',').map(str::trim).filter(|url| !url.is_empty())
}

impl Replicas {
    /// Lazy channels to every URL of the comma-separated `urls` (at least one), whose calls
    /// carry `token`.
    pub fn new(urls: &str, choice: Choice, token: Option<ServiceToken>) -> Result<Self, Error> {
        let replicas = split_urls(urls)
            .map(|url| {
                Ok(Replica {
                    url: url.to_owned(),
                    channel: lazy_channel(url)?,
                    resting_until: Mutex::new(None),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        if replicas.is_empty() {
            // The same error a malformed URL gives.
            lazy_channel("")?;
        }
        let shards = if choice == Choice::ByShard { SHARDS } else { 0 };
        Ok(Self {
            inner: Arc::new(Inner {
                replicas,
                choice,
                next: AtomicUsize::new(0),
                token,
                holders: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
                stale: tokio::sync::Notify::new(),
            }),
            pinned: None,
        })
    }

    /// How many replicas there are.
    pub fn len(&self) -> usize {
        self.inner.replicas.len()
    }

    /// Whether there are none (never, once made).
    pub fn is_empty(&self) -> bool {
        self.inner.replicas.is_empty()
    }

    /// The same replicas, but every call goes to the one at `index` (for calls that every
    /// replica must get, such as presence-svc's lease renewals).
    pub fn only(&self, index: usize) -> Self {
        Self {
            inner: self.inner.clone(),
            pinned: Some(index),
        }
    }

    /// The replica at `index` says it holds exactly `shards` now ([`Choice::ByShard`]):
    /// their calls go to it, and shards it no longer names are unknown until another does.
    pub fn set_shards(&self, index: usize, shards: &[u32]) {
        let mine = index + 1;
        let named: std::collections::HashSet<u32> = shards.iter().copied().collect();
        for (shard, holder) in (0u32..).zip(self.inner.holders.iter()) {
            if named.contains(&shard) {
                holder.store(mine, Ordering::Relaxed);
            } else {
                let _ = holder.compare_exchange(mine, 0, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
    }

    /// Resolves when a call suggested that the shards moved ([`Choice::ByShard`]).
    pub async fn shards_stale(&self) {
        self.inner.stale.notified().await;
    }

    /// The index of the replica said to hold `shard`, if one did.
    fn holder(&self, shard: u32) -> Option<usize> {
        let shard = usize::try_from(shard).ok()?;
        let holder = self.inner.holders.get(shard)?.load(Ordering::Relaxed);
        holder.checked_sub(1)
    }

    /// Each replica's URL and channel, for per-replica health checks.
    pub fn each(&self) -> impl Iterator<Item = (&str, &Channel)> {
        self.inner
            .replicas
            .iter()
            .map(|replica| (replica.url.as_str(), &replica.channel))
    }

    fn urls(&self) -> impl Iterator<Item = &str> {
        self.each().map(|(url, _)| url)
    }

    /// The index of the replica for the next call: the chosen one among those not resting,
    /// or, when all rest, the chosen one anyway (better a try than a certain failure).
    fn pick(&self, key: Option<&[u8]>) -> usize {
        if let Some(index) = self.pinned {
            return index;
        }
        let count = self.inner.replicas.len().max(1);
        let now = Instant::now();
        match (self.inner.choice, key) {
            (Choice::ByKey, Some(key)) => return self.ranked_first(key, now),
            (Choice::ByShard, Some(key)) => {
                return self
                    .holder(shard_of(key))
                    .unwrap_or_else(|| self.ranked_first(key, now));
            }
            _ => {}
        }
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed) % count;
        (0..count)
            .map(|offset| (start + offset) % count)
            .find(|&index| {
                self.inner
                    .replicas
                    .get(index)
                    .is_some_and(|replica| !replica.resting(now))
            })
            .unwrap_or(start)
    }
}

impl Replicas {
    /// The replica that ranks highest for `key` among those not resting (all of them when
    /// every one rests): the same on every edge, since it depends on the URLs only.
    fn ranked_first(&self, key: &[u8], now: Instant) -> usize {
        let rank = |replica: &Replica| rank(&[key, b"@", replica.url.as_bytes()]);
        let best = |resting_too: bool| {
            self.inner
                .replicas
                .iter()
                .enumerate()
                .filter(|(_, replica)| resting_too || !replica.resting(now))
                .max_by_key(|(_, replica)| rank(replica))
                .map(|(index, _)| index)
        };
        best(false).or_else(|| best(true)).unwrap_or(0)
    }
}

/// A well-spread hash of `parts` end to end, stable across processes and builds (unlike
/// std's hasher): for rendezvous ranks and shards. FNV-1a alone mixes its last bytes poorly:
/// URLs that differ only in their port got 50%, 25% and 25% of the keys among three replicas;
/// MurmurHash3's finalizer makes every input bit reach every output bit.
pub fn rank(parts: &[&[u8]]) -> u64 {
    let mut hash = fnv1a(parts);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// FNV-1a over `parts` end to end.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|part| part.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl Service<http::Request<Body>> for Replicas {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the chosen channel's, awaited in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        if let Some(token) = &self.inner.token {
            token.attach(&mut request);
        }
        let inner = self.inner.clone();
        let key = request.headers().get(ROUTE_KEY).map(|key| key.as_bytes());
        let index = self.pick(key);
        Box::pin(async move {
            // `new` made at least one replica and `pick` returns one of their indexes: this
            // cannot miss, but an answer is better than a panic.
            let Some(replica) = inner.replicas.get(index) else {
                return Err(tonic::Status::unavailable("no replica").into());
            };
            let answer = replica.channel.clone().oneshot(request).await;
            match &answer {
                Err(error) => {
                    tracing::warn!(replica = %replica.url, %error, "replica unreachable; resting it");
                    replica.rest();
                    if inner.choice == Choice::ByShard {
                        inner.stale.notify_waiters();
                    }
                }
                // An error answered at once comes in the headers ("trailers only").
                Ok(response)
                    if inner.choice == Choice::ByShard
                        && response.headers().get("grpc-status")
                            == Some(&http::HeaderValue::from_static(UNAVAILABLE)) =>
                {
                    inner.stale.notify_waiters();
                }
                Ok(_) => {}
            }
            Ok(answer?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URLS: &str = "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3";
    /// Replicas on one host, as in tests and `deploy/local.sh`: only their ports differ.
    const PORTS: &str = "http://127.0.0.1:51053,http://127.0.0.1:51063,http://127.0.0.1:51073";

    fn users() -> Vec<String> {
        (0..300).map(|n| format!("user-{n}")).collect()
    }

    #[tokio::test]
    async fn a_key_always_goes_to_one_replica_and_keys_spread_evenly_over_all() {
        for urls in [URLS, PORTS] {
            spread_evenly(urls);
        }
    }

    fn spread_evenly(urls: &str) {
        let (one, other) = (
            Replicas::new(urls, Choice::ByKey, None).unwrap(),
            Replicas::new(urls, Choice::ByKey, None).unwrap(),
        );
        let mut per_replica = [0; 3];
        for user in users() {
            let chosen = one.pick(Some(user.as_bytes()));
            assert_eq!(chosen, one.pick(Some(user.as_bytes())));
            assert_eq!(
                chosen,
                other.pick(Some(user.as_bytes())),
                "every edge agrees"
            );
            per_replica[chosen] += 1;
        }
        assert!(
            per_replica.iter().all(|count| (75..125).contains(count)),
            "{urls}: {per_replica:?}"
        );
    }

    #[tokio::test]
    async fn when_a_replica_rests_only_its_keys_move() {
        let replicas = Replicas::new(URLS, Choice::ByKey, None).unwrap();
        let before: Vec<usize> = users()
            .iter()
            .map(|user| replicas.pick(Some(user.as_bytes())))
            .collect();
        replicas.inner.replicas[1].rest();
        for (user, was) in users().iter().zip(before) {
            let now = replicas.pick(Some(user.as_bytes()));
            if was == 1 {
                assert_ne!(now, 1);
            } else {
                assert_eq!(now, was, "{user} moved without cause");
            }
        }
    }

    #[tokio::test]
    async fn a_key_goes_to_its_shard_holder_once_named_and_by_rank_before() {
        let replicas = Replicas::new(URLS, Choice::ByShard, None).unwrap();
        let user = "8f0c6c1e-5a7e-4f37-9a55-2f1f7c1d2b11";
        let ranked = replicas.pick(Some(user.as_bytes()));
        let holder = (ranked + 1) % 3;
        replicas.set_shards(holder, &[shard_of(user.as_bytes())]);
        assert_eq!(replicas.pick(Some(user.as_bytes())), holder);
        assert_eq!(replicas.only(ranked).pick(Some(user.as_bytes())), ranked);
        replicas.set_shards(holder, &[]);
        assert_eq!(
            replicas.pick(Some(user.as_bytes())),
            ranked,
            "no longer named: by rank again"
        );
    }

    #[test]
    fn shards_spread_users_evenly() {
        let mut per_shard = vec![0u32; SHARDS as usize];
        for n in 0..(SHARDS * 20) {
            let user = uuid::Uuid::from_u128(u128::from(n) * 0x9e37_79b9_7f4a_7c15).to_string();
            per_shard[shard_of(user.as_bytes()) as usize] += 1;
        }
        assert!(
            per_shard.iter().all(|count| (2..=60).contains(count)),
            "{per_shard:?}"
        );
    }

    #[tokio::test]
    async fn a_call_without_a_key_goes_in_turn() {
        let replicas = Replicas::new(URLS, Choice::ByKey, None).unwrap();
        let picked: Vec<usize> = (0..3).map(|_| replicas.pick(None)).collect();
        assert_eq!(picked, [0, 1, 2]);
    }
}
