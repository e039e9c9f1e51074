//! Which replica holds which users. Users are divided into [`SHARDS`] shards by their id;
//! each shard is held by one replica at a time (`presence.shard_leases`), under the
//! replica's lease: its row in `presence.replicas`, renewed every few seconds. Every replica
//! is active: it keeps the sessions and statuses of its own shards only.
//!
//! A replica aims at the shards it ranks first for among the live replicas (rendezvous
//! hashing on their URLs), so when one joins or leaves only its share moves. It gives back a
//! shard it no longer aims at (the one aiming at it takes it at its next round), and takes a
//! shard only when it was given back or its holder's lease lapsed: no shard is held twice.
//! Its own view of its lease ends a fifth of the lease before the others' would, counted
//! from before its row was written, so it stops serving its shards before anyone else may
//! take them, even while it cannot reach the database.
//!
//! This module is the bookkeeping; [`crate::service`] runs the rounds against the database.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use parley_common::replicas;
use tokio::time::Instant;

use crate::domain::UserId;

pub use parley_common::replicas::SHARDS;

/// The shard of `user`: the same as the edge computes for its route key (the id's text).
pub fn shard_of(user: UserId) -> u32 {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    replicas::shard_of(user.0.hyphenated().encode_lower(&mut text).as_bytes())
}

/// The shards `me` should hold while `live` replicas run: those for which it ranks first.
pub fn share(me: &str, live: &[String]) -> Vec<u32> {
    let rank =
        |shard: u32, url: &str| replicas::rank(&[&shard.to_be_bytes(), b"@", url.as_bytes()]);
    (0..SHARDS)
        .filter(|shard| {
            live.iter()
                .filter(|url| url.as_str() != me)
                .all(|url| (rank(*shard, url), url.as_str()) < (rank(*shard, me), me))
        })
        .collect()
}

/// This replica's view of the leases: what it holds, until when, and who holds the rest.
#[derive(Debug)]
pub struct Leases {
    /// This replica's advertised URL: its name in the lease table.
    pub me: Arc<str>,
    /// How long a lease lasts without renewal.
    pub ttl: Duration,
    /// Each shard held here, with its epoch.
    held: HashMap<u32, i64>,
    /// When this replica stops trusting its lease (one for all its shards).
    trusted_until: Option<Instant>,
    /// Each shard's holder, as last read (this replica's own included).
    holders: Vec<Option<Arc<str>>>,
}

/// What a round changed here.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moves {
    /// Shards newly held: they warm up.
    pub gained: Vec<u32>,
    /// Shards no longer held: their users are forgotten.
    pub lost: Vec<u32>,
}

impl Leases {
    pub fn new(me: Arc<str>, ttl: Duration) -> Self {
        Self {
            me,
            ttl,
            held: HashMap::new(),
            trusted_until: None,
            holders: vec![None; SHARDS as usize],
        }
    }

    /// Forgets the shards held here that `share` does not name, and returns them: to give
    /// back (all of them for an empty `share`, at shutdown).
    pub fn give_up(&mut self, share: &[u32]) -> Vec<u32> {
        let share: HashSet<u32> = share.iter().copied().collect();
        let mut surplus: Vec<u32> = self
            .held
            .keys()
            .copied()
            .filter(|shard| !share.contains(shard))
            .collect();
        for shard in &surplus {
            self.held.remove(shard);
        }
        surplus.sort_unstable();
        surplus
    }

    /// Records a round begun at `started`, whose lease this replica trusts for most of a
    /// lease from then: it holds `claimed` (shard, epoch), and `holders` says everyone's
    /// (this replica's own included: its row was just renewed). A shard claimed under another
    /// epoch than this replica knew changed hands meanwhile: lost and gained again.
    pub fn renewed(
        &mut self,
        started: Instant,
        claimed: &[(u32, i64)],
        holders: &[(u32, String)],
    ) -> Moves {
        self.trusted_until = Some(started + self.ttl - self.ttl / 5);
        let claimed: HashMap<u32, i64> = claimed.iter().copied().collect();
        let mut moves = Moves::default();
        for (shard, epoch) in &self.held {
            if claimed.get(shard) != Some(epoch) {
                moves.lost.push(*shard);
            }
        }
        for shard in &moves.lost {
            self.held.remove(shard);
        }
        for (shard, epoch) in claimed {
            if self.held.insert(shard, epoch).is_none() {
                moves.gained.push(shard);
            }
        }
        self.read(holders);
        moves.lost.sort_unstable();
        moves.gained.sort_unstable();
        moves
    }

    /// Records who holds each shard, as just read.
    pub fn read(&mut self, holders: &[(u32, String)]) {
        // A few replicas hold all 1 024 shards: one shared name each.
        let mut names: HashMap<&str, Arc<str>> = HashMap::new();
        self.holders = vec![None; SHARDS as usize];
        for (shard, holder) in holders {
            if let Some(slot) = usize::try_from(*shard)
                .ok()
                .and_then(|shard| self.holders.get_mut(shard))
            {
                let name = names
                    .entry(holder)
                    .or_insert_with(|| holder.as_str().into());
                *slot = Some(name.clone());
            }
        }
    }

    /// Every shard held here once this replica can no longer trust its lease at `now`
    /// (rounds failed): forgotten here, to be let go of.
    pub fn expired(&mut self, now: Instant) -> Vec<u32> {
        if self.trusted_until.is_none_or(|until| until > now) {
            return Vec::new();
        }
        self.trusted_until = None;
        self.give_up(&[])
    }

    /// Who holds `user`'s shard, as last read; `None` while nobody does.
    pub fn holder_of(&self, user: UserId) -> Option<Arc<str>> {
        usize::try_from(shard_of(user))
            .ok()
            .and_then(|shard| self.holders.get(shard).cloned().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(count: usize) -> Vec<String> {
        (0..count)
            .map(|n| format!("http://10.0.0.{n}:50052"))
            .collect()
    }

    #[test]
    fn a_users_shard_is_the_one_of_the_text_of_their_id() {
        let user = UserId(uuid::Uuid::new_v4());
        assert_eq!(
            shard_of(user),
            replicas::shard_of(user.to_string().as_bytes())
        );
    }

    #[test]
    fn the_live_replicas_share_every_shard_once_and_evenly() {
        for live in [urls(3), ports(3)] {
            shared_evenly(&live);
        }
        assert_eq!(share("http://alone", &[]).len(), SHARDS as usize);
    }

    /// Replicas on one host, as in tests and `deploy/local.sh`: only their ports differ.
    fn ports(count: u16) -> Vec<String> {
        (0..count)
            .map(|n| format!("http://127.0.0.1:{}", 51052 + 10 * n))
            .collect()
    }

    fn shared_evenly(live: &[String]) {
        let mut seen = vec![0; SHARDS as usize];
        for me in live {
            let mine = share(me, live);
            assert!((290..390).contains(&mine.len()), "{me}: {}", mine.len());
            for shard in mine {
                seen[shard as usize] += 1;
            }
        }
        assert!(seen.iter().all(|count| *count == 1));
    }

    #[test]
    fn when_a_replica_leaves_only_its_shards_move() {
        let live = urls(3);
        let before = share(&live[0], &live);
        let after = share(&live[0], &live[..2]);
        assert!(before.iter().all(|shard| after.contains(shard)));
        assert!(after.len() > before.len());
    }

    #[tokio::test(start_paused = true)]
    async fn giving_up_returns_and_forgets_the_shards_the_share_leaves_out() {
        let mut leases = Leases::new("http://me".into(), Duration::from_secs(10));
        leases.renewed(Instant::now(), &[(1, 1), (2, 1)], &[]);
        assert_eq!(leases.give_up(&[1]), [2]);
        assert_eq!(leases.give_up(&[]), [1]);
        assert!(leases.give_up(&[]).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_round_tells_what_was_gained_and_lost_and_a_lease_not_renewed_expires() {
        let mut leases = Leases::new("http://me".into(), Duration::from_secs(10));
        let start = Instant::now();
        let moves = leases.renewed(start, &[(1, 1), (2, 1)], &[(3, "http://other".into())]);
        assert_eq!(moves.gained, [1, 2]);
        assert!(moves.lost.is_empty());
        // Shard 2 changed hands meanwhile (a new epoch); shard 1 was not renewed.
        let moves = leases.renewed(start, &[(2, 3)], &[]);
        assert_eq!(
            moves,
            Moves {
                gained: vec![2],
                lost: vec![1, 2]
            }
        );
        assert_eq!(
            leases.give_up(&[2]),
            Vec::<u32>::new(),
            "shard 2 is in the share"
        );
        tokio::time::advance(Duration::from_secs(7)).await;
        assert!(leases.expired(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            leases.expired(Instant::now()),
            [2],
            "a fifth before the database's"
        );
    }
}
