//! calls-svc with the real friends-svc and chat-svc beside it, in-process on real sockets and
//! a fresh database, driven by real gRPC clients: ringing, answering, declining, busy,
//! glare, replacing, authorization, the CALL messages, and the sweeper's deadlines (also
//! applied by a second replica).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use clap::Parser;
use parley_common::testing::TestDatabase;
use parley_proto::{
    calls::v1::{
        self as calls, CallState, EndReason, Media, call_event::Payload,
        calls_service_client::CallsServiceClient,
    },
    chat::v1::{self as chat, chat_service_client::ChatServiceClient},
    friends::v1::{self as friends, friends_service_client::FriendsServiceClient},
};
use tokio::sync::oneshot;
use tonic::{Code, Streaming, transport::Channel};
use uuid::Uuid;

const URL_KEYS: &str = "test:dGVzdC1tZWRpYS11cmwta2V5LW9mLWF0LWxlYXN0LTMyLWJ5dGVz";
const EDGE: &str = "edge-1";

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

type Calls = CallsServiceClient<Channel>;

/// A calls-svc replica running in this process.
struct Replica {
    client: Calls,
    sweeper: Arc<parley_calls_svc::sweeper::Sweeper>,
    _stop: oneshot::Sender<()>,
}

struct System {
    chat: ChatServiceClient<Channel>,
    friends: FriendsServiceClient<Channel>,
    /// The first replica.
    calls: Option<Calls>,
    sweeper: Option<Arc<parley_calls_svc::sweeper::Sweeper>>,
    chat_addr: SocketAddr,
    friends_addr: SocketAddr,
    database: TestDatabase,
    _stops: Vec<oneshot::Sender<()>>,
}

impl System {
    /// The system, calls-svc with the flags `extra` on top of the test defaults (the
    /// sweeper runs only when a test asks, unless `extra` says otherwise).
    async fn start(extra: &[&str]) -> Self {
        let database = TestDatabase::create().await;
        let mut stops = Vec::new();
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
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(friends_app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        stops.push(stop);

        let media_addr = free_port();
        let chat_config = parley_chat_svc::config::Config::try_parse_from([
            "chat-svc",
            "--listen-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "",
            "--friends-url",
            &format!("http://{friends_addr}"),
            "--database-url",
            &database.url,
            "--media-url",
            &format!("http://{media_addr}"),
            "--media-url-keys",
            URL_KEYS,
            "--media-public-url",
            "http://127.0.0.1:1",
        ])
        .unwrap();
        let chat_app = parley_chat_svc::startup::Application::build(&chat_config)
            .await
            .unwrap();
        let chat_addr = chat_app.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(chat_app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        stops.push(stop);

        let mut system = Self {
            chat: ChatServiceClient::new(channel(chat_addr)),
            friends: FriendsServiceClient::new(channel(friends_addr)),
            calls: None,
            sweeper: None,
            chat_addr,
            friends_addr,
            database,
            _stops: stops,
        };
        let first = system.replica(extra).await;
        system.calls = Some(first.client);
        system.sweeper = Some(first.sweeper);
        system._stops.push(first._stop);
        system
    }

    fn calls(&self) -> Calls {
        self.calls.clone().unwrap()
    }

    async fn sweep(&self) -> parley_calls_svc::sweeper::Swept {
        self.sweeper.as_ref().unwrap().round().await.unwrap()
    }

    /// Another calls-svc on the same database and services.
    async fn replica(&self, extra: &[&str]) -> Replica {
        self.replica_with_chat(&format!("http://{}", self.chat_addr), extra)
            .await
    }

    /// Another calls-svc on the same database, reaching chat-svc at `chat_url`.
    async fn replica_with_chat(&self, chat_url: &str, extra: &[&str]) -> Replica {
        let mut args = vec![
            "calls-svc".to_owned(),
            "--listen-addr".into(),
            "127.0.0.1:0".into(),
            "--metrics-addr".into(),
            String::new(),
            "--chat-url".into(),
            chat_url.to_owned(),
            "--friends-url".into(),
            format!("http://{}", self.friends_addr),
            "--database-url".into(),
            self.database.url.clone(),
            "--call-sweep-interval".into(),
            "1h".into(),
            "--turn-secret".into(),
            "north-wind".into(),
            "--turn-urls".into(),
            "stun:127.0.0.1:3478,turn:127.0.0.1:3478".into(),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let config = parley_calls_svc::config::Config::try_parse_from(args).unwrap();
        let app = parley_calls_svc::startup::Application::build(&config)
            .await
            .unwrap();
        let addr = app.local_addr().unwrap();
        let sweeper = app.sweeper();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Replica {
            client: CallsServiceClient::new(channel(addr)),
            sweeper,
            _stop: stop,
        }
    }

    async fn user(&mut self, name: &str) -> String {
        let id = Uuid::new_v4().to_string();
        self.friends
            .upsert_user(friends::UpsertUserRequest {
                id: id.clone(),
                username: name.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        id
    }

    async fn befriend(&mut self, a: &str, b: &str) {
        let request = self
            .friends
            .send_friend_request(friends::SendFriendRequestRequest {
                acting_user_id: a.to_owned(),
                target: Some(friends::send_friend_request_request::Target::UserId(
                    b.to_owned(),
                )),
            })
            .await
            .unwrap()
            .into_inner()
            .request
            .unwrap();
        self.friends
            .accept_friend_request(friends::AcceptFriendRequestRequest {
                acting_user_id: b.to_owned(),
                request_id: request.id,
            })
            .await
            .unwrap();
    }

    /// Registers a socket of `device` on the test edge.
    async fn open(&mut self, device: &calls::Device, socket: &str) -> calls::OpenDeviceResponse {
        self.calls()
            .open_device(calls::OpenDeviceRequest {
                device: Some(device.clone()),
                edge_id: EDGE.into(),
                socket_id: socket.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn invite(
        &mut self,
        caller: &calls::Device,
        callee: &str,
    ) -> Result<calls::InviteResponse, tonic::Status> {
        self.calls()
            .invite(calls::InviteRequest {
                actor: Some(caller.clone()),
                target: Some(calls::invite_request::Target::ReceiverId(callee.to_owned())),
                media: Media::Video.into(),
                offer: Some(offer()),
                client_call_id: None,
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn accept(
        &mut self,
        device: &calls::Device,
        call: &str,
    ) -> Result<calls::AcceptResponse, tonic::Status> {
        self.calls()
            .accept(calls::AcceptRequest {
                actor: Some(device.clone()),
                call_id: call.to_owned(),
                answer: Some(calls::SessionDescription {
                    r#type: "answer".into(),
                    sdp: "v=0 answer".into(),
                }),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn hangup(
        &mut self,
        device: &calls::Device,
        call: &str,
    ) -> Result<calls::Call, tonic::Status> {
        self.calls()
            .hangup(calls::HangupRequest {
                actor: Some(device.clone()),
                call_id: call.to_owned(),
                reason: EndReason::Unspecified.into(),
            })
            .await
            .map(|answer| answer.into_inner().call.unwrap())
    }

    async fn subscribe(&mut self) -> Streaming<calls::CallEvent> {
        self.calls()
            .subscribe(calls::SubscribeRequest {
                edge_id: EDGE.into(),
                after_event_id: None,
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// The CALL messages of `room` as `user` sees them, once there are `count` of them.
    async fn call_messages(&mut self, user: &str, room: &str, count: usize) -> Vec<chat::Message> {
        for _ in 0..100 {
            let messages: Vec<chat::Message> = self
                .chat
                .get_history(chat::GetHistoryRequest {
                    acting_user_id: user.to_owned(),
                    room_id: room.to_owned(),
                    limit: Some(50),
                    cursor: None,
                })
                .await
                .unwrap()
                .into_inner()
                .messages
                .into_iter()
                .filter(|message| message.message_type == chat::MessageType::Call as i32)
                .collect();
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {count} CALL messages in the room");
    }

    async fn unread(&mut self, user: &str, room: &str) -> u32 {
        self.chat
            .list_rooms(chat::ListRoomsRequest {
                acting_user_id: user.to_owned(),
                limit: None,
                cursor: None,
            })
            .await
            .unwrap()
            .into_inner()
            .rooms
            .into_iter()
            .find(|summary| summary.room.as_ref().is_some_and(|r| r.id == room))
            .map(|summary| summary.unread_count)
            .unwrap()
    }
}

fn device(user: &str, name: &str) -> calls::Device {
    calls::Device {
        user_id: user.to_owned(),
        device_id: name.to_owned(),
    }
}

fn offer() -> calls::SessionDescription {
    calls::SessionDescription {
        r#type: "offer".into(),
        sdp: "v=0 offer".into(),
    }
}

fn candidate(n: u32) -> calls::IceCandidate {
    calls::IceCandidate {
        candidate: format!(
            "candidate:{n} 1 udp 2122260223 127.0.0.1 {} typ host",
            50_000 + n
        ),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: None,
    }
}

/// The next event `matches` accepts, skipping others.
async fn next_event(
    events: &mut Streaming<calls::CallEvent>,
    matches: impl Fn(&calls::CallEvent) -> bool,
) -> calls::CallEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.message().await.unwrap().expect("the stream goes on");
            if matches(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the event came")
}

fn to_user(event: &calls::CallEvent, user: &str) -> bool {
    event
        .recipients
        .iter()
        .any(|r| r.user_id == user && r.device_id.is_none())
}

fn to_device(event: &calls::CallEvent, device: &calls::Device) -> bool {
    event
        .recipients
        .iter()
        .any(|r| r.user_id == device.user_id && r.device_id.as_deref() == Some(&device.device_id))
}

fn ended_with(event: &calls::CallEvent, call: &str, reason: EndReason) -> bool {
    matches!(&event.payload, Some(Payload::Ended(ended))
        if ended.call.as_ref().is_some_and(|c| c.id == call && c.end_reason == reason as i32))
}

/// Two friends, Alice (one phone) and Bob (a phone and a laptop), each device connected.
async fn alice_and_bob(
    system: &mut System,
) -> (String, String, calls::Device, calls::Device, calls::Device) {
    let alice = system.user("alice").await;
    let bob = system.user("bob").await;
    system.befriend(&alice, &bob).await;
    let (alice_phone, bob_phone, bob_laptop) = (
        device(&alice, "phone"),
        device(&bob, "phone"),
        device(&bob, "laptop"),
    );
    system.open(&alice_phone, "s-alice").await;
    system.open(&bob_phone, "s-bob-phone").await;
    system.open(&bob_laptop, "s-bob-laptop").await;
    (alice, bob, alice_phone, bob_phone, bob_laptop)
}

#[tokio::test]
async fn a_call_rings_every_device_the_first_accept_wins_and_is_logged_once() {
    let mut system = System::start(&[]).await;
    let (alice, bob, alice_phone, bob_phone, bob_laptop) = alice_and_bob(&mut system).await;
    let carol = system.user("carol").await;
    let mut events = system.subscribe().await;

    let invited = system.invite(&alice_phone, &bob).await.unwrap();
    let call = invited.call.unwrap();
    assert_eq!(call.state, CallState::Ringing as i32);
    assert!(!invited.merged);
    assert!(
        invited
            .ice_servers
            .iter()
            .any(|s| s.username.as_deref().is_some_and(|u| u.ends_with(&alice))),
        "TURN credentials for the caller"
    );
    let incoming = next_event(&mut events, |e| {
        matches!(e.payload, Some(Payload::Incoming(_)))
    })
    .await;
    assert!(to_user(&incoming, &bob));
    let Some(Payload::Incoming(incoming)) = incoming.payload else {
        unreachable!()
    };
    assert_eq!(incoming.offer, Some(offer()));
    assert!(incoming.ring_remaining_ms > 50_000);
    assert!(
        incoming
            .ice_servers
            .iter()
            .any(|s| s.username.as_deref().is_some_and(|u| u.ends_with(&bob)))
    );

    // The caller's candidates before the answer go to every callee device, and are kept.
    system
        .calls()
        .ice(calls::IceRequest {
            actor: Some(alice_phone.clone()),
            call_id: call.id.clone(),
            candidates: vec![candidate(1), candidate(2)],
            end: false,
        })
        .await
        .unwrap();
    let ice = next_event(&mut events, |e| matches!(e.payload, Some(Payload::Ice(_)))).await;
    assert!(to_user(&ice, &bob));

    // Outsiders learn nothing.
    let carol_phone = device(&carol, "phone");
    assert_eq!(
        system
            .accept(&carol_phone, &call.id)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        system
            .hangup(&carol_phone, &call.id)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    let accepted = system.accept(&bob_laptop, &call.id).await.unwrap();
    assert_eq!(
        accepted.call.as_ref().unwrap().state,
        CallState::Connecting as i32
    );
    assert_eq!(accepted.candidates, vec![candidate(1), candidate(2)]);
    let second = system.accept(&bob_phone, &call.id).await.unwrap_err();
    assert_eq!(second.code(), Code::FailedPrecondition);
    let answered = next_event(&mut events, |e| {
        matches!(e.payload, Some(Payload::Answered(_)))
    })
    .await;
    assert!(to_device(&answered, &alice_phone));
    let dismissed = next_event(&mut events, |e| {
        matches!(e.payload, Some(Payload::Dismissed(_)))
    })
    .await;
    assert!(to_device(&dismissed, &bob_phone));
    assert!(
        !to_device(&dismissed, &bob_laptop),
        "not to the device that answered"
    );

    // After the answer, candidates go to the answering device only; the other one may not send.
    system
        .calls()
        .ice(calls::IceRequest {
            actor: Some(bob_laptop.clone()),
            call_id: call.id.clone(),
            candidates: vec![candidate(3)],
            end: true,
        })
        .await
        .unwrap();
    let ice = next_event(&mut events, |e| matches!(e.payload, Some(Payload::Ice(_)))).await;
    assert!(to_device(&ice, &alice_phone));
    let refused = system
        .calls()
        .ice(calls::IceRequest {
            actor: Some(bob_phone.clone()),
            call_id: call.id.clone(),
            candidates: vec![candidate(4)],
            end: false,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let active = system
        .calls()
        .connected(calls::ConnectedRequest {
            actor: Some(alice_phone.clone()),
            call_id: call.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .call
        .unwrap();
    assert_eq!(active.state, CallState::Active as i32);
    let updated = next_event(&mut events, |e| {
        matches!(&e.payload, Some(Payload::Updated(u)) if u.call.as_ref().is_some_and(|c| c.state == CallState::Active as i32))
    })
    .await;
    assert!(to_user(&updated, &alice) && to_user(&updated, &bob));

    let ended = system.hangup(&bob_laptop, &call.id).await.unwrap();
    assert_eq!(ended.end_reason, EndReason::Hangup as i32);
    assert!(ended.duration_ms.is_some());
    let again = system.hangup(&alice_phone, &call.id).await.unwrap();
    assert_eq!(
        (again.id, again.end_reason, again.duration_ms),
        (ended.id.clone(), ended.end_reason, ended.duration_ms),
        "hanging up an ended call answers it as it is"
    );
    next_event(&mut events, |e| ended_with(e, &call.id, EndReason::Hangup)).await;

    let messages = system.call_messages(&alice, &call.room_id, 1).await;
    let log = messages[0].call.as_ref().unwrap();
    assert_eq!(log.call_id, call.id);
    assert_eq!(log.outcome, calls::CallOutcome::Answered as i32);
    assert!(messages[0].content.starts_with("Video call · "));
    // A sweep retries only unlogged calls: still exactly one message.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    system.sweep().await;
    assert_eq!(
        system.call_messages(&alice, &call.room_id, 1).await.len(),
        1
    );
    assert!(
        system
            .calls()
            .list_calls(calls::ListCallsRequest {
                actor: Some(alice_phone)
            })
            .await
            .unwrap()
            .into_inner()
            .calls
            .is_empty()
    );
}

#[tokio::test]
async fn decline_busy_and_authorization() {
    let mut system = System::start(&[]).await;
    let (alice, bob, alice_phone, bob_phone, _) = alice_and_bob(&mut system).await;
    let mut events = system.subscribe().await;

    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    let declined = system
        .calls()
        .decline(calls::DeclineRequest {
            actor: Some(bob_phone.clone()),
            call_id: call.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .call
        .unwrap();
    assert_eq!(declined.end_reason, EndReason::Declined as i32);
    let ended = next_event(&mut events, |e| {
        ended_with(e, &call.id, EndReason::Declined)
    })
    .await;
    assert!(to_user(&ended, &alice) && to_user(&ended, &bob));
    let messages = system.call_messages(&bob, &call.room_id, 1).await;
    assert_eq!(messages[0].content, "Declined video call");

    // Bob in a call with Alice: Carol's call is BUSY at once and does not ring.
    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    system.accept(&bob_phone, &call.id).await.unwrap();
    let carol = system.user("carol").await;
    system.befriend(&carol, &bob).await;
    let carol_phone = device(&carol, "phone");
    let busy = system
        .invite(&carol_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    assert_eq!(busy.state, CallState::Ended as i32);
    assert_eq!(busy.end_reason, EndReason::Busy as i32);
    let messages = system.call_messages(&bob, &busy.room_id, 1).await;
    assert_eq!(
        messages[0].call.as_ref().unwrap().outcome,
        calls::CallOutcome::Busy as i32
    );

    // Not friends: refused. Oneself: refused.
    let dave = system.user("dave").await;
    let refused = system
        .invite(&device(&dave, "d"), &alice)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = system.invite(&alice_phone, &alice).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let bad = system
        .calls()
        .invite(calls::InviteRequest {
            actor: Some(device(&alice, "bad device!")),
            target: Some(calls::invite_request::Target::ReceiverId(bob.clone())),
            media: Media::Audio.into(),
            offer: Some(offer()),
            client_call_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn crossing_invites_merge_and_a_device_calling_again_replaces_its_call() {
    let mut system = System::start(&[]).await;
    let (alice, bob, alice_phone, bob_phone, _) = alice_and_bob(&mut system).await;
    let mut events = system.subscribe().await;

    let first = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    let crossing = system.invite(&bob_phone, &alice).await.unwrap();
    assert!(crossing.merged);
    assert_eq!(crossing.call.as_ref().unwrap().id, first.id);
    assert_eq!(crossing.offer, Some(offer()));

    // Another device of Alice may not place a second ringing call.
    let tablet = device(&alice, "tablet");
    assert_eq!(
        system.invite(&tablet, &bob).await.unwrap_err().code(),
        Code::FailedPrecondition
    );

    let second = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    assert_ne!(second.id, first.id);
    next_event(&mut events, |e| {
        ended_with(e, &first.id, EndReason::Replaced)
    })
    .await;
    let live = system
        .calls()
        .list_calls(calls::ListCallsRequest {
            actor: Some(bob_phone.clone()),
        })
        .await
        .unwrap()
        .into_inner()
        .calls;
    assert_eq!(
        live.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![second.id.clone()]
    );

    // The same key again answers the call it made, emitting nothing.
    let keyed = |key: &str| calls::InviteRequest {
        actor: Some(bob_phone.clone()),
        target: Some(calls::invite_request::Target::ReceiverId(alice.clone())),
        media: Media::Audio.into(),
        offer: Some(offer()),
        client_call_id: Some(key.to_owned()),
    };
    system.hangup(&alice_phone, &second.id).await.unwrap();
    let once = system
        .calls()
        .invite(keyed("k1"))
        .await
        .unwrap()
        .into_inner()
        .call
        .unwrap();
    let twice = system
        .calls()
        .invite(keyed("k1"))
        .await
        .unwrap()
        .into_inner()
        .call
        .unwrap();
    assert_eq!(once.id, twice.id);
    assert_eq!(twice.client_call_id.as_deref(), Some("k1"));
}

#[tokio::test]
async fn an_unanswered_call_is_missed_at_its_deadline_and_unread_for_the_callee() {
    let mut system = System::start(&["--call-ring", "1s", "--call-unanswered-per-pair", "2"]).await;
    let (alice, bob, alice_phone, _, _) = alice_and_bob(&mut system).await;
    let mut events = system.subscribe().await;
    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    system.sweep().await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // A device connecting after the ring deadline is not rung.
    let late = system.open(&device(&bob, "tablet"), "s-bob-tablet").await;
    assert!(late.ringing.is_empty());
    system.sweep().await;
    next_event(&mut events, |e| ended_with(e, &call.id, EndReason::Missed)).await;
    let messages = system.call_messages(&bob, &call.room_id, 1).await;
    assert_eq!(messages[0].content, "Missed video call");
    assert_eq!(system.unread(&bob, &call.room_id).await, 1);

    // Two unanswered calls in ten minutes are the limit: the third waits.
    let second = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    system.hangup(&alice_phone, &second.id).await.unwrap();
    let limited = system.invite(&alice_phone, &bob).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted);
    assert!(limited.metadata().get("retry-after-ms").is_some());
    let _ = alice;
}

#[tokio::test]
async fn a_caller_whose_device_went_away_cancels_after_the_grace() {
    let mut system = System::start(&["--call-caller-grace", "1s"]).await;
    let (_, bob, alice_phone, _, _) = alice_and_bob(&mut system).await;
    let mut events = system.subscribe().await;
    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    // A device that connects while it rings is rung with the time left.
    let tablet = system.open(&device(&bob, "tablet"), "s-bob-tablet").await;
    assert_eq!(tablet.ringing.len(), 1);
    assert_eq!(tablet.ringing[0].offer, Some(offer()));
    system
        .calls()
        .close_device(calls::CloseDeviceRequest {
            device: Some(alice_phone.clone()),
            edge_id: EDGE.into(),
            socket_id: "s-alice".into(),
        })
        .await
        .unwrap();
    system.sweep().await;
    assert_eq!(
        system
            .calls()
            .list_calls(calls::ListCallsRequest {
                actor: Some(alice_phone.clone())
            })
            .await
            .unwrap()
            .into_inner()
            .calls
            .len(),
        1,
        "still ringing within the grace"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    system.sweep().await;
    next_event(&mut events, |e| {
        ended_with(e, &call.id, EndReason::Canceled)
    })
    .await;
}

#[tokio::test]
async fn another_replica_applies_the_deadline_of_a_call_the_first_placed() {
    let mut system = System::start(&["--call-ring", "1s"]).await;
    let (_, bob, alice_phone, _, _) = alice_and_bob(&mut system).await;
    let other = system.replica(&["--call-ring", "1s"]).await;
    // An edge following either replica hears every replica's events.
    let mut events = system.subscribe().await;
    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let swept = other.sweeper.round().await.unwrap();
    assert_eq!(swept.ended, 1);
    next_event(&mut events, |e| ended_with(e, &call.id, EndReason::Missed)).await;
    let messages = system.call_messages(&bob, &call.room_id, 1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(system.sweep().await.ended, 0, "nothing left to sweep");
}

#[tokio::test]
async fn an_edge_whose_lease_lapsed_loses_its_sockets() {
    let mut system =
        System::start(&["--call-resume-grace", "1s", "--call-caller-grace", "1s"]).await;
    let (_, bob, alice_phone, bob_phone, _) = alice_and_bob(&mut system).await;
    let mut events = system.subscribe().await;
    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    system.accept(&bob_phone, &call.id).await.unwrap();
    // The edge vouches for Alice's socket only, with a short lease, then dies.
    system
        .calls()
        .renew_edge_lease(calls::RenewEdgeLeaseRequest {
            edge_id: EDGE.into(),
            lease_ttl_ms: 300,
            sockets: vec![calls::EdgeSocket {
                device: Some(alice_phone.clone()),
                socket_id: "s-alice".into(),
            }],
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    system.sweep().await;
    // Lost now; the resume grace runs from here. Resuming on another edge keeps the call.
    let resumed = system
        .calls()
        .resume(calls::ResumeRequest {
            actor: Some(bob_phone.clone()),
            call_id: call.id.clone(),
            edge_id: "edge-2".into(),
            socket_id: "s-bob-2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resumed.peer, Some(alice_phone.clone()));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    system.sweep().await;
    next_event(&mut events, |e| {
        ended_with(e, &call.id, EndReason::ConnectionLost)
    })
    .await;
}

#[tokio::test]
async fn a_block_between_the_parties_ends_their_call_as_a_hang_up() {
    let mut system = System::start(&[]).await;
    let (alice, bob, alice_phone, bob_phone, _) = alice_and_bob(&mut system).await;
    let mut events = system.subscribe().await;
    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    system.accept(&bob_phone, &call.id).await.unwrap();
    system
        .friends
        .block_user(friends::BlockUserRequest {
            acting_user_id: bob.clone(),
            user_id: alice.clone(),
        })
        .await
        .unwrap();
    let ended = next_event(&mut events, |e| ended_with(e, &call.id, EndReason::Hangup)).await;
    assert!(to_user(&ended, &alice) && to_user(&ended, &bob));
    // Blocked: no new call either way.
    let refused = system.invite(&alice_phone, &bob).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn descriptions_relay_to_the_peer_and_a_resumed_device_gets_the_peers_candidates() {
    let mut system = System::start(&[]).await;
    let (alice, bob, alice_phone, bob_phone, bob_laptop) = alice_and_bob(&mut system).await;
    let servers = system
        .calls()
        .get_ice_servers(calls::GetIceServersRequest {
            acting_user_id: alice.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(servers.expires_at.is_some());
    assert_eq!(
        servers.ice_servers.len(),
        2,
        "STUN bare, TURN with credentials"
    );
    let mut events = system.subscribe().await;
    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    let negotiate = |actor: &calls::Device, kind: &str| calls::NegotiateRequest {
        actor: Some(actor.clone()),
        call_id: call.id.clone(),
        description: Some(calls::SessionDescription {
            r#type: kind.into(),
            sdp: "v=0 again".into(),
        }),
    };
    let early = system
        .calls()
        .negotiate(negotiate(&alice_phone, "offer"))
        .await
        .unwrap_err();
    assert_eq!(
        early.code(),
        Code::FailedPrecondition,
        "not before the answer"
    );
    system.accept(&bob_phone, &call.id).await.unwrap();
    let bad = system
        .calls()
        .negotiate(negotiate(&alice_phone, "pranswer"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let other = system
        .calls()
        .negotiate(negotiate(&bob_laptop, "offer"))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    system
        .calls()
        .negotiate(negotiate(&alice_phone, "offer"))
        .await
        .unwrap();
    let relayed = next_event(&mut events, |e| {
        matches!(e.payload, Some(Payload::Negotiate(_)))
    })
    .await;
    assert!(to_device(&relayed, &bob_phone));

    system
        .calls()
        .ice(calls::IceRequest {
            actor: Some(bob_phone.clone()),
            call_id: call.id.clone(),
            candidates: vec![candidate(7)],
            end: false,
        })
        .await
        .unwrap();
    let resumed = system
        .calls()
        .resume(calls::ResumeRequest {
            actor: Some(alice_phone.clone()),
            call_id: call.id.clone(),
            edge_id: "edge-2".into(),
            socket_id: "s-alice-2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resumed.peer, Some(bob_phone.clone()));
    assert_eq!(resumed.candidates, vec![candidate(7)]);
    let outsider = system
        .calls()
        .resume(calls::ResumeRequest {
            actor: Some(bob_laptop.clone()),
            call_id: call.id.clone(),
            edge_id: "edge-2".into(),
            socket_id: "s-bob-laptop-2".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(outsider.code(), Code::PermissionDenied);
    let too_many = system
        .calls()
        .ice(calls::IceRequest {
            actor: Some(alice_phone.clone()),
            call_id: call.id.clone(),
            candidates: (0..21).map(candidate).collect(),
            end: false,
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument);
    // The state a reconnecting device is shown.
    let state = system.open(&alice_phone, "s-alice-3").await;
    assert_eq!(state.calls.len(), 1);
    assert_eq!(state.calls[0].state, CallState::Connecting as i32);
    assert!(state.ringing.is_empty());
}

#[tokio::test]
async fn racing_accepts_and_crossing_invites_each_make_one_winner() {
    let mut system = System::start(&[]).await;
    let (alice, bob, alice_phone, bob_phone, bob_laptop) = alice_and_bob(&mut system).await;
    // Both invite at once: one call between them, whoever came first.
    let (mut a, mut b) = (system.calls(), system.calls());
    let invite = |actor: &calls::Device, receiver: &str| calls::InviteRequest {
        actor: Some(actor.clone()),
        target: Some(calls::invite_request::Target::ReceiverId(
            receiver.to_owned(),
        )),
        media: Media::Audio.into(),
        offer: Some(offer()),
        client_call_id: None,
    };
    let (from_alice, from_bob) = tokio::join!(
        a.invite(invite(&alice_phone, &bob)),
        b.invite(invite(&bob_phone, &alice))
    );
    let (from_alice, from_bob) = (
        from_alice.unwrap().into_inner(),
        from_bob.unwrap().into_inner(),
    );
    assert_eq!(
        from_alice.call.as_ref().unwrap().id,
        from_bob.call.as_ref().unwrap().id
    );
    assert!(
        from_alice.merged != from_bob.merged,
        "exactly one answer is the merged call"
    );
    let call = from_alice.call.unwrap();
    let callee = if from_alice.merged {
        alice_phone.clone()
    } else {
        bob_phone.clone()
    };
    let other_callee = if from_alice.merged {
        device(&alice, "tablet")
    } else {
        bob_laptop.clone()
    };

    let (mut a, mut b) = (system.calls(), system.calls());
    let accept = |actor: &calls::Device| calls::AcceptRequest {
        actor: Some(actor.clone()),
        call_id: call.id.clone(),
        answer: Some(calls::SessionDescription {
            r#type: "answer".into(),
            sdp: "v=0".into(),
        }),
    };
    let (first, second) = tokio::join!(a.accept(accept(&callee)), b.accept(accept(&other_callee)));
    let codes = [first.map(|_| Code::Ok), second.map(|_| Code::Ok)]
        .map(|result| result.unwrap_or_else(|status| status.code()));
    assert!(
        codes.contains(&Code::Ok) && codes.contains(&Code::FailedPrecondition),
        "one accept wins: {codes:?}"
    );
}

#[tokio::test]
async fn a_call_message_chat_svc_could_not_take_is_written_by_a_later_sweep() {
    let mut system = System::start(&[]).await;
    let (_, bob, alice_phone, bob_phone, _) = alice_and_bob(&mut system).await;
    // This replica cannot reach chat-svc: the decline commits, its CALL message waits.
    let cut_off = system
        .replica_with_chat(&format!("http://{}", free_port()), &[])
        .await;
    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    let mut cut_off_client = cut_off.client.clone();
    cut_off_client
        .decline(calls::DeclineRequest {
            actor: Some(bob_phone.clone()),
            call_id: call.id.clone(),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let history = system
        .chat
        .get_history(chat::GetHistoryRequest {
            acting_user_id: bob.clone(),
            room_id: call.room_id.clone(),
            limit: Some(50),
            cursor: None,
        })
        .await
        .unwrap()
        .into_inner()
        .messages;
    assert!(
        history
            .iter()
            .all(|m| m.message_type != chat::MessageType::Call as i32),
        "not written while chat-svc was out of reach"
    );
    // Past the retry delay, a sweep of a replica that reaches chat-svc writes it, once.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(system.sweep().await.logged, 1);
    let messages = system.call_messages(&bob, &call.room_id, 1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].content, "Declined video call");
    assert_eq!(system.sweep().await.logged, 0, "recorded as written");
}

/// A device that reconnects registers its socket (`OpenDevice`, from the edge) while its
/// client already sends `call-resume` on that socket: both must go through. (They took the
/// socket row and the call row in opposite orders, and Postgres broke the deadlock by failing
/// one of them: the fault test saw `call-resume` answered INTERNAL.)
#[tokio::test]
async fn a_reconnecting_device_registers_and_resumes_on_one_socket_at_once() {
    let mut system = System::start(&[]).await;
    let (_, bob, alice_phone, bob_phone, _) = alice_and_bob(&mut system).await;
    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    system.accept(&bob_phone, &call.id).await.unwrap();
    for round in 0..40 {
        let socket = format!("s-bob-again-{round}");
        let (mut a, mut b) = (system.calls(), system.calls());
        let (opened, resumed) = tokio::join!(
            a.open_device(calls::OpenDeviceRequest {
                device: Some(bob_phone.clone()),
                edge_id: EDGE.into(),
                socket_id: socket.clone(),
            }),
            b.resume(calls::ResumeRequest {
                actor: Some(bob_phone.clone()),
                call_id: call.id.clone(),
                edge_id: EDGE.into(),
                socket_id: socket.clone(),
            })
        );
        let codes = [opened.map(|_| Code::Ok), resumed.map(|_| Code::Ok)]
            .map(|result| result.unwrap_or_else(|status| status.code()));
        assert_eq!(codes, [Code::Ok, Code::Ok], "round {round}");
    }
}

#[tokio::test]
async fn at_most_two_hundred_candidates_of_a_party_are_kept_however_they_arrive() {
    let mut system = System::start(&[]).await;
    let (_alice, bob, alice_phone, bob_phone, _bob_laptop) = alice_and_bob(&mut system).await;
    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    // 14 events of 15: the last one crosses the cap of 200 and keeps only what fits.
    for batch in 0..14u32 {
        system
            .calls()
            .ice(calls::IceRequest {
                actor: Some(alice_phone.clone()),
                call_id: call.id.clone(),
                candidates: (0..15).map(|n| candidate(batch * 15 + n)).collect(),
                end: false,
            })
            .await
            .unwrap();
    }
    let accepted = system.accept(&bob_phone, &call.id).await.unwrap();
    assert_eq!(accepted.candidates.len(), 200);
    assert_eq!(accepted.candidates.last(), Some(&candidate(199)));
}

#[tokio::test]
async fn a_socket_only_a_lease_renewal_lists_is_registered_and_brings_its_device_back() {
    let mut system = System::start(&["--call-caller-grace", "1s"]).await;
    let (_, bob, alice_phone, _, _) = alice_and_bob(&mut system).await;
    let call = system
        .invite(&alice_phone, &bob)
        .await
        .unwrap()
        .call
        .unwrap();
    system
        .calls()
        .close_device(calls::CloseDeviceRequest {
            device: Some(alice_phone.clone()),
            edge_id: EDGE.into(),
            socket_id: "s-alice".into(),
        })
        .await
        .unwrap();
    // Alice's phone is back on a socket calls-svc never heard of (its OpenDevice was lost):
    // the edge's renewal lists it, and that registers it.
    system
        .calls()
        .renew_edge_lease(calls::RenewEdgeLeaseRequest {
            edge_id: EDGE.into(),
            lease_ttl_ms: 30_000,
            sockets: vec![calls::EdgeSocket {
                device: Some(alice_phone.clone()),
                socket_id: "s-alice-again".into(),
            }],
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    system.sweep().await;
    let live = system
        .calls()
        .list_calls(calls::ListCallsRequest {
            actor: Some(alice_phone.clone()),
        })
        .await
        .unwrap()
        .into_inner()
        .calls;
    assert_eq!(
        live.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [call.id.as_str()],
        "the caller is back, so the grace did not cancel the call"
    );
}
