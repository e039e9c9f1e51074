//! Blocks end calls: friends-svc's graph stream is followed, and a block between two users
//! ends their live call as a plain hang-up (the block is not revealed). A gap in the stream
//! is made up for by asking friends-svc about every live call's pair.

use std::sync::Arc;

use parley_common::{
    follow::Followed,
    friends::{FriendsClient, watch_graph},
};
use parley_proto::friends::v1::{self as friends, graph_change::Change};
use uuid::Uuid;

use crate::{domain::UserId, service::Calls};

/// Follows the graph until aborted.
pub async fn watch(calls: Arc<Calls>, client: FriendsClient, subscriber_id: String) {
    watch_graph(&client, &subscriber_id, |followed| {
        let (calls, client) = (&calls, &client);
        async move {
            match followed {
                Followed::Event(change) => {
                    if let Some(Change::BlockAdded(block)) = change.change {
                        let id = |text: &str| Uuid::parse_str(text).ok().map(UserId);
                        if let (Some(a), Some(b)) = (id(&block.blocker_id), id(&block.blocked_id))
                            && let Err(error) = calls.blocked(a, b).await
                        {
                            tracing::warn!(%error, "cannot end the calls of a block");
                        }
                    }
                }
                Followed::Gap => recheck(calls, client).await,
            }
        }
    })
    .await;
}

/// Ends the live calls whose parties blocked each other while changes may have been missed.
async fn recheck(calls: &Calls, client: &FriendsClient) {
    let pairs = match calls.live_pairs().await {
        Ok(pairs) => pairs,
        Err(error) => {
            tracing::warn!(%error, "cannot list live calls to check for blocks");
            return;
        }
    };
    for (a, b) in pairs {
        let blocked = client
            .clone()
            .is_blocked(friends::IsBlockedRequest {
                user_id: a.to_string(),
                other_user_id: b.to_string(),
            })
            .await
            .map(|answer| answer.into_inner().blocked);
        match blocked {
            Ok(true) => {
                if let Err(error) = calls.blocked(a, b).await {
                    tracing::warn!(%error, "cannot end the calls of a block");
                }
            }
            Ok(false) => {}
            Err(status) => tracing::warn!(%status, "cannot ask friends-svc about a block"),
        }
    }
}
