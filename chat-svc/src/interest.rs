//! `SubscribeByInterest`: the event stream of one subscriber (an edge), cut down to the rooms
//! and users it names, so that an edge takes in what its own sockets receive instead of
//! every event of the system. The contract is in `proto/chat/v1/chat.proto`.
//!
//! Each subscription is one task between the event log and the answer: it reads every event
//! of the log, sends those of interest with the id sent before them, and marks how far it has
//! come (`InterestMark`) after each interest change and after passed-over events, so that the
//! subscriber can tell a gap from events that were not for it, and resume from a recent id.

use std::collections::{HashMap, HashSet};

use futures_util::StreamExt;
use parley_common::events::{EventLog, EventStream, head_of};
use parley_proto::chat::v1::{self as pb, chat_event::Payload};
use tokio::{sync::mpsc, time::Instant};
use tonic::{Request, Response, Status, Streaming};

/// How long passed-over events wait for a mark: a quiet subscriber's last id stays this
/// recent.
const MARK_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// Passed-over events that get a mark at once, however busy the stream: a resume point
/// never falls far behind the log's ring.
const MARK_EVERY: u32 = 256;

/// How long a new subscription waits for its first request.
const FIRST_REQUEST_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Ids one request may name in all.
const MAX_IDS_PER_REQUEST: usize = 100_000;

/// Answers queued for the subscriber; when they are not taken, the task stops reading the
/// log, which cuts the subscriber off as a lagging one (`RESOURCE_EXHAUSTED`).
const QUEUE: usize = 1_024;

/// The rooms and users a subscriber receives the events of.
#[derive(Default)]
struct Interest {
    rooms: HashSet<String>,
    users: HashSet<String>,
    /// Rooms a MembershipChanged added (to a user of interest), with its event id: a removal
    /// chosen before the subscriber saw that event leaves them in.
    joined_at: HashMap<String, u64>,
}

impl Interest {
    fn change(&mut self, request: &pb::InterestRequest) -> Result<(), Status> {
        let named = request.add_room_ids.len()
            + request.add_user_ids.len()
            + request.remove_room_ids.len()
            + request.remove_user_ids.len();
        if named > MAX_IDS_PER_REQUEST {
            return Err(Status::invalid_argument(format!(
                "an interest request names at most {MAX_IDS_PER_REQUEST} ids, not {named}"
            )));
        }
        let seen = request.seen_event_id;
        for room in &request.remove_room_ids {
            let joined_since = self.joined_at.get(room).is_some_and(|at| *at > seen);
            if !joined_since {
                self.rooms.remove(room);
            }
        }
        for user in &request.remove_user_ids {
            self.users.remove(user);
        }
        self.joined_at.retain(|_, at| *at > seen);
        self.rooms.extend(request.add_room_ids.iter().cloned());
        self.users.extend(request.add_user_ids.iter().cloned());
        Ok(())
    }

    /// Whether `event` reaches a room or a user of interest. A MembershipChanged that adds a
    /// user of interest adds its room first, so the room's next events reach the new member.
    fn wants(&mut self, event: &pb::ChatEvent) -> bool {
        if let Some(Payload::MembershipChanged(changed)) = &event.payload {
            let adds_ours = changed
                .added_user_ids
                .iter()
                .any(|user| self.users.contains(user));
            if adds_ours {
                self.rooms.insert(changed.room_id.clone());
                self.joined_at
                    .insert(changed.room_id.clone(), event.event_id);
            }
            return adds_ours
                || changed
                    .removed_user_ids
                    .iter()
                    .any(|user| self.users.contains(user));
        }
        event
            .room_id
            .as_ref()
            .is_some_and(|room| self.rooms.contains(room))
            || event.user_ids.iter().any(|user| self.users.contains(user))
    }
}

/// The answer to `SubscribeByInterest` on `log`.
pub async fn answer(
    log: &EventLog<pb::ChatEvent>,
    request: Request<Streaming<pb::InterestRequest>>,
) -> Result<Response<EventStream<pb::ChatEvent>>, Status> {
    let (metadata, _, mut requests) = request.into_parts();
    let first = tokio::time::timeout(FIRST_REQUEST_WAIT, requests.message())
        .await
        .ok()
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            Status::invalid_argument("the first interest request names the subscriber")
        })?;
    let mut interest = Interest::default();
    interest.change(&first)?;
    tracing::info!(edge = first.edge_id, after = ?first.after_event_id, "edge subscribed by interest");
    let (metadata, events, extensions) = log
        .answer(&metadata, first.after_event_id)
        .await
        .into_parts();
    let head = head_of(&metadata).unwrap_or(0);
    let (answers, queued) = mpsc::channel(QUEUE);
    let filter = Filter {
        interest,
        last_sent: head,
        last_passed: head,
        unmarked: 0,
        mark_due: None,
        answers,
    };
    tokio::spawn(async move {
        // It ends when the subscriber is gone, or with the log's stream.
        let _ = filter.follow(events, requests, first.change_id).await;
    });
    let stream = futures_util::stream::unfold(queued, |mut queued| async move {
        let answer = queued.recv().await?;
        Some((answer, queued))
    });
    Ok(Response::from_parts(metadata, Box::pin(stream), extensions))
}

/// One subscription's task.
struct Filter {
    interest: Interest,
    /// The id of the last event or mark sent.
    last_sent: u64,
    /// The id of the last event read from the log, sent or not.
    last_passed: u64,
    /// Events passed over since the last mark.
    unmarked: u32,
    /// When the passed-over events get their mark.
    mark_due: Option<Instant>,
    answers: mpsc::Sender<Result<pb::ChatEvent, Status>>,
}

/// The subscriber is gone.
struct Gone;

impl Filter {
    async fn follow(
        mut self,
        mut events: EventStream<pb::ChatEvent>,
        mut requests: Streaming<pb::InterestRequest>,
        first_change: u64,
    ) -> Result<(), Gone> {
        self.mark(Some(first_change)).await?;
        let mut requests_open = true;
        let answers = self.answers.clone();
        loop {
            let mark_due = self.mark_due;
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => self.pass(event).await?,
                    // Cut off for lagging, or the service is shutting down.
                    Some(Err(status)) => return self.send(Err(status)).await,
                    None => return Ok(()),
                },
                request = requests.message(), if requests_open => match request {
                    Ok(Some(request)) => match self.interest.change(&request) {
                        Ok(()) => self.mark(Some(request.change_id)).await?,
                        Err(status) => return self.send(Err(status)).await,
                    },
                    // The subscriber sends no more changes: its events still flow.
                    Ok(None) => requests_open = false,
                    Err(_) => return Err(Gone),
                },
                () = sleep_until(mark_due), if mark_due.is_some() => self.mark(None).await?,
                () = answers.closed() => return Err(Gone),
            }
        }
    }

    async fn pass(&mut self, mut event: pb::ChatEvent) -> Result<(), Gone> {
        self.last_passed = event.event_id;
        if !self.interest.wants(&event) {
            self.unmarked += 1;
            if self.unmarked >= MARK_EVERY {
                return self.mark(None).await;
            }
            self.mark_due
                .get_or_insert_with(|| Instant::now() + MARK_AFTER);
            return Ok(());
        }
        event.previous_event_id = Some(self.last_sent);
        self.sent_up_to(event.event_id);
        self.send(Ok(event)).await
    }

    /// Tells the subscriber that every event up to the last one read was sent or not for it;
    /// with `change_id`, that the change of that id holds from there on.
    async fn mark(&mut self, change_id: Option<u64>) -> Result<(), Gone> {
        let mark = pb::ChatEvent {
            event_id: self.last_passed,
            previous_event_id: Some(self.last_sent),
            payload: Some(Payload::InterestMark(pb::InterestMark { change_id })),
            ..Default::default()
        };
        self.sent_up_to(self.last_passed);
        self.send(Ok(mark)).await
    }

    fn sent_up_to(&mut self, id: u64) {
        self.last_sent = id;
        self.unmarked = 0;
        self.mark_due = None;
    }

    async fn send(&self, answer: Result<pb::ChatEvent, Status>) -> Result<(), Gone> {
        self.answers.send(answer).await.map_err(|_| Gone)
    }
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, room: Option<&str>, users: &[&str], payload: Payload) -> pb::ChatEvent {
        pb::ChatEvent {
            event_id: id,
            room_id: room.map(str::to_owned),
            user_ids: users.iter().map(|user| (*user).to_owned()).collect(),
            payload: Some(payload),
            ..Default::default()
        }
    }

    fn read(id: u64, room: &str) -> pb::ChatEvent {
        event(
            id,
            Some(room),
            &[],
            Payload::MessagesRead(pb::MessagesRead::default()),
        )
    }

    fn membership(id: u64, room: &str, added: &[&str], removed: &[&str]) -> pb::ChatEvent {
        let changed = pb::MembershipChanged {
            room_id: room.to_owned(),
            added_user_ids: added.iter().map(|user| (*user).to_owned()).collect(),
            removed_user_ids: removed.iter().map(|user| (*user).to_owned()).collect(),
        };
        event(id, None, &[], Payload::MembershipChanged(changed))
    }

    fn request(
        add_rooms: &[&str],
        add_users: &[&str],
        remove_rooms: &[&str],
        seen: u64,
    ) -> pb::InterestRequest {
        let ids = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect();
        pb::InterestRequest {
            add_room_ids: ids(add_rooms),
            add_user_ids: ids(add_users),
            remove_room_ids: ids(remove_rooms),
            seen_event_id: seen,
            ..Default::default()
        }
    }

    #[test]
    fn only_events_of_rooms_and_users_of_interest_are_wanted() {
        let mut interest = Interest::default();
        interest.change(&request(&["r1"], &["u1"], &[], 0)).unwrap();
        assert!(interest.wants(&read(1, "r1")));
        assert!(!interest.wants(&read(2, "r2")));
        let dm = event(
            3,
            None,
            &["u2", "u1"],
            Payload::NewPrivateMessage(pb::NewPrivateMessage::default()),
        );
        assert!(interest.wants(&dm));
        let other_dm = event(
            4,
            None,
            &["u2"],
            Payload::NewPrivateMessage(pb::NewPrivateMessage::default()),
        );
        assert!(!interest.wants(&other_dm));
        assert!(!interest.wants(&membership(5, "r3", &["u9"], &[])));
        assert!(
            interest.wants(&membership(6, "r1", &[], &["u1"])),
            "a member of ours left"
        );
    }

    #[test]
    fn a_member_of_ours_added_to_a_room_brings_the_room_in_at_once() {
        let mut interest = Interest::default();
        interest.change(&request(&[], &["u1"], &[], 0)).unwrap();
        assert!(!interest.wants(&read(1, "r2")));
        assert!(interest.wants(&membership(2, "r2", &["u1"], &[])));
        assert!(interest.wants(&read(3, "r2")));
        // A removal chosen before the subscriber saw event 2 keeps the room…
        interest.change(&request(&[], &[], &["r2"], 1)).unwrap();
        assert!(interest.wants(&read(4, "r2")));
        // …one chosen after it takes the room out.
        interest.change(&request(&[], &[], &["r2"], 4)).unwrap();
        assert!(!interest.wants(&read(5, "r2")));
    }

    #[test]
    fn an_oversized_request_is_refused() {
        let mut interest = Interest::default();
        let mut big = request(&[], &[], &[], 0);
        big.add_room_ids = vec!["r".to_owned(); MAX_IDS_PER_REQUEST + 1];
        let refused = interest.change(&big).expect_err("too many ids");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(interest.rooms.is_empty(), "nothing of it applied");
    }
}
