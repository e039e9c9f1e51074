//! What chat-svc's integration tests share: friends-svc and chat-svc started in-process on
//! one fresh database, real gRPC clients to both, and the users and rooms tests begin with.

#![allow(dead_code, reason = "each test file uses its own part")]

use std::time::Duration;

use parley_chat_svc::{config::Config, startup::Application};
use parley_common::{media_url::MediaUrlArgs, testing::TestDatabase};
use parley_proto::{
    chat::v1::{self as pb, chat_event::Payload, chat_service_client::ChatServiceClient},
    friends::v1::{self as friends, friends_service_client::FriendsServiceClient},
};
use tokio::sync::oneshot;
use tonic::{Streaming, transport::Channel};
use uuid::Uuid;

pub struct System {
    pub chat: ChatServiceClient<Channel>,
    pub friends: FriendsServiceClient<Channel>,
    pub database: TestDatabase,
    _stop: Vec<oneshot::Sender<()>>,
}

/// chat-svc's settings in tests: no limits, attachments off, media-svc where nothing
/// listens; `configure` changes what a test needs.
pub async fn spawn(configure: impl FnOnce(&mut Config)) -> System {
    let database = TestDatabase::create().await;
    let friends_app =
        parley_friends_svc::startup::Application::build(&parley_friends_svc::config::Config {
            metrics_addr: None,
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            database: database.args(),
            bus: database.bus(),
            internal: Default::default(),
            request_cooldowns: Default::default(),
        })
        .await
        .unwrap();
    let friends_addr = friends_app.local_addr().unwrap();
    let (stop_friends, friends_stopped) = oneshot::channel::<()>();
    tokio::spawn(friends_app.run_until_stopped(async move {
        let _ = friends_stopped.await;
    }));

    let mut config = Config {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        friends_url: format!("http://{friends_addr}"),
        media_url: "http://127.0.0.1:1".to_owned(),
        max_attachments: 10,
        media_urls: MediaUrlArgs {
            public_url: "https://media.example".to_owned(),
            url_keys: None,
            url_bucket: Duration::from_secs(3600),
        },
        message_rate_per_minute: 0,
        rooms_per_minute: 0,
        members_added_per_minute: 0,
        writers: 2,
        metrics_addr: None,
        database: database.args(),
        bus: database.bus(),
        internal: Default::default(),
    };
    configure(&mut config);
    let chat_app = Application::build(&config).await.unwrap();
    let chat_addr = chat_app.local_addr().unwrap();
    let (stop_chat, chat_stopped) = oneshot::channel::<()>();
    tokio::spawn(chat_app.run_until_stopped(async move {
        let _ = chat_stopped.await;
    }));

    System {
        chat: ChatServiceClient::connect(format!("http://{chat_addr}"))
            .await
            .unwrap(),
        friends: FriendsServiceClient::connect(format!("http://{friends_addr}"))
            .await
            .unwrap(),
        database,
        _stop: vec![stop_chat, stop_friends],
    }
}

impl System {
    /// A new user, known to friends-svc.
    pub async fn user(&self, name: &str) -> Uuid {
        let id = Uuid::new_v4();
        self.friends
            .clone()
            .upsert_user(friends::UpsertUserRequest {
                id: id.to_string(),
                username: name.to_owned(),
                avatar: None,
                issued_at: None,
            })
            .await
            .unwrap();
        id
    }

    pub async fn block(&self, me: Uuid, other: Uuid) {
        self.friends
            .clone()
            .block_user(friends::BlockUserRequest {
                acting_user_id: me.to_string(),
                user_id: other.to_string(),
            })
            .await
            .unwrap();
    }

    /// A private group room of `owner` with `members`; its id.
    pub async fn group(&self, owner: Uuid, members: &[Uuid]) -> String {
        self.chat
            .clone()
            .create_room(pb::CreateRoomRequest {
                acting_user_id: owner.to_string(),
                name: Some("team".to_owned()),
                is_group: true,
                member_ids: members.iter().map(Uuid::to_string).collect(),
                is_public: None,
            })
            .await
            .unwrap()
            .into_inner()
            .room
            .unwrap()
            .id
    }

    pub async fn send(
        &self,
        request: pb::SendMessageRequest,
    ) -> Result<pb::Message, tonic::Status> {
        self.chat
            .clone()
            .send_message(request)
            .await
            .map(|response| response.into_inner().message.unwrap())
    }

    /// The newest page of `room`'s history as `reader` sees it, newest first.
    pub async fn history(&self, reader: Uuid, room: &str) -> Vec<pb::Message> {
        self.chat
            .clone()
            .get_history(pb::GetHistoryRequest {
                acting_user_id: reader.to_string(),
                room_id: room.to_owned(),
                limit: None,
                cursor: None,
            })
            .await
            .unwrap()
            .into_inner()
            .messages
    }

    /// chat-svc's event stream, from now on.
    pub async fn events(&self) -> Streaming<pb::ChatEvent> {
        self.chat
            .clone()
            .subscribe(pb::SubscribeRequest {
                edge_id: "test".to_owned(),
                after_event_id: None,
            })
            .await
            .unwrap()
            .into_inner()
    }
}

/// A text message from `sender` to `room`.
pub fn to_room(sender: Uuid, room: &str) -> pb::SendMessageRequest {
    pb::SendMessageRequest {
        acting_user_id: sender.to_string(),
        target: Some(pb::send_message_request::Target::RoomId(room.to_owned())),
        content: "hello".to_owned(),
        message_type: pb::MessageType::Text.into(),
        ..Default::default()
    }
}

/// The code of a refused answer.
pub fn code<T: std::fmt::Debug>(answer: Result<T, tonic::Status>) -> tonic::Code {
    answer.expect_err("refused").code()
}

/// The next event that `wanted` picks, within a few seconds.
pub async fn next_event(
    events: &mut Streaming<pb::ChatEvent>,
    wanted: impl Fn(&Payload) -> bool,
) -> Payload {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.message().await.unwrap().unwrap();
            if let Some(payload) = event.payload
                && wanted(&payload)
            {
                return payload;
            }
        }
    })
    .await
    .expect("the event arrives")
}

/// Waits until `holds` answers true, for what chat-svc learns from friends-svc's stream
/// rather than at once (a block between two users whose pair it has cached): 10 s at most.
pub async fn eventually<F, Fut>(what: &str, mut holds: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !holds().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
