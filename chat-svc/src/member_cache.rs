//! Who is in which room, kept in memory for the checks on hot paths (sends, typing, reads),
//! and kept true to the membership changes of other replicas.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use futures_util::StreamExt;
use parley_common::events::EventLog;
use parley_proto::chat::v1::{self as pb, chat_event::Payload};
use uuid::Uuid;

use parley_common::lock::lock;

use crate::domain::{RoomId, UserId};

/// Who is in a room, and whether it is a direct room (whose two members never change).
#[derive(Debug)]
pub struct RoomMembers {
    pub members: HashSet<UserId>,
    pub direct: bool,
}

impl RoomMembers {
    /// In a direct room, the member who is not `me`.
    pub fn other_than(&self, me: UserId) -> Option<UserId> {
        if !self.direct {
            return None;
        }
        self.members.iter().copied().find(|member| *member != me)
    }
}

/// Members of recently used rooms. Filled from the database on a miss and dropped by every
/// membership change: at commit by the replica that made it, and on its event by the others
/// (see [`follow_membership`]).
#[derive(Default)]
pub struct MemberCache {
    rooms: Mutex<HashMap<RoomId, Arc<RoomMembers>>>,
    /// Counts changes: a list read from the database before a change must not be cached
    /// after it.
    changes: Mutex<u64>,
}

/// Rooms whose members are kept; past it the cache starts over.
const CACHED_ROOMS: usize = 50_000;

impl MemberCache {
    pub fn get(&self, room: RoomId) -> Option<Arc<RoomMembers>> {
        lock(&self.rooms).get(&room).cloned()
    }

    /// A mark to take before reading members from the database, for [`Self::put`].
    pub fn mark(&self) -> u64 {
        *lock(&self.changes)
    }

    /// Caches members read after `mark`, unless a change came since.
    pub fn put(&self, room: RoomId, members: Arc<RoomMembers>, mark: u64) {
        let changes = lock(&self.changes);
        if *changes != mark {
            return;
        }
        let mut rooms = lock(&self.rooms);
        if rooms.len() >= CACHED_ROOMS {
            rooms.clear();
        }
        rooms.insert(room, members);
    }

    pub fn forget(&self, room: RoomId) {
        let mut changes = lock(&self.changes);
        *changes += 1;
        lock(&self.rooms).remove(&room);
    }

    fn forget_all(&self) {
        let mut changes = lock(&self.changes);
        *changes += 1;
        lock(&self.rooms).clear();
    }
}

/// Drops the cached members of every room whose membership another replica changed, as its
/// event arrives; runs until aborted. After missing events (the stream broke) every room is
/// dropped.
pub async fn follow_membership(log: Arc<EventLog<pb::ChatEvent>>, members: Arc<MemberCache>) {
    loop {
        let mut events = log.subscribe(None);
        members.forget_all();
        while let Some(Ok(event)) = events.next().await {
            if let Some(Payload::MembershipChanged(changed)) = event.payload
                && let Ok(room) = Uuid::parse_str(&changed.room_id)
            {
                members.forget(RoomId(room));
            }
        }
        // Cut off for falling behind, or the service is stopping (and aborts this task).
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
