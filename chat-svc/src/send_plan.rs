//! Deciding a batch of sends, without a database: which sends store a message and with which
//! seq, which are retries of a message stored before, which repeat an earlier send of the same
//! batch, and which are refused. The writer reads the [`Facts`] in the batch's transaction
//! (with the rooms locked), plans, then applies the plan in one statement.

use std::collections::HashMap;

use crate::{
    domain::{RoomId, UserId},
    repo::Message,
};

/// The identity of one send, as planning sees it.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub room: RoomId,
    pub sender: UserId,
    pub client_msg_id: Option<&'a str>,
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

/// Plans `sends` given one [`Facts`] per send (the same length and order). A retry is
/// answered whatever the sender's membership now, as its first attempt was; seqs follow the
/// batch's order within each room, with no gaps.
pub fn plan(sends: &[Key<'_>], facts: Vec<Facts>) -> Plan {
    let mut next_seq: HashMap<RoomId, i64> = HashMap::new();
    let mut rooms_in_order: Vec<RoomId> = Vec::new();
    let mut leaders: HashMap<(UserId, RoomId, &str), usize> = HashMap::new();
    let mut facts = facts.into_iter();
    let decisions = sends
        .iter()
        .enumerate()
        .map(|(index, send)| {
            let Facts {
                last_seq,
                is_member,
                stored,
            } = facts.next().unwrap_or_default();
            if let Some(message) = stored {
                return Decision::Stored(message);
            }
            let Some(last_seq) = last_seq else {
                return Decision::Refused(Refusal::NoRoom);
            };
            if !is_member {
                return Decision::Refused(Refusal::NotMember);
            }
            if let Some(id) = send.client_msg_id {
                let key = (send.sender, send.room, id);
                if let Some(&leader) = leaders.get(&key) {
                    return Decision::SameAs(leader);
                }
                leaders.insert(key, index);
            }
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
    use crate::domain::{MessageId, MessageType};

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
        }
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
        let plan = plan(&sends, vec![open(7), open(0), open(7)]);
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
        let plan = plan(&sends, facts);
        assert!(matches!(&plan.decisions[0], Decision::Stored(m) if m.id == stored.id));
        assert_eq!(seqs(&plan), [None, Some(4)]);
    }

    #[test]
    fn a_client_msg_id_twice_in_one_batch_stores_once() {
        let (room, me) = (a_room(), a_user());
        let sends = [key(room, me, Some("c1")), key(room, me, Some("c1"))];
        let plan = plan(&sends, vec![open(0), open(0)]);
        assert_eq!(seqs(&plan), [Some(1), None]);
        assert!(matches!(plan.decisions[1], Decision::SameAs(0)));
        assert_eq!(plan.last_seqs, [(room, 1)]);
    }

    #[test]
    fn the_same_client_msg_id_in_another_room_is_another_message() {
        let (a, b, me) = (a_room(), a_room(), a_user());
        let sends = [key(a, me, Some("c1")), key(b, me, Some("c1"))];
        let plan = plan(&sends, vec![open(0), open(4)]);
        assert_eq!(seqs(&plan), [Some(1), Some(5)]);
    }

    #[test]
    fn the_same_client_msg_id_of_another_sender_is_another_message() {
        let (room, me, you) = (a_room(), a_user(), a_user());
        let sends = [key(room, me, Some("c1")), key(room, you, Some("c1"))];
        let plan = plan(&sends, vec![open(0), open(0)]);
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
        let plan = plan(&sends, vec![outsider(), missing, outsider(), open(2)]);
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
        let plan = plan(&[key(room, me, Some("c1"))], vec![facts]);
        assert!(matches!(plan.decisions[0], Decision::Stored(_)));
        assert!(plan.last_seqs.is_empty());
    }
}
