//! The DM room of each pair of users, remembered so that a DM by receiver does not read
//! the database to find its room.

use std::{collections::HashMap, sync::Mutex};

use parley_common::lock::lock;

use crate::domain::{RoomId, UserId};

/// Pairs whose room is kept; past it the map starts over.
const CACHED_ROOMS: usize = 50_000;

/// The DM room of each recently active pair (smaller id first). A pair's DM room never
/// changes once made, so an entry never goes stale; past the bound the map starts over.
#[derive(Default)]
pub struct DirectRooms {
    rooms: Mutex<HashMap<(UserId, UserId), RoomId>>,
}

impl DirectRooms {
    pub fn get(&self, pair: (UserId, UserId)) -> Option<RoomId> {
        lock(&self.rooms).get(&pair).copied()
    }

    pub fn insert(&self, pair: (UserId, UserId), room: RoomId) {
        let mut rooms = lock(&self.rooms);
        if rooms.len() >= CACHED_ROOMS && !rooms.contains_key(&pair) {
            rooms.clear();
        }
        rooms.insert(pair, room);
    }
}
