//! chat-svc's side of calls over real gRPC, against a real Postgres and a real friends-svc:
//! `ResolveCallTarget` (where a call goes) and `AppendCallMessage` (the one CALL message an
//! ended call leaves), as calls-svc calls them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::collections::HashMap;

use parley_proto::{
    calls::v1::{CallLog, CallOutcome, EndReason, Media},
    chat::v1::{self as pb, chat_event::Payload, resolve_call_target_request::Target},
};
use prost_types::Timestamp;
use support::{System, code, eventually, next_event, spawn, to_room};
use tonic::Code;
use uuid::Uuid;

impl System {
    async fn resolve(&self, me: Uuid, target: Target) -> Result<(String, String), tonic::Status> {
        self.chat
            .clone()
            .resolve_call_target(pb::ResolveCallTargetRequest {
                acting_user_id: me.to_string(),
                target: Some(target),
            })
            .await
            .map(|answer| {
                let answer = answer.into_inner();
                (answer.room_id, answer.peer_id)
            })
    }

    async fn append(
        &self,
        room: &str,
        call: &CallLog,
        read_by: &[Uuid],
    ) -> Result<pb::Message, tonic::Status> {
        self.chat
            .clone()
            .append_call_message(pb::AppendCallMessageRequest {
                room_id: room.to_owned(),
                call: Some(call.clone()),
                content: "Missed video call".to_owned(),
                read_by_user_ids: read_by.iter().map(Uuid::to_string).collect(),
            })
            .await
            .map(|answer| answer.into_inner().message.unwrap())
    }

    async fn dm(&self, me: Uuid, other: Uuid) -> String {
        self.resolve(me, Target::ReceiverId(other.to_string()))
            .await
            .unwrap()
            .0
    }

    async fn unread(&self, reader: Uuid, room: &str) -> (u32, Option<pb::Message>) {
        let rooms = self
            .chat
            .clone()
            .list_rooms(pb::ListRoomsRequest {
                acting_user_id: reader.to_string(),
                limit: None,
                cursor: None,
            })
            .await
            .unwrap()
            .into_inner()
            .rooms;
        let summary = rooms
            .into_iter()
            .find(|summary| summary.room.as_ref().unwrap().id == room)
            .expect("the room is listed");
        (summary.unread_count, summary.last_message)
    }

    async fn sync(&self, reader: Uuid, room: &str, seen: u64) -> Vec<pb::Message> {
        let rooms = self
            .chat
            .clone()
            .sync(pb::SyncRequest {
                acting_user_id: reader.to_string(),
                rooms: HashMap::from([(room.to_owned(), seen)]),
                limit: None,
            })
            .await
            .unwrap()
            .into_inner()
            .rooms;
        rooms.into_iter().next().unwrap().messages
    }
}

fn at(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

/// An answered video call of `caller` to `callee`, 4 s long.
fn answered(caller: Uuid, callee: Uuid) -> CallLog {
    CallLog {
        call_id: Uuid::new_v4().to_string(),
        media: Media::Video.into(),
        outcome: CallOutcome::Answered.into(),
        end_reason: EndReason::Hangup.into(),
        caller_id: caller.to_string(),
        callee_id: callee.to_string(),
        started_at: at(1_800_000_000),
        connected_at: at(1_800_000_003),
        ended_at: at(1_800_000_007),
        duration_ms: 4000,
    }
}

/// A call `callee` did not answer.
fn missed(caller: Uuid, callee: Uuid) -> CallLog {
    CallLog {
        outcome: CallOutcome::Missed.into(),
        end_reason: EndReason::Missed.into(),
        connected_at: None,
        duration_ms: 0,
        ..answered(caller, callee)
    }
}

#[tokio::test]
async fn a_call_target_is_the_pairs_dm_room_made_on_first_use_and_names_the_peer() {
    let system = spawn(|_| {}).await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    let mut events = system.events().await;

    let (room, peer) = system
        .resolve(alice, Target::ReceiverId(bob.to_string()))
        .await
        .unwrap();
    assert_eq!(peer, bob.to_string());
    // Made with the usual events: both users hear of the new room.
    let Payload::RoomCreated(created) =
        next_event(&mut events, |p| matches!(p, Payload::RoomCreated(_))).await
    else {
        unreachable!()
    };
    let created = created.room.unwrap();
    assert_eq!(created.id, room);
    assert!(!created.is_group);
    assert_eq!(created.members.len(), 2);

    // Again, by either side or by room: the same room, the other member as the peer.
    let again = system
        .resolve(bob, Target::ReceiverId(alice.to_string()))
        .await
        .unwrap();
    assert_eq!(again, (room.clone(), alice.to_string()));
    let by_room = system
        .resolve(alice, Target::RoomId(room.clone()))
        .await
        .unwrap();
    assert_eq!(by_room, (room.clone(), bob.to_string()));
}

#[tokio::test]
async fn a_call_target_gets_the_answers_a_message_would_and_no_group() {
    let system = spawn(|_| {}).await;
    let (alice, bob, carol, eve) = (
        system.user("alice").await,
        system.user("bob").await,
        system.user("carol").await,
        system.user("eve").await,
    );
    let room = system.dm(alice, bob).await;

    let group = system.group(alice, &[bob]).await;
    let refused = system.resolve(alice, Target::RoomId(group.clone())).await;
    assert_eq!(
        code(refused),
        Code::FailedPrecondition,
        "calls are one to one"
    );

    // An outsider, of the DM room and of the group.
    let outsider = system.resolve(eve, Target::RoomId(room.clone())).await;
    assert_eq!(code(outsider), Code::PermissionDenied);
    let outsider = system.resolve(eve, Target::RoomId(group)).await;
    assert_eq!(code(outsider), Code::PermissionDenied);

    // A block either way, by room or by receiver, and for a DM room not made yet.
    system.block(bob, alice).await;
    // The pair was cached (the room was made): chat-svc hears of the block from friends-svc.
    eventually("the block is seen", || async {
        let answer = system.resolve(alice, Target::RoomId(room.clone())).await;
        answer.is_err_and(|status| status.code() == Code::PermissionDenied)
    })
    .await;
    for (me, target) in [
        (alice, Target::RoomId(room.clone())),
        (alice, Target::ReceiverId(bob.to_string())),
        (bob, Target::ReceiverId(alice.to_string())),
    ] {
        let refused = system.resolve(me, target).await;
        assert_eq!(code(refused), Code::PermissionDenied);
    }
    system.block(carol, eve).await;
    let refused = system
        .resolve(eve, Target::ReceiverId(carol.to_string()))
        .await;
    assert_eq!(code(refused), Code::PermissionDenied);

    let oneself = system
        .resolve(alice, Target::ReceiverId(alice.to_string()))
        .await;
    assert_eq!(code(oneself), Code::InvalidArgument);
    let nobody = system
        .resolve(alice, Target::ReceiverId(Uuid::new_v4().to_string()))
        .await;
    assert_eq!(code(nobody), Code::NotFound);
    let no_room = system
        .resolve(alice, Target::RoomId(Uuid::new_v4().to_string()))
        .await;
    assert_eq!(code(no_room), Code::NotFound);
    let no_target = system
        .chat
        .clone()
        .resolve_call_target(pb::ResolveCallTargetRequest {
            acting_user_id: alice.to_string(),
            target: None,
        })
        .await;
    assert_eq!(code(no_target), Code::InvalidArgument);
}

#[tokio::test]
async fn a_missed_call_is_one_call_message_unread_for_the_callee_stored_once_on_retry() {
    // One message a minute: the caller's own text spends it, and the call's log is not
    // stopped by it.
    let system = spawn(|config| config.message_rate_per_minute = 1).await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    let room = system.dm(alice, bob).await;
    let text = system.send(to_room(alice, &room)).await.unwrap();
    assert_eq!(
        code(system.send(to_room(alice, &room)).await),
        Code::ResourceExhausted
    );
    let mut events = system.events().await;

    let call = missed(alice, bob);
    let message = system.append(&room, &call, &[alice]).await.unwrap();
    assert_eq!(message.message_type(), pb::MessageType::Call);
    assert_eq!(message.seq, text.seq + 1, "the next seq, no gap");
    assert_eq!(message.sender.as_ref().unwrap().id, alice.to_string());
    assert_eq!(message.sender.as_ref().unwrap().username, "alice");
    assert_eq!(message.receiver_id, Some(bob.to_string()));
    assert_eq!(message.content, "Missed video call");
    assert_eq!(
        message.client_msg_id,
        Some(format!("call:{}", call.call_id))
    );
    assert_eq!(message.call.as_ref(), Some(&call));

    // The stream opened after the text, but may still bring the text's event first: it
    // starts at the head its replica had read, which can lag the text's commit.
    let is_the_call = |p: &Payload| {
        matches!(p, Payload::NewMessage(new)
            if new.message.as_ref().is_some_and(|m| m.id == message.id))
    };
    let Payload::NewMessage(new) = next_event(&mut events, is_the_call).await else {
        unreachable!()
    };
    let announced = new.message.unwrap();
    assert_eq!(announced.call.as_ref(), Some(&call));

    // A retry (calls-svc did not hear back): the stored message, nothing stored or
    // announced again.
    let retried = system.append(&room, &call, &[alice]).await.unwrap();
    assert_eq!(retried.id, message.id);
    assert_eq!(retried.call.as_ref(), Some(&call));
    // Unread for the callee, read by the caller.
    assert_eq!(
        system.unread(bob, &room).await.0,
        2,
        "the text and the call"
    );
    assert_eq!(system.unread(alice, &room).await.0, 0);
    let later = system.send(to_room(bob, &room)).await.unwrap();
    assert_eq!(later.seq, message.seq + 1);
    let Payload::NewMessage(next) =
        next_event(&mut events, |p| matches!(p, Payload::NewMessage(_))).await
    else {
        unreachable!()
    };
    assert_eq!(
        next.message.unwrap().id,
        later.id,
        "the retry announced nothing"
    );

    // The details wherever the message is rendered.
    let history = system.history(bob, &room).await;
    let logged: Vec<&pb::Message> = history
        .iter()
        .filter(|found| found.message_type() == pb::MessageType::Call)
        .collect();
    assert_eq!(logged.len(), 1, "stored once");
    assert_eq!(logged[0].call.as_ref(), Some(&call));
    let synced = system.sync(bob, &room, text.seq).await;
    assert_eq!(synced[0].id, message.id);
    assert_eq!(synced[0].call.as_ref(), Some(&call));
}

#[tokio::test]
async fn an_answered_call_moves_the_read_pointers_of_those_who_took_part() {
    let system = spawn(|_| {}).await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    let room = system.dm(alice, bob).await;
    system.send(to_room(alice, &room)).await.unwrap();
    let mut events = system.events().await;

    let call = answered(alice, bob);
    let message = system.append(&room, &call, &[bob, alice]).await.unwrap();
    let Payload::MessagesRead(read) =
        next_event(&mut events, |p| matches!(p, Payload::MessagesRead(_))).await
    else {
        unreachable!()
    };
    assert_eq!(read.room_id, room);
    assert_eq!(read.user_id, bob.to_string());
    assert_eq!(read.message_id, message.id);
    // bob read the call, and alice's text before it.
    let (bob_unread, last) = system.unread(bob, &room).await;
    assert_eq!(bob_unread, 0);
    let last = last.unwrap();
    assert_eq!(last.id, message.id);
    assert_eq!(last.call.as_ref(), Some(&call), "list-rooms' last message");

    // A retry moves nothing and announces nothing: the next event is a later message's.
    system.append(&room, &call, &[bob, alice]).await.unwrap();
    let later = system.send(to_room(alice, &room)).await.unwrap();
    let next = next_event(&mut events, |p| {
        matches!(p, Payload::NewMessage(_) | Payload::MessagesRead(_))
    })
    .await;
    assert!(
        matches!(&next, Payload::NewMessage(new) if new.message.as_ref().unwrap().id == later.id),
        "{next:?}"
    );
}

#[tokio::test]
async fn a_call_is_logged_across_a_block_and_its_message_cannot_be_forged_or_edited() {
    let system = spawn(|_| {}).await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    let room = system.dm(alice, bob).await;

    // A block ends a live call: its log is written all the same.
    system.block(bob, alice).await;
    let call = answered(alice, bob);
    let message = system.append(&room, &call, &[alice, bob]).await.unwrap();
    assert_eq!(message.call.as_ref(), Some(&call));

    // Clients cannot post one, in the room or by receiver.
    let mut forged = pb::SendMessageRequest {
        message_type: pb::MessageType::Call.into(),
        ..to_room(bob, &room)
    };
    let refused = system.send(forged.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        refused.message(),
        "messageType: CALL messages come from the server"
    );
    forged.target = Some(pb::send_message_request::Target::ReceiverId(
        alice.to_string(),
    ));
    assert_eq!(code(system.send(forged).await), Code::InvalidArgument);

    // Nor rewrite its text: the caller is its sender, not its author.
    let edited = system
        .chat
        .clone()
        .edit_message(pb::EditMessageRequest {
            acting_user_id: alice.to_string(),
            message_id: message.id.clone(),
            content: "a 2 h call".to_owned(),
        })
        .await;
    assert_eq!(code(edited), Code::PermissionDenied);

    // Deleted, it is a tombstone without its details.
    system
        .chat
        .clone()
        .delete_message(pb::DeleteMessageRequest {
            acting_user_id: alice.to_string(),
            message_id: message.id.clone(),
        })
        .await
        .unwrap();
    let history = system.history(alice, &room).await;
    assert!(history[0].deleted);
    assert_eq!(history[0].call, None);
    assert_eq!(
        history[0].message_type(),
        pb::MessageType::Call,
        "still a call's place"
    );
}

#[tokio::test]
async fn a_call_log_goes_to_the_dm_room_of_its_two_parties_only() {
    let system = spawn(|_| {}).await;
    let (alice, bob, carol) = (
        system.user("alice").await,
        system.user("bob").await,
        system.user("carol").await,
    );
    let room = system.dm(alice, bob).await;
    let group = system.group(alice, &[bob]).await;

    let refused = system.append(&group, &missed(alice, bob), &[]).await;
    assert_eq!(code(refused), Code::FailedPrecondition, "a group room");
    let refused = system.append(&room, &missed(carol, bob), &[]).await;
    assert_eq!(
        code(refused),
        Code::FailedPrecondition,
        "not the caller's room"
    );
    let refused = system.append(&room, &missed(alice, carol), &[]).await;
    assert_eq!(
        code(refused),
        Code::FailedPrecondition,
        "not the callee's room"
    );
    let refused = system
        .append(&Uuid::new_v4().to_string(), &missed(alice, bob), &[])
        .await;
    assert_eq!(code(refused), Code::NotFound);

    let refused = system.append(&room, &missed(alice, bob), &[carol]).await;
    assert_eq!(code(refused), Code::InvalidArgument, "read by a stranger");
    let malformed = CallLog {
        media: Media::Unspecified.into(),
        ..missed(alice, bob)
    };
    assert_eq!(
        code(system.append(&room, &malformed, &[]).await),
        Code::InvalidArgument
    );
    let empty = system
        .chat
        .clone()
        .append_call_message(pb::AppendCallMessageRequest {
            room_id: room.clone(),
            call: Some(missed(alice, bob)),
            content: String::new(),
            read_by_user_ids: Vec::new(),
        })
        .await;
    assert_eq!(code(empty), Code::InvalidArgument, "no fallback text");
    assert!(
        system.history(alice, &room).await.is_empty(),
        "nothing was stored"
    );
}
