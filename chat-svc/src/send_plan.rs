//! Deciding a batch of sends, without a database: which sends store a message and with which
//! seq, which are retries of a message stored before, which repeat an earlier send of the same
//! batch, and which are refused. The writer reads the [`Facts`] in the batch's transaction
//! (with the rooms locked), plans, claims the attachments of the sends that store (planning
//! again without those that lost one), then applies the plan in one statement.

use std::collections::{HashMap, HashSet};

use crate::{
    domain::{AttachmentId, RoomId, UserId},
    repo::Message,
};

/// The identity of one send, as planning sees it.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub room: RoomId,
    pub sender: UserId,
    pub client_msg_id: Option<&'a str>,
    pub attachments: &'a [AttachmentId],
}

/// What the database holds for one send, read with its room locked.
#[derive(Debug, Default)]
pub struct Facts {
    /// The room's newest seq; `None` when the room does not exist.
    pub last_seq: Option<i64>,
    /// Whether the sender is a member of the room now.
    pub is_member: bool,
    /// The message this sender stored in this room under this `clientMsgId` before.
    pub stored: Option<Message>,
}

/// Why a send stores nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoRoom,
    NotMember,
    /// One of its attachments is held by another message (of an earlier batch, or earlier in
    /// this one): an attachment belongs to one message.
    AttachmentTaken,
}

#[derive(Debug)]
pub enum Decision {
    /// Stores a new message with this seq.
    Store {
        seq: i64,
    },
    /// A retry of a send stored before: answered with that message, announced to nobody.
    Stored(Message),
    /// The same `clientMsgId` as the earlier send at this position of the batch, which stores
    /// the message: answered with it.
    SameAs(usize),
    Refused(Refusal),
}

#[derive(Debug)]
pub struct Plan {
    /// One decision per send, in the batch's order.
    pub decisions: Vec<Decision>,
    /// Each room that gets messages, with its newest seq once they are stored.
    pub last_seqs: Vec<(RoomId, i64)>,
}

/// Plans `sends` given one [`Facts`] per send (the same length and order) and the attachments
/// other messages hold (`taken`). A retry is answered whatever the sender's membership now, as
/// its first attempt was; seqs follow the batch's order within each room, with no gaps.
pub fn plan(sends: &[Key<'_>], facts: &[Facts], taken: &HashSet<AttachmentId>) -> Plan {
    let mut next_seq: HashMap<RoomId, i64> = HashMap::new();
    let mut rooms_in_order: Vec<RoomId> = Vec::new();
    let mut leaders: HashMap<(UserId, RoomId, &str), usize> = HashMap::new();
    let mut claimed: HashSet<AttachmentId> = HashSet::new();
    let none = Facts::default();
    let decisions = sends
        .iter()
        .enumerate()
        .map(|(index, send)| {
            let facts = facts.get(index).unwrap_or(&none);
            if let Some(message) = &facts.stored {
                return Decision::Stored(message.clone());
            }
            let Some(last_seq) = facts.last_seq else {
                return Decision::Refused(Refusal::NoRoom);
            };
            if !facts.is_member {
                return Decision::Refused(Refusal::NotMember);
            }
            let key = send.client_msg_id.map(|id| (send.sender, send.room, id));
            if let Some(&leader) = key.as_ref().and_then(|key| leaders.get(key)) {
                return Decision::SameAs(leader);
            }
            let unavailable = |id: &AttachmentId| taken.contains(id) || claimed.contains(id);
            if send.attachments.iter().any(unavailable) {
                return Decision::Refused(Refusal::AttachmentTaken);
            }
            if let Some(key) = key {
                leaders.insert(key, index);
            }
            claimed.extend(send.attachments);
            let seq = next_seq.entry(send.room).or_insert_with(|| {
                rooms_in_order.push(send.room);
                last_seq
            });
            *seq += 1;
            Decision::Store { seq: *seq }
        })
        .collect();
    let last_seqs = rooms_in_order
        .into_iter()
        .filter_map(|room| Some((room, *next_seq.get(&room)?)))
        .collect();
    Plan {
        decisions,
        last_seqs,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::domain::{AttachmentId, MessageId, MessageType};

    fn a_room() -> RoomId {
        RoomId(Uuid::new_v4())
    }

    fn a_user() -> UserId {
        UserId(Uuid::new_v4())
    }

    fn key(room: RoomId, sender: UserId, client_msg_id: Option<&str>) -> Key<'_> {
        Key {
            room,
            sender,
            client_msg_id,
            attachments: &[],
        }
    }

    fn with_attachments<'a>(key: Key<'a>, attachments: &'a [AttachmentId]) -> Key<'a> {
        Key { attachments, ..key }
    }

    fn an_attachment() -> AttachmentId {
        AttachmentId(Uuid::new_v4())
    }

    /// Plans with no attachment held by another message.
    fn plan_without_taken(sends: &[Key<'_>], facts: Vec<Facts>) -> Plan {
        super::plan(sends, &facts, &HashSet::new())
    }

    fn open(last_seq: i64) -> Facts {
        Facts {
            last_seq: Some(last_seq),
            is_member: true,
            stored: None,
        }
    }

    fn message(room: RoomId, sender: UserId, seq: i64) -> Message {
        Message {
            id: MessageId(Uuid::new_v4()),
            room_id: room,
            seq,
            sender_id: sender,
            content: Some("hi".into()),
            message_type: MessageType::Text,
            client_msg_id: Some("c1".into()),
            reply_to_id: None,
            created_at: Utc::now(),
            edited_at: None,
            deleted_at: None,
            call: None,
            attachments: Vec::new(),
        }
    }

    fn seqs(plan: &Plan) -> Vec<Option<i64>> {
        plan.decisions
            .iter()
            .map(|decision| match decision {
                Decision::Store { seq } => Some(*seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn seqs_continue_each_room_in_batch_order_without_gaps() {
        let (a, b, me) = (a_room(), a_room(), a_user());
        let sends = [key(a, me, None), key(b, me, None), key(a, me, None)];
        let plan = plan_without_taken(&sends, vec![open(7), open(0), open(7)]);
        assert_eq!(seqs(&plan), [Some(8), Some(1), Some(9)]);
        assert_eq!(plan.last_seqs, [(a, 9), (b, 1)]);
    }

    #[test]
    fn a_retry_is_answered_with_the_stored_message_and_spends_no_seq() {
        let (room, me) = (a_room(), a_user());
        let stored = message(room, me, 3);
        let sends = [key(room, me, Some("c1")), key(room, me, None)];
        let facts = vec![
            Facts {
                stored: Some(stored.clone()),
                ..open(3)
            },
            open(3),
        ];
        let plan = plan_without_taken(&sends, facts);
        assert!(matches!(&plan.decisions[0], Decision::Stored(m) if m.id == stored.id));
        assert_eq!(seqs(&plan), [None, Some(4)]);
    }

    #[test]
    fn a_client_msg_id_twice_in_one_batch_stores_once() {
        let (room, me) = (a_room(), a_user());
        let sends = [key(room, me, Some("c1")), key(room, me, Some("c1"))];
        let plan = plan_without_taken(&sends, vec![open(0), open(0)]);
        assert_eq!(seqs(&plan), [Some(1), None]);
        assert!(matches!(plan.decisions[1], Decision::SameAs(0)));
        assert_eq!(plan.last_seqs, [(room, 1)]);
    }

    #[test]
    fn the_same_client_msg_id_in_another_room_is_another_message() {
        let (a, b, me) = (a_room(), a_room(), a_user());
        let sends = [key(a, me, Some("c1")), key(b, me, Some("c1"))];
        let plan = plan_without_taken(&sends, vec![open(0), open(4)]);
        assert_eq!(seqs(&plan), [Some(1), Some(5)]);
    }

    #[test]
    fn the_same_client_msg_id_of_another_sender_is_another_message() {
        let (room, me, you) = (a_room(), a_user(), a_user());
        let sends = [key(room, me, Some("c1")), key(room, you, Some("c1"))];
        let plan = plan_without_taken(&sends, vec![open(0), open(0)]);
        assert_eq!(seqs(&plan), [Some(1), Some(2)]);
    }

    #[test]
    fn non_members_and_missing_rooms_are_refused_and_spend_no_seq() {
        let (room, gone, me) = (a_room(), a_room(), a_user());
        let sends = [
            key(room, me, Some("c1")),
            key(gone, me, None),
            key(room, me, Some("c1")),
            key(room, me, None),
        ];
        let outsider = || Facts {
            is_member: false,
            ..open(2)
        };
        let missing = Facts::default();
        let plan = plan_without_taken(&sends, vec![outsider(), missing, outsider(), open(2)]);
        assert!(matches!(
            plan.decisions[0],
            Decision::Refused(Refusal::NotMember)
        ));
        assert!(matches!(
            plan.decisions[1],
            Decision::Refused(Refusal::NoRoom)
        ));
        // A refused send leads nothing: its repeat is judged on its own.
        assert!(matches!(
            plan.decisions[2],
            Decision::Refused(Refusal::NotMember)
        ));
        assert_eq!(seqs(&plan), [None, None, None, Some(3)]);
        assert_eq!(plan.last_seqs, [(room, 3)]);
    }

    #[test]
    fn a_retry_is_answered_even_after_the_sender_left() {
        let (room, me) = (a_room(), a_user());
        let facts = Facts {
            last_seq: Some(5),
            is_member: false,
            stored: Some(message(room, me, 5)),
        };
        let plan = plan_without_taken(&[key(room, me, Some("c1"))], vec![facts]);
        assert!(matches!(plan.decisions[0], Decision::Stored(_)));
        assert!(plan.last_seqs.is_empty());
    }

    #[test]
    fn a_send_whose_attachment_another_message_holds_is_refused_and_spends_no_seq() {
        let (room, me) = (a_room(), a_user());
        let (held, free) = ([an_attachment()], [an_attachment()]);
        let sends = [
            with_attachments(key(room, me, None), &held),
            with_attachments(key(room, me, None), &free),
        ];
        let plan = super::plan(&sends, &[open(4), open(4)], &HashSet::from(held));
        assert!(matches!(
            plan.decisions[0],
            Decision::Refused(Refusal::AttachmentTaken)
        ));
        assert_eq!(seqs(&plan), [None, Some(5)]);
        assert_eq!(plan.last_seqs, [(room, 5)]);
    }

    #[test]
    fn an_attachment_sent_twice_in_one_batch_goes_with_the_first_send_only() {
        let (room, me) = (a_room(), a_user());
        let shared = an_attachment();
        let (first, second) = ([shared, an_attachment()], [an_attachment(), shared]);
        let sends = [
            with_attachments(key(room, me, None), &first),
            with_attachments(key(room, me, None), &second),
            key(room, me, None),
        ];
        let plan = plan_without_taken(&sends, vec![open(0), open(0), open(0)]);
        assert!(matches!(
            plan.decisions[1],
            Decision::Refused(Refusal::AttachmentTaken)
        ));
        assert_eq!(seqs(&plan), [Some(1), None, Some(2)]);
    }

    #[test]
    fn a_repeated_client_msg_id_with_attachments_is_the_same_message_not_a_second_claim() {
        let (room, me) = (a_room(), a_user());
        let files = [an_attachment()];
        let sends = [
            with_attachments(key(room, me, Some("c1")), &files),
            with_attachments(key(room, me, Some("c1")), &files),
        ];
        let plan = plan_without_taken(&sends, vec![open(0), open(0)]);
        assert!(matches!(plan.decisions[1], Decision::SameAs(0)));
        // Its leader refused, a repeat is judged on its own: refused alike.
        let plan = super::plan(&sends, &[open(0), open(0)], &HashSet::from(files));
        assert!(
            plan.decisions
                .iter()
                .all(|decision| matches!(decision, Decision::Refused(Refusal::AttachmentTaken)))
        );
    }

    #[test]
    fn a_retry_is_answered_although_its_attachments_are_held_by_its_own_message() {
        let (room, me) = (a_room(), a_user());
        let files = [an_attachment()];
        let facts = Facts {
            stored: Some(message(room, me, 2)),
            ..open(2)
        };
        let sends = [with_attachments(key(room, me, Some("c1")), &files)];
        let plan = super::plan(&sends, &[facts], &HashSet::from(files));
        assert!(matches!(plan.decisions[0], Decision::Stored(_)));
    }
}
