//! The room operations of chat-svc: each checks its rules, commits in one transaction, then
//! publishes its events in commit order.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use parley_common::rate_limit::RateLimit;
use parley_proto::chat::v1 as pb;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    blocks::Blocks,
    domain::{self, MAX_MEMBERS, Role, RoomId, UserId},
    error::Error,
    events::{Announce, Batch, Events},
    grpc::convert,
    member_cache::MemberCache,
    profiles::Profiles,
    repo::{self, Member, Room},
    users::{self, FriendsClient},
};

#[derive(Clone)]
pub struct Chat {
    pool: PgPool,
    pub(crate) friends: FriendsClient,
    pub(crate) profiles: Arc<Profiles>,
    pub(crate) members: Arc<MemberCache>,
    pub(crate) blocks: Arc<Blocks>,
    pub events: Arc<Events>,
    limits: Arc<RoomLimits>,
}

/// How fast one user may make rooms and add people to them (`PARLEY_ROOMS_PER_MINUTE`,
/// `PARLEY_MEMBERS_ADDED_PER_MINUTE`): everyone added hears of the room at once, unasked.
pub struct RoomLimits {
    pub rooms: RateLimit<UserId>,
    /// Counted per user added, by `create-room` and `add-members` together.
    pub members_added: RateLimit<UserId>,
}

impl RoomLimits {
    pub fn per_minute(rooms: u32, members_added: u32) -> Self {
        Self {
            rooms: RateLimit::per_minute(rooms),
            members_added: RateLimit::per_minute(members_added),
        }
    }
}

/// A page of the caller's rooms.
pub struct RoomsPage {
    pub rooms: Vec<ListedRoom>,
    pub next_cursor: Option<String>,
}

/// A room of `list-rooms`, with what the caller has not read.
pub struct ListedRoom {
    pub id: RoomId,
    pub room: pb::Room,
    pub unread_count: u32,
}

impl Chat {
    pub fn new(pool: PgPool, friends: FriendsClient, events: Events, limits: RoomLimits) -> Self {
        Self {
            limits: Arc::new(limits),
            pool,
            profiles: Arc::new(Profiles::new(friends.clone())),
            members: Arc::new(MemberCache::default()),
            blocks: Arc::new(Blocks::new(friends.clone())),
            friends,
            events: Arc::new(events),
        }
    }

    /// Commits a change to `room`'s membership or settings with its events (so every
    /// replica hears them in commit order); the room's cached members are dropped.
    async fn commit_then_publish(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        room: RoomId,
        publish: impl FnOnce(&Batch),
    ) -> Result<(), Error> {
        let batch = Batch::default();
        publish(&batch);
        self.events.store_in(&mut tx, batch).await?;
        tx.commit().await?;
        self.members.forget(room);
        Ok(())
    }

    /// A room as clients see it, with its members named by friends-svc.
    async fn render(&self, room: &Room, members: &[Member]) -> Result<pb::Room, Error> {
        let ids: Vec<UserId> = members.iter().map(|member| member.user_id).collect();
        let profiles = users::profiles(&self.friends, &ids).await?;
        Ok(convert::room(room, members, &profiles))
    }

    pub async fn create_room(
        &self,
        me: UserId,
        name: Option<&str>,
        is_group: bool,
        member_ids: &[String],
        is_public: bool,
    ) -> Result<pb::Room, Error> {
        let invited = domain::invited(me, "memberIds", member_ids)?;
        // Checked before any call or query, so that a refused call costs nothing; a room
        // the members limit refuses still took from the rooms limit (a retry waits anyway).
        self.limits.rooms.check(&me).map_err(Error::RateLimited)?;
        self.limits
            .members_added
            .check_n(&me, u32::try_from(invited.len()).unwrap_or(u32::MAX))
            .map_err(Error::RateLimited)?;
        if is_group {
            return self.create_group(me, name, invited, is_public).await;
        }
        let [other] = invited[..] else {
            return Err(Error::invalid(
                "memberIds",
                "a room that is not a group has exactly one other member",
            ));
        };
        if is_public {
            return Err(Error::invalid("isPublic", "a direct room cannot be public"));
        }
        self.direct_room(me, other).await.map(|(_, room)| room)
    }

    /// The DM room of `me` and `other`, made on first use.
    pub async fn direct_room(
        &self,
        me: UserId,
        other: UserId,
    ) -> Result<(RoomId, pb::Room), Error> {
        let profiles = users::require_known(&self.friends, &[me, other]).await?;
        self.blocks.require_none(me, &[other]).await?;
        let pair = if me < other { (me, other) } else { (other, me) };
        let mut tx = self.pool.begin().await?;
        let (room, made) = repo::dm_room(&mut tx, RoomId(Uuid::new_v4()), pair).await?;
        if made {
            repo::add_members(&mut tx, room.id, &[me, other], Role::Member).await?;
        }
        let members = repo::members(&mut tx, room.id).await?;
        let rendered = convert::room(&room, &members, &profiles);
        let event = rendered.clone();
        self.commit_then_publish(tx, room.id, |events| {
            if made {
                events.membership(room.id, &[me, other], &[]);
                events.room_created(event, &[me, other]);
            }
        })
        .await?;
        Ok((room.id, rendered))
    }

    async fn create_group(
        &self,
        me: UserId,
        name: Option<&str>,
        invited: Vec<UserId>,
        is_public: bool,
    ) -> Result<pb::Room, Error> {
        let name = domain::room_name(name)?;
        let mut everyone = invited.clone();
        everyone.push(me);
        let profiles = users::require_known(&self.friends, &everyone).await?;
        self.blocks.require_none(me, &invited).await?;
        let mut tx = self.pool.begin().await?;
        let room =
            repo::insert_group(&mut tx, RoomId(Uuid::new_v4()), name.as_deref(), is_public).await?;
        repo::add_members(&mut tx, room.id, &[me], Role::Owner).await?;
        repo::add_members(&mut tx, room.id, &invited, Role::Member).await?;
        let members = repo::members(&mut tx, room.id).await?;
        let rendered = convert::room(&room, &members, &profiles);
        let event = rendered.clone();
        self.commit_then_publish(tx, room.id, |events| {
            events.membership(room.id, &everyone, &[]);
            events.room_created(event, &everyone);
        })
        .await?;
        Ok(rendered)
    }

    /// A room the caller belongs to, or a public one.
    pub async fn get_room(&self, me: UserId, room_id: RoomId) -> Result<pb::Room, Error> {
        let mut db = self.pool.acquire().await?;
        let room = repo::room(&mut db, room_id)
            .await?
            .ok_or(Error::NotFound("no such room"))?;
        let members = repo::members(&mut db, room_id).await?;
        drop(db);
        if !room.is_public && !members.iter().any(|member| member.user_id == me) {
            return Err(Error::PermissionDenied("you are not a member of this room"));
        }
        self.render(&room, &members).await
    }

    pub async fn add_members(
        &self,
        me: UserId,
        room_id: RoomId,
        user_ids: &[String],
    ) -> Result<pb::Room, Error> {
        let wanted = domain::invited(me, "userIds", user_ids)?;
        self.limits
            .members_added
            .check_n(&me, u32::try_from(wanted.len()).unwrap_or(u32::MAX))
            .map_err(Error::RateLimited)?;
        let profiles = users::require_known(&self.friends, &wanted).await?;
        self.blocks.require_none(me, &wanted).await?;
        let mut tx = self.pool.begin().await?;
        let room = group_for_admin(&mut tx, me, room_id).await?;
        let added = repo::add_members(&mut tx, room_id, &wanted, Role::Member).await?;
        let members = repo::members(&mut tx, room_id).await?;
        if members.len() > MAX_MEMBERS {
            // Dropping the transaction undoes the additions.
            return Err(Error::FailedPrecondition("a room has at most 1000 members"));
        }
        self.commit_then_publish(tx, room_id, |events| {
            if !added.is_empty() {
                events.membership(room_id, &added, &[]);
            }
            for user in &added {
                if let Some(profile) = profiles.get(user) {
                    events.user_joined(room_id, profile.clone());
                }
            }
        })
        .await?;
        // Named after the commit: the room's row is not held locked across friends-svc calls.
        self.render(&room, &members).await
    }

    pub async fn remove_member(
        &self,
        me: UserId,
        room_id: RoomId,
        user: UserId,
    ) -> Result<(), Error> {
        if user == me {
            return Err(Error::invalid("userId", "to leave a room, use leave-room"));
        }
        let mut tx = self.pool.begin().await?;
        group_for_admin(&mut tx, me, room_id).await?;
        let my_role = repo::role(&mut tx, room_id, me)
            .await?
            .unwrap_or(Role::Member);
        let their_role = repo::role(&mut tx, room_id, user)
            .await?
            .ok_or(Error::NotFound("no such member"))?;
        if !my_role.may_remove(their_role) {
            return Err(Error::PermissionDenied(
                "your role cannot remove this member",
            ));
        }
        repo::remove_member(&mut tx, room_id, user).await?;
        self.commit_then_publish(tx, room_id, |events| {
            events.user_left(room_id, user);
            events.membership(room_id, &[], &[user]);
        })
        .await
    }

    /// Joins a public group room; joining again changes nothing.
    pub async fn join_room(&self, me: UserId, room_id: RoomId) -> Result<pb::Room, Error> {
        let joined = users::require_known(&self.friends, &[me])
            .await?
            .remove(&me);
        let mut tx = self.pool.begin().await?;
        let room = repo::lock_room(&mut tx, room_id)
            .await?
            .ok_or(Error::NotFound("no such room"))?;
        if !room.is_public {
            return Err(Error::PermissionDenied("only public rooms can be joined"));
        }
        let count = repo::member_count(&mut tx, room_id).await?;
        let already = repo::role(&mut tx, room_id, me).await?.is_some();
        if !already && usize::try_from(count).unwrap_or(usize::MAX) >= MAX_MEMBERS {
            return Err(Error::FailedPrecondition("the room is full"));
        }
        let added = repo::add_members(&mut tx, room_id, &[me], Role::Member).await?;
        let members = repo::members(&mut tx, room_id).await?;
        self.commit_then_publish(tx, room_id, |events| {
            if !added.is_empty() {
                events.membership(room_id, &added, &[]);
                if let Some(profile) = joined {
                    events.user_joined(room_id, profile);
                }
            }
        })
        .await?;
        self.render(&room, &members).await
    }

    /// Leaves a group room; an owner who leaves hands ownership on.
    pub async fn leave_room(&self, me: UserId, room_id: RoomId) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let room = repo::lock_room(&mut tx, room_id)
            .await?
            .ok_or(Error::NotFound("no such room"))?;
        let role = repo::role(&mut tx, room_id, me)
            .await?
            .ok_or(Error::PermissionDenied("you are not a member of this room"))?;
        if !room.is_group {
            return Err(Error::FailedPrecondition("a direct room cannot be left"));
        }
        repo::remove_member(&mut tx, room_id, me).await?;
        if role == Role::Owner {
            repo::hand_on_ownership(&mut tx, room_id).await?;
        }
        self.commit_then_publish(tx, room_id, |events| {
            events.user_left(room_id, me);
            events.membership(room_id, &[], &[me]);
        })
        .await
    }

    /// The caller's rooms, most recently active first, with unread counts; direct rooms
    /// carry their two members, so clients can name them.
    pub async fn list_rooms(
        &self,
        me: UserId,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<RoomsPage, Error> {
        let limit = limit.unwrap_or(domain::DEFAULT_ROOMS_PAGE);
        if !(1..=domain::MAX_ROOMS_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be 1–{}", domain::MAX_ROOMS_PAGE),
            ));
        }
        let after = cursor.map(parse_cursor).transpose()?;
        let mut db = self.pool.acquire().await?;
        let page = repo::rooms_of(&mut db, me, after, limit).await?;
        // Direct rooms carry their two members, read for the whole page at once.
        let direct: Vec<RoomId> = page
            .iter()
            .filter(|summary| !summary.room.is_group)
            .map(|summary| summary.room.id)
            .collect();
        let mut members: HashMap<RoomId, Vec<Member>> = HashMap::new();
        for (room, member) in repo::members_of(&mut db, &direct).await? {
            members.entry(room).or_default().push(member);
        }
        drop(db);
        let ids: Vec<UserId> = members
            .values()
            .flatten()
            .map(|member| member.user_id)
            .collect();
        let profiles = users::profiles(&self.friends, &ids).await?;
        let next_cursor = (page.len() == limit as usize)
            .then(|| {
                page.last()
                    .map(|last| format!("{}_{}", last.activity.timestamp_micros(), last.room.id))
            })
            .flatten();
        let rooms = page
            .iter()
            .map(|summary| {
                let room_members = members
                    .get(&summary.room.id)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                ListedRoom {
                    id: summary.room.id,
                    room: convert::room(&summary.room, room_members, &profiles),
                    unread_count: u32::try_from(summary.unread).unwrap_or(u32::MAX),
                }
            })
            .collect();
        Ok(RoomsPage { rooms, next_cursor })
    }

    /// One page of the ids of `user`'s rooms, for edges that put a new socket in its rooms.
    pub async fn room_ids(
        &self,
        user: UserId,
        page_size: Option<u32>,
        token: Option<&str>,
    ) -> Result<(Vec<RoomId>, Option<String>), Error> {
        let size = page_size.unwrap_or(1000);
        if !(1..=10_000).contains(&size) {
            return Err(Error::invalid("page_size", "must be 1–10000"));
        }
        let after = token
            .map(|token| RoomId::parse("page_token", token))
            .transpose()?;
        let mut db = self.pool.acquire().await?;
        let ids = repo::room_ids_of(&mut db, user, after, size).await?;
        let next = (ids.len() == size as usize)
            .then(|| ids.last().map(RoomId::to_string))
            .flatten();
        Ok((ids, next))
    }
}

/// The room, which must be a group the caller administers.
async fn group_for_admin(
    db: &mut sqlx::PgConnection,
    me: UserId,
    room_id: RoomId,
) -> Result<Room, Error> {
    let room = repo::lock_room(db, room_id)
        .await?
        .ok_or(Error::NotFound("no such room"))?;
    let role = repo::role(db, room_id, me)
        .await?
        .ok_or(Error::PermissionDenied("you are not a member of this room"))?;
    if !room.is_group {
        return Err(Error::FailedPrecondition(
            "a direct room's members cannot change",
        ));
    }
    if !role.is_admin() {
        return Err(Error::PermissionDenied(
            "only the room's admins can do this",
        ));
    }
    Ok(room)
}

/// `list-rooms` cursors are `<activity in µs>_<room id>` of the last room of a page.
fn parse_cursor(cursor: &str) -> Result<(DateTime<Utc>, RoomId), Error> {
    let invalid = || Error::invalid("cursor", "is not a cursor this server gave");
    let (micros, id) = cursor.split_once('_').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok((at, RoomId(id)))
}
