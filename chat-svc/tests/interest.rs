//! `SubscribeByInterest` over real gRPC, against a real Postgres: a subscriber receives the
//! events of the rooms and users it names and no others, every answer names the id sent
//! before it, a membership change of a user of interest brings its room in, interest changes
//! are marked, and a subscriber resumes from a mark's id without missing anything.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use parley_common::events::{AFTER_EPOCH_HEADER, EPOCH_HEADER};
use parley_proto::chat::v1::{self as pb, chat_event::Payload};
use support::{System, spawn, to_room};
use tokio::sync::mpsc;
use tonic::Streaming;
use uuid::Uuid;

type Epoch = tonic::metadata::MetadataValue<tonic::metadata::Ascii>;

/// One `SubscribeByInterest` stream, and the id of the last answer it received.
struct Subscriber {
    changes: mpsc::UnboundedSender<pb::InterestRequest>,
    answers: Streaming<pb::ChatEvent>,
    epoch: Epoch,
    last: Option<u64>,
    next_change: u64,
}

impl System {
    /// A `SubscribeByInterest` stream; `resume` names the epoch and id it goes on after.
    async fn subscribe_by_interest(
        &self,
        first: pb::InterestRequest,
        resume: Option<(&Epoch, u64)>,
    ) -> Subscriber {
        let (changes, queued) = mpsc::unbounded_channel();
        let requests = futures_util::stream::once(std::future::ready(first)).chain(
            futures_util::stream::unfold(queued, |mut queued| async move {
                Some((queued.recv().await?, queued))
            }),
        );
        let mut request = tonic::Request::new(requests);
        if let Some((epoch, _)) = resume {
            request
                .metadata_mut()
                .insert(AFTER_EPOCH_HEADER, epoch.clone());
        }
        let answer = self
            .chat
            .clone()
            .subscribe_by_interest(request)
            .await
            .unwrap();
        Subscriber {
            changes,
            epoch: answer.metadata().get(EPOCH_HEADER).unwrap().clone(),
            answers: answer.into_inner(),
            last: resume.map(|(_, last)| last),
            next_change: 100,
        }
    }
}

impl Subscriber {
    /// The next answer; asserts that it names the id of the one before.
    async fn next(&mut self) -> pb::ChatEvent {
        let answer = tokio::time::timeout(Duration::from_secs(10), self.answers.message())
            .await
            .expect("an answer in time")
            .unwrap()
            .expect("the stream goes on");
        let previous = answer
            .previous_event_id
            .expect("every answer names the one before");
        if let Some(last) = self.last {
            assert_eq!(previous, last, "nothing missed between answers");
        }
        self.last = Some(answer.event_id);
        answer
    }

    /// The next answer that is an event, not a mark.
    async fn next_event(&mut self) -> pb::ChatEvent {
        loop {
            let answer = self.next().await;
            if !matches!(answer.payload, Some(Payload::InterestMark(_))) {
                return answer;
            }
        }
    }

    /// Sends `change` and waits for its mark.
    async fn change(&mut self, mut change: pb::InterestRequest) {
        self.next_change += 1;
        change.change_id = self.next_change;
        change.seen_event_id = self.last.unwrap_or(0);
        self.changes.send(change).unwrap();
        loop {
            if let Some(Payload::InterestMark(mark)) = self.next().await.payload
                && mark.change_id == Some(self.next_change)
            {
                return;
            }
        }
    }
}

fn rooms(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

fn content(event: &pb::ChatEvent) -> (String, String) {
    match &event.payload {
        Some(Payload::NewMessage(new)) => {
            let message = new.message.as_ref().unwrap();
            (message.room_id.clone(), message.content.clone())
        }
        other => panic!("a new-message, not {other:?}"),
    }
}

fn says(sender: Uuid, room: &str, words: &str) -> pb::SendMessageRequest {
    pb::SendMessageRequest {
        content: words.to_owned(),
        ..to_room(sender, room)
    }
}

#[tokio::test]
async fn a_subscriber_gets_the_events_of_its_rooms_and_users_only_and_resumes_from_a_mark() {
    let system = spawn(|_| {}).await;
    let (ann, bob, cat, dan) = (
        system.user("ann").await,
        system.user("bob").await,
        system.user("cat").await,
        system.user("dan").await,
    );
    let ours = system.group(ann, &[bob]).await;
    let theirs = system.group(ann, &[cat]).await;
    let later = system.group(cat, &[]).await;

    let first = pb::InterestRequest {
        edge_id: "test".to_owned(),
        change_id: 1,
        add_room_ids: rooms(&[&ours]),
        add_user_ids: vec![dan.to_string()],
        ..Default::default()
    };
    let mut edge = system.subscribe_by_interest(first, None).await;
    let mark = edge.next().await;
    assert!(
        matches!(
            mark.payload,
            Some(Payload::InterestMark(pb::InterestMark {
                change_id: Some(1)
            }))
        ),
        "the first request is marked first: {mark:?}"
    );

    // A message of a room not of interest is passed over; the next one of ours arrives.
    system
        .send(says(cat, &theirs, "not for you"))
        .await
        .unwrap();
    system.send(says(bob, &ours, "for you")).await.unwrap();
    let event = edge.next_event().await;
    assert_eq!(content(&event), (ours.clone(), "for you".to_owned()));
    assert!(
        event.event_id >= mark.event_id + 2,
        "the passed-over message had an id in between"
    );

    // dan, a user of interest, joins `later`: its events follow at once.
    system
        .chat
        .clone()
        .add_members(pb::AddMembersRequest {
            acting_user_id: cat.to_string(),
            room_id: later.clone(),
            user_ids: vec![dan.to_string()],
        })
        .await
        .unwrap();
    loop {
        if let Some(Payload::MembershipChanged(changed)) = edge.next_event().await.payload {
            assert_eq!(changed.room_id, later);
            break;
        }
    }
    system
        .send(says(cat, &theirs, "still not for you"))
        .await
        .unwrap();
    system
        .send(says(cat, &later, "welcome, dan"))
        .await
        .unwrap();
    loop {
        let event = edge.next_event().await;
        if let Some(Payload::NewMessage(_)) = event.payload {
            assert_eq!(content(&event), (later.clone(), "welcome, dan".to_owned()));
            break;
        }
    }

    // Interest added, then removed.
    edge.change(pb::InterestRequest {
        add_room_ids: rooms(&[&theirs]),
        ..Default::default()
    })
    .await;
    system
        .send(says(cat, &theirs, "now for you"))
        .await
        .unwrap();
    assert_eq!(content(&edge.next_event().await).1, "now for you");
    edge.change(pb::InterestRequest {
        remove_room_ids: rooms(&[&theirs]),
        ..Default::default()
    })
    .await;
    system.send(says(cat, &theirs, "no longer")).await.unwrap();
    system.send(says(bob, &ours, "still ours")).await.unwrap();
    assert_eq!(content(&edge.next_event().await).1, "still ours");

    // Wait for the mark of what follows, then leave and resume from the last id received.
    system
        .send(says(cat, &theirs, "passed over"))
        .await
        .unwrap();
    let mark = loop {
        let answer = edge.next().await;
        if matches!(answer.payload, Some(Payload::InterestMark(_))) {
            break answer;
        }
    };
    assert_eq!(edge.last, Some(mark.event_id));
    let (epoch, last) = (edge.epoch.clone(), mark.event_id);
    drop(edge);
    system
        .send(says(bob, &ours, "while you were away"))
        .await
        .unwrap();
    let first = pb::InterestRequest {
        edge_id: "test".to_owned(),
        after_event_id: Some(last),
        change_id: 1,
        add_room_ids: rooms(&[&ours]),
        ..Default::default()
    };
    let mut resumed = system
        .subscribe_by_interest(first, Some((&epoch, last)))
        .await;
    assert_eq!(
        content(&resumed.next_event().await).1,
        "while you were away",
        "replayed after the mark's id, nothing missed"
    );
}

#[tokio::test]
async fn a_stream_without_a_first_request_is_refused() {
    let system = spawn(|_| {}).await;
    let nothing = futures_util::stream::empty::<pb::InterestRequest>();
    let refused = system
        .chat
        .clone()
        .subscribe_by_interest(nothing)
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
}
