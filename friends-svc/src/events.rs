//! What friends-svc tells edges (client events) and other services (graph changes).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use parley_common::{
    bus::{self, Bus, Publisher, Topic},
    events::EventLog,
    time::to_timestamp,
};
use parley_proto::friends::v1::{self as pb, friends_event::Payload, graph_change::Change};
use sqlx::PgPool;

// Users and requests become protobuf through the `From` impls of `crate::grpc`.
use crate::domain::{FriendRequest, RequestId, User, UserId};

/// Events kept for subscribers that reconnect, and as far as one may fall behind.
const EVENTS_KEPT: usize = 8192;

/// How each stream reaches every replica.
const CLIENT_TOPIC: Topic = Topic {
    table: "friends.outbox",
    channel: "parley_friends_events",
};
const GRAPH_TOPIC: Topic = Topic {
    table: "friends.outbox",
    channel: "parley_friends_graph",
};

/// The two event logs of friends-svc, filled with every replica's events in commit order.
/// A change stores its events (a [`Batch`]) in its own transaction, so every replica hears
/// them in commit order: a friendship's removal never before its creation.
pub struct Events {
    pub client: Arc<EventLog<pb::FriendsEvent>>,
    pub graph: Arc<EventLog<pb::GraphChange>>,
    to_clients: Publisher<pb::FriendsEvent>,
    to_services: Publisher<pb::GraphChange>,
}

/// The fan-out tasks of both streams.
pub struct FanOut([bus::FanOut; 2]);

impl FanOut {
    pub async fn listening(&self) {
        let [client, graph] = &self.0;
        tokio::join!(client.listening(), graph.listening());
    }

    pub async fn stop(self) {
        let [client, graph] = self.0;
        tokio::join!(client.stop(), graph.stop());
    }
}

impl Events {
    /// Publishes over `event_bus` to every replica (this one included).
    pub fn start(event_bus: &Bus, pool: PgPool) -> (Self, FanOut) {
        let client = Arc::new(event_bus.log(EVENTS_KEPT, CLIENT_TOPIC));
        let graph = Arc::new(event_bus.log(EVENTS_KEPT, GRAPH_TOPIC));
        let (to_clients, client_bus) = bus::start(
            event_bus,
            pool.clone(),
            CLIENT_TOPIC,
            client.clone(),
            |event: &mut pb::FriendsEvent, id| event.event_id = id,
        );
        let (to_services, graph_bus) = bus::start(
            event_bus,
            pool,
            GRAPH_TOPIC,
            graph.clone(),
            |event: &mut pb::GraphChange, id| event.event_id = id,
        );
        let events = Self {
            client,
            graph,
            to_clients,
            to_services,
        };
        (events, FanOut([client_bus, graph_bus]))
    }

    /// Ends every subscriber's stream: the service is shutting down.
    pub fn close(&self) {
        self.client.close();
        self.graph.close();
    }

    /// Stores the events of `batch` in `transaction`, to be announced when it commits.
    pub async fn store_in(
        &self,
        transaction: &mut sqlx::PgConnection,
        batch: Batch,
    ) -> Result<(), sqlx::Error> {
        self.to_clients.store_in(transaction, &batch.client).await?;
        self.to_services.store_in(transaction, &batch.graph).await
    }
}

/// The events of one change: to clients, and graph changes to other services.
#[derive(Default)]
pub struct Batch {
    client: Vec<pb::FriendsEvent>,
    graph: Vec<pb::GraphChange>,
}

impl Batch {
    fn for_users(&mut self, recipients: &[UserId], payload: Payload) {
        let recipient_user_ids = recipients.iter().map(UserId::to_string).collect();
        self.client.push(pb::FriendsEvent {
            // Numbered by each replica's log as it arrives.
            event_id: 0,
            recipient_user_ids,
            payload: Some(payload),
        });
    }

    fn graph_change(&mut self, change: Change) {
        self.graph.push(pb::GraphChange {
            event_id: 0,
            change: Some(change),
        });
    }

    /// `friend-request-received` to the recipient.
    pub fn request_received(&mut self, request: &FriendRequest) {
        self.for_users(
            &[request.to.id],
            Payload::FriendRequestReceived(pb::FriendRequestReceived {
                request: Some(request.into()),
            }),
        );
    }

    /// `friend-request-accepted` to both users, and the new edge of the graph.
    pub fn request_accepted(
        &mut self,
        request_id: RequestId,
        requester: &User,
        accepter: &User,
        since: DateTime<Utc>,
    ) {
        self.for_users(
            &[requester.id, accepter.id],
            Payload::FriendRequestAccepted(pb::FriendRequestAccepted {
                request_id: request_id.to_string(),
                requester: Some(requester.into()),
                accepter: Some(accepter.into()),
                since: Some(to_timestamp(since)),
            }),
        );
        self.graph_change(Change::FriendshipAdded(pb::FriendshipAdded {
            user_id: requester.id.to_string(),
            other_user_id: accepter.id.to_string(),
            since: Some(to_timestamp(since)),
        }));
    }

    /// `friend-request-cancelled` to the request's recipient.
    pub fn request_cancelled(&mut self, request_id: RequestId, recipient: UserId) {
        self.for_users(
            &[recipient],
            Payload::FriendRequestCancelled(pb::FriendRequestCancelled {
                request_id: request_id.to_string(),
            }),
        );
    }

    /// `friend-removed` to the former friend, and the removed edge of the graph.
    pub fn friendship_ended(&mut self, by: UserId, former_friend: UserId) {
        self.for_users(
            &[former_friend],
            Payload::FriendRemoved(pb::FriendRemoved {
                user_id: by.to_string(),
            }),
        );
        self.graph_change(Change::FriendshipRemoved(pb::FriendshipRemoved {
            user_id: by.to_string(),
            other_user_id: former_friend.to_string(),
        }));
    }

    pub fn block_added(&mut self, blocker: UserId, blocked: UserId) {
        self.graph_change(Change::BlockAdded(pb::BlockAdded {
            blocker_id: blocker.to_string(),
            blocked_id: blocked.to_string(),
        }));
    }

    pub fn block_removed(&mut self, blocker: UserId, blocked: UserId) {
        self.graph_change(Change::BlockRemoved(pb::BlockRemoved {
            blocker_id: blocker.to_string(),
            blocked_id: blocked.to_string(),
        }));
    }
}
