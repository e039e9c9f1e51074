//! The operations of friends-svc: each checks its rules, commits in one transaction, then
//! publishes its events.
//!
//! Every change to a pair of users (requests, friendship, blocks) first takes the pair's
//! advisory lock, so concurrent accepts, or requests crossing each other, run one after the
//! other and see each other's result. The unique constraints are the backstop.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use parley_common::db::is_unique_violation;

use crate::{
    config::RequestCooldowns,
    domain::{
        self, Friend, FriendRequest, RequestId, User, UserId, UserSearch,
        paging::{self, RequestsCursor, RequestsFrom},
    },
    error::Error,
    events::{Batch, Events},
    repo,
};

/// Whom a friend request is for.
#[derive(Debug, Clone)]
pub enum Target {
    Id(UserId),
    Username(String),
}

/// What `send-friend-request` did.
#[derive(Debug, Clone)]
pub enum Sent {
    /// A new pending request.
    Requested(FriendRequest),
    /// The target had already asked: their request was accepted; the two are friends.
    Accepted {
        request: FriendRequest,
        since: DateTime<Utc>,
    },
}

/// One page of `list-friend-requests`.
#[derive(Debug, Clone)]
pub struct RequestsPage {
    pub incoming: Vec<FriendRequest>,
    pub outgoing: Vec<FriendRequest>,
    /// Absent when both lists are done.
    pub next_cursor: Option<String>,
}

/// Largest page of `ListFriendIds`, and its default.
const MAX_FRIEND_IDS_PAGE: u32 = 10_000;
const DEFAULT_FRIEND_IDS_PAGE: u32 = 1_000;
/// Most ids one `GetUsers` may ask for.
const MAX_USERS_LOOKUP: usize = 1_000;

/// The operations, shared by every gRPC call.
#[derive(Clone)]
pub struct Friends {
    /// Each operation takes one connection, or one transaction when it changes something.
    pool: PgPool,
    /// Where the operations' events go; grpc serves the streams from the same logs.
    pub events: Arc<Events>,
    /// How long a requester waits after a decline or their own cancel.
    cooldowns: RequestCooldowns,
}

/// The unique index that makes a second pending request between a pair impossible.
const ONE_REQUEST_PER_PAIR: &str = "friend_requests_one_per_pair";

impl Friends {
    pub fn new(pool: PgPool, events: Events, cooldowns: RequestCooldowns) -> Self {
        Self {
            pool,
            events: Arc::new(events),
            cooldowns,
        }
    }

    /// Commits `tx` with its events, so that every replica hears them in commit order.
    async fn commit_then_publish(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        publish: impl FnOnce(&mut Batch),
    ) -> Result<(), Error> {
        let mut batch = Batch::default();
        publish(&mut batch);
        self.events.store_in(&mut tx, batch).await?;
        tx.commit().await?;
        Ok(())
    }

    // --- users ---

    /// Records a user as their token describes them and returns the user and whether they
    /// are new. A reconnect with unchanged claims costs one read and writes nothing; a token
    /// older (`iat`) than the one the row came from changes nothing.
    pub async fn upsert_user(
        &self,
        id: UserId,
        username: &str,
        avatar: Option<&str>,
        issued_at: Option<i64>,
    ) -> Result<(User, bool), Error> {
        let requested = domain::requested_username(username)?;
        let claims = repo::Claims {
            requested_username: &requested,
            avatar: domain::avatar_url(avatar),
            issued_at,
        };
        let mut db = self.pool.acquire().await?;
        let stored = repo::stored_user(&mut db, id).await?;
        if let Some(stored) = &stored {
            let older_token = matches!(
                (stored.claims_issued_at, issued_at),
                (Some(stored_at), Some(given_at)) if given_at < stored_at
            );
            let same_claims =
                stored.requested_username == requested && stored.avatar.as_deref() == claims.avatar;
            // A row without a skeleton predates it: it is written again, with its keys.
            let keyed = stored.username_skeleton.is_some();
            if older_token || (keyed && same_claims && stored.username == requested) {
                return Ok((stored.clone().into(), false));
            }
            if keyed
                && same_claims
                && repo::username_holder(&mut db, &requested)
                    .await?
                    .is_some_and(|holder| holder != id)
            {
                // Still suffixed because the plain name (or a look-alike) is still someone
                // else's.
                return Ok((stored.clone().into(), false));
            }
        }
        let user = save_under_free_name(&mut db, id, &requested, claims).await?;
        Ok((user, stored.is_none()))
    }

    pub async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, Error> {
        if ids.len() > MAX_USERS_LOOKUP {
            return Err(Error::invalid(
                "user_ids",
                format!("at most {MAX_USERS_LOOKUP}"),
            ));
        }
        let mut db = self.pool.acquire().await?;
        Ok(repo::users(&mut db, ids).await?)
    }

    pub async fn search(
        &self,
        me: UserId,
        query: &str,
        limit: Option<u32>,
    ) -> Result<Vec<User>, Error> {
        let search = UserSearch::parse(query, limit)?;
        let upper = search.upper_bound();
        let mut db = self.pool.acquire().await?;
        Ok(repo::search_users(&mut db, me, &search.prefix, upper.as_deref(), search.limit).await?)
    }

    // --- requests ---

    pub async fn send_request(&self, me: UserId, target: Target) -> Result<Sent, Error> {
        let mut tx = self.pool.begin().await?;
        let sender = known_user(&mut tx, me).await?;
        let target = match target {
            Target::Id(id) => repo::user(&mut tx, id).await?,
            Target::Username(name) => {
                repo::user_by_username_key(&mut tx, &domain::username_key(name.trim())).await?
            }
        }
        .ok_or(Error::NotFound("no such user"))?;
        if target.id == me {
            return Err(Error::invalid("userId", "you cannot befriend yourself"));
        }

        repo::lock_pair(&mut tx, domain::pair_lock_key(me, target.id)).await?;
        let (i_blocked, they_blocked) = repo::blocks_between(&mut tx, me, target.id).await?;
        if they_blocked {
            return Err(Error::PermissionDenied(
                "you cannot send this user a friend request",
            ));
        }
        if i_blocked {
            return Err(Error::FailedPrecondition(
                "you blocked this user: unblock them first",
            ));
        }
        let pair = domain::ordered_pair(me, target.id);
        if repo::friendship_since(&mut tx, pair).await?.is_some() {
            return Err(Error::AlreadyExists("you are already friends"));
        }
        if let Some(pending) = repo::request_between(&mut tx, me, target.id).await? {
            if pending.from_user_id == me {
                return Err(Error::AlreadyExists(
                    "your friend request is already pending",
                ));
            }
            // They asked first: asking back accepts, whatever cooldown I am in.
            repo::delete_request(&mut tx, pending.id).await?;
            let since = repo::add_friendship(&mut tx, pair).await?;
            repo::end_cooldowns(&mut tx, pair).await?;
            let request = FriendRequest {
                id: pending.id,
                from: target,
                to: sender,
                created_at: pending.created_at,
            };
            self.commit_then_publish(tx, |events| {
                events.request_accepted(request.id, &request.from, &request.to, since);
            })
            .await?;
            return Ok(Sent::Accepted { request, since });
        }

        // After they declined, or I cancelled, I wait: a request/cancel loop would ring them
        // every time. They can still ask me.
        if let Some(left_ms) = repo::cooldown_left_ms(&mut tx, me, target.id).await? {
            return Err(Error::RateLimited(
                u64::try_from(left_ms).unwrap_or(1).max(1),
            ));
        }

        let id = RequestId::from(Uuid::new_v4());
        let created_at = repo::insert_request(&mut tx, id, me, target.id)
            .await
            .map_err(
                |error| match is_unique_violation(&error, ONE_REQUEST_PER_PAIR) {
                    true => Error::AlreadyExists("a friend request between you is already pending"),
                    false => error.into(),
                },
            )?;
        let request = FriendRequest {
            id,
            from: sender,
            to: target,
            created_at,
        };
        self.commit_then_publish(tx, |events| events.request_received(&request))
            .await?;
        Ok(Sent::Requested(request))
    }

    /// Accepts a request sent to `me`; returns the new friend.
    pub async fn accept(&self, me: UserId, request_id: RequestId) -> Result<Friend, Error> {
        let mut tx = self.pool.begin().await?;
        let pending = locked_request(&mut tx, me, request_id).await?;
        if pending.to_user_id != me {
            return Err(Error::PermissionDenied(
                "only the recipient can accept a friend request",
            ));
        }
        repo::delete_request(&mut tx, pending.id).await?;
        let pair = domain::ordered_pair(me, pending.from_user_id);
        let since = repo::add_friendship(&mut tx, pair).await?;
        repo::end_cooldowns(&mut tx, pair).await?;
        let accepter = known_user(&mut tx, me).await?;
        let requester = known_user(&mut tx, pending.from_user_id).await?;
        self.commit_then_publish(tx, |events| {
            events.request_accepted(pending.id, &requester, &accepter, since);
        })
        .await?;
        Ok(Friend {
            user: requester,
            since,
        })
    }

    /// Declines a request sent to `me`; the requester is not told, and waits the declined
    /// cooldown before asking `me` again.
    pub async fn decline(&self, me: UserId, request_id: RequestId) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let pending = locked_request(&mut tx, me, request_id).await?;
        if pending.to_user_id != me {
            return Err(Error::PermissionDenied(
                "only the recipient can decline a friend request",
            ));
        }
        repo::delete_request(&mut tx, pending.id).await?;
        repo::start_cooldown(&mut tx, pending.from_user_id, me, self.cooldowns.declined).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Withdraws a request `me` sent; the recipient is told, and `me` waits the cancelled
    /// cooldown before asking them again.
    pub async fn cancel(&self, me: UserId, request_id: RequestId) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let pending = locked_request(&mut tx, me, request_id).await?;
        if pending.from_user_id != me {
            return Err(Error::PermissionDenied(
                "only the sender can cancel a friend request",
            ));
        }
        repo::delete_request(&mut tx, pending.id).await?;
        repo::start_cooldown(&mut tx, me, pending.to_user_id, self.cooldowns.cancelled).await?;
        self.commit_then_publish(tx, |events| {
            events.request_cancelled(pending.id, pending.to_user_id);
        })
        .await
    }

    // --- friendships and blocks ---

    pub async fn remove_friend(&self, me: UserId, other: UserId) -> Result<(), Error> {
        if other == me {
            return Err(Error::invalid("userId", "you cannot unfriend yourself"));
        }
        let mut tx = self.pool.begin().await?;
        repo::lock_pair(&mut tx, domain::pair_lock_key(me, other)).await?;
        if !repo::remove_friendship(&mut tx, domain::ordered_pair(me, other)).await? {
            return Err(Error::NotFound("you are not friends"));
        }
        self.commit_then_publish(tx, |events| events.friendship_ended(me, other))
            .await
    }

    /// Blocks `other`: ends the friendship and the pending requests between the two. Blocking
    /// again changes nothing.
    pub async fn block(&self, me: UserId, other: UserId) -> Result<(), Error> {
        if other == me {
            return Err(Error::invalid("userId", "you cannot block yourself"));
        }
        let mut tx = self.pool.begin().await?;
        known_user(&mut tx, other).await?;
        repo::lock_pair(&mut tx, domain::pair_lock_key(me, other)).await?;
        let was_friend = repo::remove_friendship(&mut tx, domain::ordered_pair(me, other)).await?;
        let pending = repo::request_between(&mut tx, me, other).await?;
        if let Some(pending) = pending {
            repo::delete_request(&mut tx, pending.id).await?;
        }
        let new_block = repo::add_block(&mut tx, me, other).await?;
        self.commit_then_publish(tx, |events| {
            if was_friend {
                events.friendship_ended(me, other);
            }
            // My pending request disappears as if cancelled; theirs as if declined (no event).
            if let Some(pending) = pending.filter(|pending| pending.from_user_id == me) {
                events.request_cancelled(pending.id, other);
            }
            if new_block {
                events.block_added(me, other);
            }
        })
        .await
    }

    /// Lifts a block; the friendship does not come back.
    pub async fn unblock(&self, me: UserId, other: UserId) -> Result<(), Error> {
        if other == me {
            return Err(Error::invalid("userId", "you cannot unblock yourself"));
        }
        let mut tx = self.pool.begin().await?;
        known_user(&mut tx, other).await?;
        repo::lock_pair(&mut tx, domain::pair_lock_key(me, other)).await?;
        let lifted = repo::remove_block(&mut tx, me, other).await?;
        self.commit_then_publish(tx, |events| {
            if lifted {
                events.block_removed(me, other);
            }
        })
        .await
    }

    // --- reads ---

    /// One page of `me`'s friends by name, and the cursor of the next one.
    pub async fn friends(
        &self,
        me: UserId,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<(Vec<Friend>, Option<String>), Error> {
        let limit = paging::page_limit(limit)?;
        let mut db = self.pool.acquire().await?;
        let after = name_position(&mut db, cursor).await?;
        let rows = repo::friends_of(&mut db, me, after.as_ref(), limit + 1).await?;
        let (page, more) = paging::split_page(rows, limit);
        let next = more.then(|| page.last().map(|friend| friend.user.id.to_string()));
        Ok((page, next.flatten()))
    }

    /// One page of each of `me`'s pending requests (incoming, outgoing), newest first.
    pub async fn requests(
        &self,
        me: UserId,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<RequestsPage, Error> {
        let limit = paging::page_limit(limit)?;
        let cursor = RequestsCursor::parse(cursor)?;
        let mut db = self.pool.acquire().await?;
        let (incoming, incoming_from) =
            requests_page(&mut db, me, true, cursor.incoming, limit).await?;
        let (outgoing, outgoing_from) =
            requests_page(&mut db, me, false, cursor.outgoing, limit).await?;
        let next = RequestsCursor {
            incoming: incoming_from,
            outgoing: outgoing_from,
        };
        Ok(RequestsPage {
            incoming,
            outgoing,
            next_cursor: next.token(),
        })
    }

    /// One page of the users `me` blocked, by name, and the cursor of the next one.
    pub async fn blocked(
        &self,
        me: UserId,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<(Vec<User>, Option<String>), Error> {
        let limit = paging::page_limit(limit)?;
        let mut db = self.pool.acquire().await?;
        let after = name_position(&mut db, cursor).await?;
        let rows = repo::blocked_by(&mut db, me, after.as_ref(), limit + 1).await?;
        let (page, more) = paging::split_page(rows, limit);
        let next = more.then(|| page.last().map(|user| user.id.to_string()));
        Ok((page, next.flatten()))
    }

    pub async fn are_friends(&self, a: UserId, b: UserId) -> Result<bool, Error> {
        let mut db = self.pool.acquire().await?;
        Ok(repo::friendship_since(&mut db, domain::ordered_pair(a, b))
            .await?
            .is_some())
    }

    /// (whom `user` blocked, who blocked `user`).
    pub async fn block_ids(&self, user: UserId) -> Result<(Vec<UserId>, Vec<UserId>), Error> {
        let mut db = self.pool.acquire().await?;
        Ok(repo::block_ids(&mut db, user).await?)
    }

    pub async fn is_blocked(&self, a: UserId, b: UserId) -> Result<bool, Error> {
        let mut db = self.pool.acquire().await?;
        let (a_blocked, b_blocked) = repo::blocks_between(&mut db, a, b).await?;
        Ok(a_blocked || b_blocked)
    }

    /// One page of friend ids and the token of the next page (the last id), if any.
    pub async fn friend_ids(
        &self,
        user: UserId,
        page_size: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<(Vec<UserId>, Option<String>), Error> {
        let size = page_size.unwrap_or(DEFAULT_FRIEND_IDS_PAGE);
        if !(1..=MAX_FRIEND_IDS_PAGE).contains(&size) {
            return Err(Error::invalid(
                "page_size",
                format!("must be 1–{MAX_FRIEND_IDS_PAGE}"),
            ));
        }
        let after = page_token
            .map(|token| UserId::parse("page_token", token))
            .transpose()?;
        let mut db = self.pool.acquire().await?;
        let ids = repo::friend_ids_page(&mut db, user, after, size).await?;
        let next = (ids.len() == size as usize)
            .then(|| ids.last().map(UserId::to_string))
            .flatten();
        Ok((ids, next))
    }
}

/// Saves user `id` under `requested`, or under the first of its fallbacks that nobody holds
/// and that looks like no name another user holds.
///
/// Should every name be taken, which 48 random bits per suffix rule out, the error is the
/// database's refusal of the last one: what happened, which callers see as `INTERNAL`
/// "database error".
async fn save_under_free_name(
    db: &mut PgConnection,
    id: UserId,
    requested: &str,
    claims: repo::Claims<'_>,
) -> sqlx::Result<User> {
    let mut saved = repo::save_user(db, id, requested, claims).await;
    if saved.as_ref().is_err_and(repo::is_username_taken) {
        // A new user's first connect makes several upserts at once (one per namespace), and
        // the loser of that race trips the name's unique index on the winner's row, which is
        // this very user's: committed by now, so saving again updates it, and the name
        // turns out taken only when someone else holds it.
        saved = repo::save_user(db, id, requested, claims).await;
    }
    for fallback in domain::username_fallbacks(requested, id) {
        match &saved {
            Err(error) if repo::is_username_taken(error) => {
                saved = repo::save_user(db, id, &fallback, claims).await;
            }
            _ => break,
        }
    }
    saved
}

/// Gives every user stored before skeletons existed their keys, oldest first, so that the
/// older of two look-alike names keeps it and the newer one gets a suffix, as if it had
/// connected after. Runs at start, before serving, one replica at a time.
pub async fn backfill_username_keys(pool: &PgPool) -> Result<u64, Error> {
    /// Rows read per round; each is then written alone, so that a clash costs one row.
    const BATCH: i64 = 500;
    let mut db = pool.acquire().await?;
    repo::lock_backfill(&mut db).await?;
    let mut done = 0;
    let result = async {
        loop {
            let batch = repo::users_without_skeleton(&mut db, BATCH).await?;
            if batch.is_empty() {
                return Ok::<_, Error>(done);
            }
            for (id, stored) in batch {
                // A name made only of what is now dropped gets the edge's name for no name.
                let name = domain::requested_username(&stored)
                    .unwrap_or_else(|_| domain::default_username(id));
                rename_under_free_name(&mut db, id, &name).await?;
                done += 1;
            }
        }
    }
    .await;
    repo::unlock_backfill(&mut db).await?;
    result
}

/// [`save_under_free_name`] for a stored user whose claims do not change.
async fn rename_under_free_name(db: &mut PgConnection, id: UserId, name: &str) -> sqlx::Result<()> {
    let mut renamed = repo::rename_user(db, id, name).await;
    for fallback in domain::username_fallbacks(name, id) {
        match &renamed {
            Err(error) if repo::is_username_taken(error) => {
                renamed = repo::rename_user(db, id, &fallback).await;
            }
            _ => break,
        }
    }
    renamed
}

/// Where a list by name goes on: after the cursor's user, at their current name.
async fn name_position(
    db: &mut PgConnection,
    cursor: Option<&str>,
) -> Result<Option<repo::NamePosition>, Error> {
    let Some(user) = paging::parse_user_cursor(cursor)? else {
        return Ok(None);
    };
    let key = repo::username_key_of(db, user)
        .await?
        .ok_or_else(|| Error::invalid("cursor", "not a cursor of this list"))?;
    Ok(Some(repo::NamePosition { key, user }))
}

/// One page of one list of requests from `from`, and where that list goes on.
async fn requests_page(
    db: &mut PgConnection,
    me: UserId,
    incoming: bool,
    from: RequestsFrom,
    limit: u32,
) -> Result<(Vec<FriendRequest>, RequestsFrom), Error> {
    let after = match from {
        RequestsFrom::Done => return Ok((Vec::new(), RequestsFrom::Done)),
        RequestsFrom::Start => None,
        RequestsFrom::After(at, id) => Some((at, id)),
    };
    let rows = repo::requests_of(db, me, incoming, after, limit + 1).await?;
    let (page, more) = paging::split_page(rows, limit);
    let next = match page.last() {
        Some(last) if more => RequestsFrom::After(last.created_at, last.id),
        _ => RequestsFrom::Done,
    };
    Ok((page, next))
}

/// A user who must exist for the operation to make sense.
async fn known_user(db: &mut PgConnection, id: UserId) -> Result<User, Error> {
    repo::user(db, id)
        .await?
        .ok_or(Error::NotFound("no such user"))
}

/// A pending request `me` is party to, with its pair locked. Requests of others are
/// `NOT_FOUND`, so ids reveal nothing.
async fn locked_request(
    db: &mut PgConnection,
    me: UserId,
    request_id: RequestId,
) -> Result<repo::RequestIds, Error> {
    const GONE: Error = Error::NotFound("no such friend request");
    let seen = repo::request(db, request_id).await?.ok_or(GONE)?;
    if seen.from_user_id != me && seen.to_user_id != me {
        return Err(GONE);
    }
    repo::lock_pair(
        db,
        domain::pair_lock_key(seen.from_user_id, seen.to_user_id),
    )
    .await?;
    // Another transaction may have accepted, declined or cancelled it while we waited.
    repo::request(db, request_id).await?.ok_or(GONE)
}
