//! Domain values into their protobuf messages.

use chrono::{DateTime, Utc};
use parley_common::time::to_timestamp;
use parley_proto::friends::v1 as pb;

use crate::repo::{Friend, FriendRequest, User};

pub fn user(user: &User) -> pb::User {
    pb::User {
        id: user.id.to_string(),
        username: user.username.clone(),
        avatar: user.avatar.clone(),
    }
}

pub fn request(request: &FriendRequest) -> pb::FriendRequest {
    pb::FriendRequest {
        id: request.id.to_string(),
        from_user: Some(user(&request.from)),
        to_user: Some(user(&request.to)),
        created_at: Some(to_timestamp(request.created_at)),
    }
}

pub fn friend(other: &User, since: DateTime<Utc>) -> pb::Friend {
    pb::Friend {
        user: Some(user(other)),
        since: Some(to_timestamp(since)),
    }
}

impl From<&Friend> for pb::Friend {
    fn from(value: &Friend) -> Self {
        friend(&value.user, value.since)
    }
}
