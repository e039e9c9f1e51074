//! All SQL of chat-svc. Functions take a connection so that callers choose the transaction.

mod attachments;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

pub use attachments::*;

use crate::{
    domain::{AttachmentId, MessageId, MessageType, Role, RoomId, UserId},
    send_plan,
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Room {
    pub id: RoomId,
    pub name: Option<String>,
    pub is_group: bool,
    pub is_public: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: UserId,
    role: String,
    joined_at: DateTime<Utc>,
}

impl From<MemberRow> for Member {
    fn from(row: MemberRow) -> Self {
        Self {
            user_id: row.user_id,
            role: Role::parse(&row.role),
            joined_at: row.joined_at,
        }
    }
}

/// A room in a member's list, with what they have not read.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomSummary {
    #[sqlx(flatten)]
    pub room: Room,
    pub activity: DateTime<Utc>,
    pub unread: i64,
}

const ROOM_COLUMNS: &str = "id, name, is_group, is_public, created_at";

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn room(db: &mut PgConnection, id: RoomId) -> sqlx::Result<Option<Room>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ROOM_COLUMNS} FROM chat.rooms WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Locks a room's row until the transaction ends: membership changes of one room run one
/// after the other (an owner leaving while an admin is removed, say).
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn lock_room(db: &mut PgConnection, id: RoomId) -> sqlx::Result<Option<Room>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ROOM_COLUMNS} FROM chat.rooms WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn insert_group(
    db: &mut PgConnection,
    id: RoomId,
    name: Option<&str>,
    is_public: bool,
) -> sqlx::Result<Room> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO chat.rooms (id, name, is_group, is_public) VALUES ($1, $2, true, $3)
         RETURNING {ROOM_COLUMNS}"
    )))
    .bind(id)
    .bind(name)
    .bind(is_public)
    .fetch_one(db)
    .await
}

/// The DM room of a pair, made if it does not exist; `true` when this call made it. Safe
/// when both users create it at once: the unique pair lets one insert through, and the
/// other reads the winner's room.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn dm_room(
    db: &mut PgConnection,
    id: RoomId,
    (low, high): (UserId, UserId),
) -> sqlx::Result<(Room, bool)> {
    let made: Option<Room> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO chat.rooms (id, is_group, is_public, dm_low, dm_high)
         VALUES ($1, false, false, $2, $3)
         ON CONFLICT (dm_low, dm_high) DO NOTHING
         RETURNING {ROOM_COLUMNS}"
    )))
    .bind(id)
    .bind(low)
    .bind(high)
    .fetch_optional(&mut *db)
    .await?;
    if let Some(room) = made {
        return Ok((room, true));
    }
    let existing = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ROOM_COLUMNS} FROM chat.rooms WHERE dm_low = $1 AND dm_high = $2"
    )))
    .bind(low)
    .bind(high)
    .fetch_one(db)
    .await?;
    Ok((existing, false))
}

/// The DM room of a pair, if it exists.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn existing_dm_room(
    db: &mut PgConnection,
    (low, high): (UserId, UserId),
) -> sqlx::Result<Option<RoomId>> {
    sqlx::query_scalar("SELECT id FROM chat.rooms WHERE dm_low = $1 AND dm_high = $2")
        .bind(low)
        .bind(high)
        .fetch_optional(db)
        .await
}

/// Adds members (those already in are left as they are); returns who was added.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn add_members(
    db: &mut PgConnection,
    room: RoomId,
    users: &[UserId],
    role: Role,
) -> sqlx::Result<Vec<UserId>> {
    sqlx::query_scalar(
        "INSERT INTO chat.members (room_id, user_id, role)
         SELECT $1, user_id, $3 FROM UNNEST($2::uuid[]) AS user_id
         ON CONFLICT (room_id, user_id) DO NOTHING
         RETURNING user_id",
    )
    .bind(room)
    .bind(users)
    .bind(role.as_str())
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn members(db: &mut PgConnection, room: RoomId) -> sqlx::Result<Vec<Member>> {
    let rows: Vec<MemberRow> = sqlx::query_as(
        "SELECT user_id, role, joined_at FROM chat.members WHERE room_id = $1
         ORDER BY joined_at, user_id",
    )
    .bind(room)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Member::from).collect())
}

/// The members of several rooms in one read.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn members_of(
    db: &mut PgConnection,
    rooms: &[RoomId],
) -> sqlx::Result<Vec<(RoomId, Member)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        room_id: RoomId,
        #[sqlx(flatten)]
        member: MemberRow,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT room_id, user_id, role, joined_at FROM chat.members WHERE room_id = ANY($1)
         ORDER BY room_id, joined_at, user_id",
    )
    .bind(rooms)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.room_id, row.member.into()))
        .collect())
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn role(db: &mut PgConnection, room: RoomId, user: UserId) -> sqlx::Result<Option<Role>> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM chat.members WHERE room_id = $1 AND user_id = $2")
            .bind(room)
            .bind(user)
            .fetch_optional(db)
            .await?;
    Ok(role.as_deref().map(Role::parse))
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn member_count(db: &mut PgConnection, room: RoomId) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM chat.members WHERE room_id = $1")
        .bind(room)
        .fetch_one(db)
        .await
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn remove_member(
    db: &mut PgConnection,
    room: RoomId,
    user: UserId,
) -> sqlx::Result<bool> {
    let result = sqlx::query("DELETE FROM chat.members WHERE room_id = $1 AND user_id = $2")
        .bind(room)
        .bind(user)
        .execute(db)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Hands ownership to the longest-standing admin, or else the longest-standing member;
/// returns the new owner, if anyone is left.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn hand_on_ownership(
    db: &mut PgConnection,
    room: RoomId,
) -> sqlx::Result<Option<UserId>> {
    sqlx::query_scalar(
        "UPDATE chat.members SET role = 'OWNER'
         WHERE room_id = $1 AND user_id = (
             SELECT user_id FROM chat.members WHERE room_id = $1
             ORDER BY (role = 'ADMIN') DESC, joined_at, user_id
             LIMIT 1)
         RETURNING user_id",
    )
    .bind(room)
    .fetch_optional(db)
    .await
}

/// One page of `user`'s rooms, most recently active first, after the cursor
/// (activity, room id) of the previous page.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn rooms_of(
    db: &mut PgConnection,
    user: UserId,
    after: Option<(DateTime<Utc>, RoomId)>,
    limit: u32,
) -> sqlx::Result<Vec<RoomSummary>> {
    let (after_activity, after_id) = after.unzip();
    sqlx::query_as(
        "SELECT r.id, r.name, r.is_group, r.is_public, r.created_at,
                COALESCE(r.last_message_at, r.created_at) AS activity,
                GREATEST(r.last_seq - m.last_read_seq, 0) AS unread
         FROM chat.members m JOIN chat.rooms r ON r.id = m.room_id
         WHERE m.user_id = $1
           AND ($2::timestamptz IS NULL
                OR (COALESCE(r.last_message_at, r.created_at), r.id) < ($2, $3))
         ORDER BY activity DESC, r.id DESC
         LIMIT $4",
    )
    .bind(user)
    .bind(after_activity)
    .bind(after_id)
    .bind(i64::from(limit))
    .fetch_all(db)
    .await
}

/// Which of `rooms` `user` belongs to, and whether each is a group: one statement however
/// many rooms are asked (unknown ones cost nothing more).
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn rooms_among(
    db: &mut PgConnection,
    user: UserId,
    rooms: &[RoomId],
) -> sqlx::Result<Vec<(RoomId, bool)>> {
    sqlx::query_as(
        "SELECT r.id, r.is_group FROM chat.members m JOIN chat.rooms r ON r.id = m.room_id
         WHERE m.user_id = $1 AND m.room_id = ANY($2)",
    )
    .bind(user)
    .bind(rooms)
    .fetch_all(db)
    .await
}

/// One page of the ids of `user`'s rooms, in id order, after `after`.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn room_ids_of(
    db: &mut PgConnection,
    user: UserId,
    after: Option<RoomId>,
    limit: u32,
) -> sqlx::Result<Vec<RoomId>> {
    sqlx::query_scalar(
        "SELECT room_id FROM chat.members
         WHERE user_id = $1 AND room_id > COALESCE($2, '00000000-0000-0000-0000-000000000000'::uuid)
         ORDER BY room_id LIMIT $3",
    )
    .bind(user)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(db)
    .await
}

// --- messages ---

/// A stored message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    pub seq: i64,
    pub sender_id: UserId,
    pub content: Option<String>,
    #[sqlx(try_from = "String")]
    pub message_type: MessageType,
    pub client_msg_id: Option<String>,
    pub reply_to_id: Option<MessageId>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// A CALL message's `parley.calls.v1.CallLog`, protobuf-encoded as stored (decoded where
    /// it is rendered, `convert::message`); `None` on other types and once deleted.
    pub call: Option<Vec<u8>>,
    /// In position order; read apart from the message (see [`attachments_of`]), and only for
    /// live messages that may carry some.
    #[sqlx(skip)]
    pub attachments: Vec<Attachment>,
}

impl Message {
    /// Whether this message may carry attachments that are not read yet.
    pub fn may_carry_attachments(&self) -> bool {
        self.deleted_at.is_none()
            && self.attachments.is_empty()
            && matches!(self.message_type, MessageType::Image | MessageType::File)
    }
}

const MESSAGE_COLUMNS: &str = "id, room_id, seq, sender_id, content, message_type, client_msg_id, \
     reply_to_id, created_at, edited_at, deleted_at, call";

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn message(db: &mut PgConnection, id: MessageId) -> sqlx::Result<Option<Message>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat.messages WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The message `sender` stored in `room` under `client_msg_id`, if any (a retry's answer).
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn message_by_client_id(
    db: &mut PgConnection,
    sender: UserId,
    room: RoomId,
    client_msg_id: &str,
) -> sqlx::Result<Option<Message>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat.messages
         WHERE sender_id = $1 AND room_id = $2 AND client_msg_id = $3"
    )))
    .bind(sender)
    .bind(room)
    .bind(client_msg_id)
    .fetch_optional(db)
    .await
}

/// What planning a batch of sends needs ([`send_plan::Facts`]), one per send in order, and
/// the transaction's time (every message of the batch is stored at it). Locks the rooms'
/// rows first, in id order (so that two replicas writing to the same rooms cannot
/// deadlock); the locks serialize the writers of one room until commit, so seqs have no
/// gaps and no duplicates, across replicas too. One statement: the planner guesses a fixed
/// row count for an UNNEST, so the lookups are `LATERAL ... LIMIT 1` index probes, never a
/// scan, whatever the tables' size.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql", sends = sends.len()))]
pub async fn send_facts(
    db: &mut PgConnection,
    sends: &[send_plan::Key<'_>],
) -> sqlx::Result<(DateTime<Utc>, Vec<send_plan::Facts>)> {
    #[derive(sqlx::FromRow)]
    struct Row {
        now: DateTime<Utc>,
        last_seq: Option<i64>,
        is_member: bool,
        #[sqlx(flatten)]
        stored: StoredColumns,
    }
    #[derive(sqlx::FromRow)]
    struct StoredColumns {
        id: Option<MessageId>,
        seq: Option<i64>,
        content: Option<String>,
        message_type: Option<String>,
        reply_to_id: Option<MessageId>,
        created_at: Option<DateTime<Utc>>,
        edited_at: Option<DateTime<Utc>>,
        deleted_at: Option<DateTime<Utc>>,
        call: Option<Vec<u8>>,
    }
    impl StoredColumns {
        /// The message stored before under the send's key; `None` when there is none.
        fn into_message(self, send: &send_plan::Key<'_>) -> Option<Message> {
            Some(Message {
                id: self.id?,
                room_id: send.room,
                seq: self.seq?,
                sender_id: send.sender,
                content: self.content,
                message_type: MessageType::parse(&self.message_type?),
                client_msg_id: send.client_msg_id.map(str::to_owned),
                reply_to_id: self.reply_to_id,
                created_at: self.created_at?,
                edited_at: self.edited_at,
                deleted_at: self.deleted_at,
                call: self.call,
                attachments: Vec::new(),
            })
        }
    }
    let rooms: Vec<RoomId> = sends.iter().map(|send| send.room).collect();
    let senders: Vec<UserId> = sends.iter().map(|send| send.sender).collect();
    let client_ids: Vec<Option<&str>> = sends.iter().map(|send| send.client_msg_id).collect();
    let rows: Vec<Row> = sqlx::query_as(
        "WITH locked AS MATERIALIZED (
             SELECT id, last_seq FROM chat.rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE)
         SELECT now() AS now, l.last_seq, member.found IS NOT NULL AS is_member,
                m.id, m.seq, m.content, m.message_type, m.reply_to_id, m.created_at,
                m.edited_at, m.deleted_at, m.call
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) WITH ORDINALITY
              AS s(room_id, sender_id, client_id, position)
         LEFT JOIN locked l ON l.id = s.room_id
         LEFT JOIN LATERAL (SELECT true AS found FROM chat.members
                            WHERE room_id = s.room_id AND user_id = s.sender_id
                            LIMIT 1) member ON true
         LEFT JOIN LATERAL (SELECT * FROM chat.messages
                            WHERE sender_id = s.sender_id AND room_id = s.room_id
                              AND client_msg_id = s.client_id
                            LIMIT 1) m ON true
         ORDER BY s.position",
    )
    .bind(&rooms)
    .bind(&senders)
    .bind(&client_ids)
    .fetch_all(&mut *db)
    .await?;
    let now = match rows.first() {
        Some(row) => row.now,
        None => Utc::now(),
    };
    let facts = rows
        .into_iter()
        .zip(sends)
        .map(|(row, send)| send_plan::Facts {
            last_seq: row.last_seq,
            is_member: row.is_member,
            stored: row.stored.into_message(send),
        })
        .collect();
    Ok((now, facts))
}

/// Stores planned messages in one statement: the messages, each room's new newest seq, and
/// the senders' read pointers (a sender has read what they sent). The `= ANY` conditions
/// are for the planner: it guesses a fixed row count for an UNNEST, and against a small table would
/// hash-join it with a sequential scan of every room and member; with them, it reads only
/// the batch's rooms and their members by index, whatever the tables' size.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql", messages = messages.len()))]
pub async fn apply_sends(
    db: &mut PgConnection,
    messages: &[Message],
    last_seqs: &[(RoomId, i64)],
) -> sqlx::Result<()> {
    let column = |f: fn(&Message) -> Uuid| messages.iter().map(f).collect::<Vec<_>>();
    let (rooms, seqs): (Vec<RoomId>, Vec<i64>) = last_seqs.iter().copied().unzip();
    sqlx::query(
        "WITH stored AS (
             INSERT INTO chat.messages (id, room_id, seq, sender_id, content, message_type,
                                        client_msg_id, reply_to_id, created_at, call)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[],
                                  $6::text[], $7::text[], $8::uuid[], $9::timestamptz[],
                                  $12::bytea[])),
         rooms AS (
             UPDATE chat.rooms r SET last_seq = c.last_seq, last_message_at = now()
             FROM UNNEST($10::uuid[], $11::bigint[]) AS c(id, last_seq)
             WHERE r.id = c.id AND r.id = ANY($10))
         UPDATE chat.members m SET last_read_seq = GREATEST(m.last_read_seq, c.seq)
         FROM (SELECT room_id, user_id, max(seq) AS seq
               FROM UNNEST($2::uuid[], $4::uuid[], $3::bigint[]) AS t(room_id, user_id, seq)
               GROUP BY room_id, user_id) c
         WHERE m.room_id = c.room_id AND m.user_id = c.user_id AND m.room_id = ANY($10)",
    )
    .bind(column(|m| m.id.0))
    .bind(column(|m| m.room_id.0))
    .bind(messages.iter().map(|m| m.seq).collect::<Vec<_>>())
    .bind(column(|m| m.sender_id.0))
    .bind(
        messages
            .iter()
            .map(|m| m.content.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        messages
            .iter()
            .map(|m| m.message_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        messages
            .iter()
            .map(|m| m.client_msg_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(messages.iter().map(|m| m.reply_to_id).collect::<Vec<_>>())
    .bind(messages.iter().map(|m| m.created_at).collect::<Vec<_>>())
    .bind(rooms)
    .bind(seqs)
    .bind(
        messages
            .iter()
            .map(|m| m.call.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(db)
    .await
    .map(drop)
}

/// A page of a room's history: before/after a seq, newest first (oldest first with
/// `after`), or skipping `offset` newest; one more than `limit` to tell if there is more.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn history(
    db: &mut PgConnection,
    room: RoomId,
    cursor: HistoryCursor,
    limit: u32,
) -> sqlx::Result<Vec<Message>> {
    let fetch = i64::from(limit) + 1;
    let (condition, order, offset) = match cursor {
        HistoryCursor::Before(seq) => (format!("seq < {seq}"), "DESC", 0),
        HistoryCursor::After(seq) => (format!("seq > {seq}"), "ASC", 0),
        HistoryCursor::Offset(offset) => ("true".to_owned(), "DESC", i64::from(offset)),
    };
    // Only integers are formatted into the statement.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat.messages
         WHERE room_id = $1 AND {condition}
         ORDER BY seq {order} LIMIT $2 OFFSET $3"
    )))
    .bind(room)
    .bind(fetch)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// Where a history page starts.
#[derive(Debug, Clone, Copy)]
pub enum HistoryCursor {
    Before(i64),
    After(i64),
    Offset(u32),
}

/// The room's newest seq.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn last_seq(db: &mut PgConnection, room: RoomId) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT last_seq FROM chat.rooms WHERE id = $1")
        .bind(room)
        .fetch_one(db)
        .await
}

/// The id of the message with `seq` in `room`.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn message_at(
    db: &mut PgConnection,
    room: RoomId,
    seq: i64,
) -> sqlx::Result<Option<MessageId>> {
    sqlx::query_scalar("SELECT id FROM chat.messages WHERE room_id = $1 AND seq = $2")
        .bind(room)
        .bind(seq)
        .fetch_optional(db)
        .await
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn edit_message(
    db: &mut PgConnection,
    id: MessageId,
    content: &str,
) -> sqlx::Result<Option<Message>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE chat.messages SET content = $2, edited_at = now()
         WHERE id = $1 AND deleted_at IS NULL
         RETURNING {MESSAGE_COLUMNS}"
    )))
    .bind(id)
    .bind(content)
    .fetch_optional(db)
    .await
}

/// Turns a message into a tombstone; returns the attachments it held (which stay, for
/// [`attachment_refs`]), or `None` if it already was one.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn delete_message(
    db: &mut PgConnection,
    id: MessageId,
) -> sqlx::Result<Option<Vec<AttachmentId>>> {
    sqlx::query_scalar(
        "WITH deleted AS (
             UPDATE chat.messages SET content = NULL, call = NULL, deleted_at = now()
             WHERE id = $1 AND deleted_at IS NULL
             RETURNING id)
         SELECT COALESCE(array_agg(a.attachment_id ORDER BY a.position)
                             FILTER (WHERE a.attachment_id IS NOT NULL), '{}')
         FROM deleted d LEFT JOIN chat.message_attachments a ON a.message_id = d.id
         GROUP BY d.id",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The latest message of each room, for `list-rooms`.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn last_messages(db: &mut PgConnection, rooms: &[RoomId]) -> sqlx::Result<Vec<Message>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat.messages m
         WHERE (m.room_id, m.seq) IN (
             SELECT id, last_seq FROM chat.rooms WHERE id = ANY($1) AND last_seq > 0)"
    )))
    .bind(rooms)
    .fetch_all(db)
    .await
}

/// Moves many read pointers forward in one statement; returns each pointer before and
/// after, for the (room, user) pairs that are memberships.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn advance_reads(
    db: &mut PgConnection,
    rooms: &[RoomId],
    users: &[UserId],
    seqs: &[i64],
) -> sqlx::Result<Vec<(RoomId, UserId, i64, i64)>> {
    // Every part of the statement sees the same snapshot: `old` holds the pointers as they
    // were before `moved` changed them.
    sqlx::query_as(
        "WITH targets AS (
             SELECT room_id, user_id, max(seq) AS seq
             FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[]) AS t(room_id, user_id, seq)
             GROUP BY room_id, user_id),
         old AS (
             SELECT m.room_id, m.user_id, m.last_read_seq AS before
             FROM chat.members m JOIN targets t USING (room_id, user_id)),
         moved AS (
             UPDATE chat.members m SET last_read_seq = GREATEST(m.last_read_seq, t.seq)
             FROM targets t
             WHERE m.room_id = t.room_id AND m.user_id = t.user_id
             RETURNING m.room_id, m.user_id, m.last_read_seq)
         SELECT moved.room_id, moved.user_id, old.before, moved.last_read_seq
         FROM moved JOIN old USING (room_id, user_id)",
    )
    .bind(rooms)
    .bind(users)
    .bind(seqs)
    .fetch_all(db)
    .await
}
