//! The message operations of chat-svc: send (through the batching writer), history, read
//! state, edits and deletes, typing, and catch-up after a reconnect.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use chrono::Utc;
use parley_common::rate_limit::RateLimit;
use parley_proto::{calls::v1::CallLog, chat::v1 as pb};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    attachment_urls, call_logs,
    direct_rooms::DirectRooms,
    domain::{self, AttachmentId, AttachmentKind, MessageId, MessageType, RoomId, UserId},
    error::Error,
    events::{Announce, Batch, Events},
    grpc::convert,
    media::Media,
    member_cache::{MemberCache, RoomMembers},
    profiles::Profiles,
    read_pointers::ReadPointers,
    repo::{self, Attachment, HistoryCursor, Message},
    service::Chat,
    typing::{Notice, Typing},
    writer::{SendJob, Stored, Writer},
};

/// Longest message content, in characters.
pub const MAX_CONTENT_CHARS: usize = 4000;
/// Longest clientMsgId.
const MAX_CLIENT_MSG_ID: usize = 128;
/// History pages: default and largest.
const DEFAULT_HISTORY: u32 = 50;
const MAX_HISTORY: u32 = 100;
/// Largest `offset` of `get-history`: Postgres walks past every skipped row, so the offset
/// bounds a call's cost (older pages are reached with `before`, which walks none).
pub const MAX_HISTORY_OFFSET: u32 = 10_000;
/// Catch-up: messages per room per call, in all per call, rooms per call. Each room the
/// caller belongs to costs a query, so the rooms per call bound a call's cost; a client
/// with more rooms syncs them over several calls.
const DEFAULT_SYNC: u32 = 100;
const SYNC_BUDGET: u32 = 500;
pub const MAX_SYNC_ROOMS: usize = 100;

/// Whom a message is for.
pub enum Target {
    Room(RoomId),
    /// A DM by receiver: the pair's room is made on first use.
    Receiver(UserId),
}

/// What a client sends.
pub struct Outgoing {
    pub target: Target,
    pub content: String,
    pub message_type: MessageType,
    pub client_msg_id: Option<String>,
    pub reply_to_id: Option<MessageId>,
    /// The sending socket, which does not get its own `new-private-message`.
    pub origin_socket_id: Option<String>,
    /// media-svc uploads to send with it (`attachmentIds`), as the client named them.
    pub attachment_ids: Vec<String>,
}

/// Where a post goes, once the poster may post there.
enum Posting {
    /// A room the poster belongs to.
    Room {
        room: RoomId,
        members: Arc<RoomMembers>,
    },
    /// A DM by receiver, in the pair's room.
    Direct { room: RoomId, receiver: UserId },
}

impl Posting {
    fn room(&self) -> RoomId {
        match self {
            Posting::Room { room, .. } | Posting::Direct { room, .. } => *room,
        }
    }
}

/// Where a member's read pointer stands after `mark-read`.
pub struct ReadState {
    pub room: RoomId,
    /// The message at the pointer; `None` before the room's first message.
    pub message: Option<MessageId>,
    pub unread_count: u32,
}

pub struct Messages {
    pool: PgPool,
    chat: Chat,
    events: Arc<Events>,
    profiles: Arc<Profiles>,
    members: Arc<MemberCache>,
    typing: Arc<Typing<Events>>,
    rate: RateLimit<UserId>,
    writer: Writer,
    read_pointers: ReadPointers,
    direct_rooms: DirectRooms,
    /// `None` when attachments are not configured (no URL signing keys).
    media: Option<Arc<Media>>,
}

impl Messages {
    pub fn new(
        pool: PgPool,
        chat: Chat,
        per_minute: u32,
        writers: usize,
        media: Option<Arc<Media>>,
    ) -> Self {
        let events = chat.events.clone();
        let profiles = chat.profiles.clone();
        // Announced in the batch's own transaction, in seq order, before any sender hears back.
        let announce = |stored: Vec<Stored<'_>>, events: &Batch| {
            for Stored { message, job } in stored {
                let names = HashMap::from([(job.sender_id, job.sender.clone())]);
                match &job.private {
                    Some((receiver, origin)) => {
                        let rendered = convert::message(message, &names, Some(*receiver));
                        events.private_message(
                            rendered,
                            &[*receiver, job.sender_id],
                            origin.clone(),
                        );
                    }
                    None => events.new_message(
                        message.room_id,
                        convert::message(message, &names, None),
                        &job.blockers,
                    ),
                }
            }
        };
        let typing = Typing::new(events.clone());
        Self {
            writer: Writer::spawn(pool.clone(), events.clone(), writers, announce),
            read_pointers: ReadPointers::spawn(pool.clone()),
            members: chat.members.clone(),
            pool,
            chat,
            events,
            profiles,
            typing,
            rate: RateLimit::per_minute(per_minute),
            direct_rooms: DirectRooms::default(),
            media,
        }
    }

    /// What attachments need, or the answer when they are not configured.
    pub(crate) fn media(&self) -> Result<&Media, Error> {
        self.media
            .as_deref()
            .ok_or(Error::FailedPrecondition("attachments are not configured"))
    }

    /// Signs the attachments of messages rendered for a reader.
    fn sign_all(&self, messages: &mut [pb::Message]) {
        if let Some(media) = &self.media {
            let now = attachment_urls::now();
            for message in messages {
                attachment_urls::sign_message(message, &media.urls, now);
            }
        }
    }

    /// Reads the attachments of the messages that may carry some, in one query whatever
    /// their number (none when no message may).
    async fn read_attachments(&self, messages: Vec<&mut Message>) -> Result<(), Error> {
        let mut messages: Vec<&mut Message> = messages
            .into_iter()
            .filter(|message| message.may_carry_attachments())
            .collect();
        if messages.is_empty() {
            return Ok(());
        }
        let ids: Vec<MessageId> = messages.iter().map(|message| message.id).collect();
        let mut db = self.pool.acquire().await?;
        let found = repo::attachments_of(&mut db, &ids).await?;
        drop(db);
        let mut by_message: HashMap<MessageId, Vec<Attachment>> = HashMap::new();
        for attachment in found {
            by_message
                .entry(attachment.message_id)
                .or_default()
                .push(attachment);
        }
        for message in &mut messages {
            message.attachments = by_message.remove(&message.id).unwrap_or_default();
        }
        Ok(())
    }

    /// Who is in `room` (and whether it is a direct room), from memory when possible;
    /// `None` when the room does not exist. Sends, typing and reads ask this, so the hot
    /// paths do not read the database.
    async fn room_members(&self, room: RoomId) -> Result<Option<Arc<RoomMembers>>, Error> {
        if let Some(members) = self.members.get(room) {
            return Ok(Some(members));
        }
        let mark = self.members.mark();
        let mut db = self.pool.acquire().await?;
        let Some(found) = repo::room(&mut db, room).await? else {
            return Ok(None);
        };
        let members = Arc::new(RoomMembers {
            members: repo::members(&mut db, room)
                .await?
                .into_iter()
                .map(|member| member.user_id)
                .collect(),
            direct: !found.is_group,
        });
        self.members.put(room, members.clone(), mark);
        Ok(Some(members))
    }

    /// The room's members when `user` is one of them.
    async fn membership(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Option<Arc<RoomMembers>>, Error> {
        Ok(self
            .room_members(room)
            .await?
            .filter(|room| room.members.contains(&user)))
    }

    /// The room's members, if `user` is one of them.
    pub(crate) async fn require_member(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Arc<RoomMembers>, Error> {
        match self.room_members(room).await? {
            Some(members) if members.members.contains(&user) => Ok(members),
            Some(_) => Err(Error::PermissionDenied("you are not a member of this room")),
            None => Err(Error::NotFound("no such room")),
        }
    }

    /// In a direct room, a block between the two members stops whatever would reach the
    /// other: messages, but also typing and edits, which the other sees as surely.
    async fn require_unblocked(&self, room: &RoomMembers, me: UserId) -> Result<(), Error> {
        match room.other_than(me) {
            Some(other) => self.chat.blocks.require_none(me, &[other]).await,
            None => Ok(()),
        }
    }

    /// The members of `room` who blocked `sender`: who must not hear `sender`'s live events
    /// there (docs/API.md). From memory once `sender`'s blocks are cached.
    async fn blockers_among(
        &self,
        sender: UserId,
        room: &RoomMembers,
    ) -> Result<Vec<UserId>, Error> {
        if room.direct {
            // A block in a direct room refuses the action itself (`require_unblocked`).
            return Ok(Vec::new());
        }
        Ok(self
            .chat
            .blocks
            .of(sender)
            .await?
            .blockers_among(&room.members))
    }

    pub async fn send(&self, me: UserId, outgoing: Outgoing) -> Result<pb::Message, Error> {
        // With attachments, content is an optional caption (docs/API.md "Attachments").
        let attachments = match outgoing.attachment_ids.as_slice() {
            [] => None,
            raw => {
                let media = self.media()?;
                Some((media, domain::attachment_ids(raw, media.max_per_message)?))
            }
        };
        let content = validate_content(&outgoing.content, attachments.is_some())?;
        let message_type = outgoing.message_type;
        if message_type == MessageType::System {
            return Err(Error::invalid(
                "messageType",
                "SYSTEM messages come from the server",
            ));
        }
        // A call's log is written by the server when the call ends (docs/API.md): a client
        // that could send one could forge a call that never happened.
        if message_type == MessageType::Call {
            return Err(Error::invalid(
                "messageType",
                "CALL messages come from the server",
            ));
        }
        if attachments.is_some() && !matches!(message_type, MessageType::Image | MessageType::File)
        {
            return Err(Error::invalid(
                "messageType",
                "a message with attachments is IMAGE or FILE",
            ));
        }
        if let Some(id) = &outgoing.client_msg_id {
            if id.is_empty() || id.chars().count() > MAX_CLIENT_MSG_ID {
                return Err(Error::invalid(
                    "clientMsgId",
                    format!("must be 1–{MAX_CLIENT_MSG_ID} characters"),
                ));
            }
            if id.contains('\0') {
                return Err(Error::invalid(
                    "clientMsgId",
                    "must not contain NUL (U+0000)",
                ));
            }
        }
        // A retry of a stored send is never refused: the writer answers it with the stored
        // message. Only a send the rate limit refuses is looked up first, so the hot path
        // reads nothing.
        if let Err(retry_after) = self.rate.check(&me) {
            if let Some(client_msg_id) = &outgoing.client_msg_id
                && let Some(message) = self
                    .stored_send(me, &outgoing.target, client_msg_id)
                    .await?
            {
                return self.render_sent(me, message, None).await;
            }
            return Err(Error::RateLimited(retry_after));
        }
        // Nor is a retry with attachments, which media-svc would no longer resolve (they are
        // sent): it is looked up before media-svc is asked.
        if attachments.is_some()
            && let Some(client_msg_id) = &outgoing.client_msg_id
            && let Some(message) = self
                .stored_send(me, &outgoing.target, client_msg_id)
                .await?
        {
            return self.render_sent(me, message, None).await;
        }

        let posting = self.post_target(me, &outgoing.target).await?;
        let room = posting.room();
        let (private_to, blockers) = match &posting {
            Posting::Room { members, .. } => (None, self.blockers_among(me, members).await?),
            // A block refuses the DM itself: nobody to leave out.
            Posting::Direct { receiver, .. } => (Some(*receiver), Vec::new()),
        };
        if let Some(reply_to) = outgoing.reply_to_id {
            let mut db = self.pool.acquire().await?;
            let target = repo::message(&mut db, reply_to).await?;
            if target.is_none_or(|target| target.room_id != room) {
                return Err(Error::invalid(
                    "replyToId",
                    "must be a message of the same room",
                ));
            }
        }
        let id = MessageId(Uuid::new_v4());
        let attachments = match attachments {
            Some((media, ids)) => {
                resolve_attachments(media, me, room, id, &ids, message_type).await?
            }
            None => Vec::new(),
        };

        let profiles = self.profiles.get(&[me]).await?;
        let written = self
            .writer
            .send(SendJob {
                id,
                room_id: room,
                sender_id: me,
                sender: convert::user_or_unknown(&profiles, me),
                private: private_to.map(|receiver| (receiver, outgoing.origin_socket_id.clone())),
                content,
                message_type,
                client_msg_id: outgoing.client_msg_id,
                reply_to_id: outgoing.reply_to_id,
                attachments,
                blockers,
                call: None,
            })
            .await?;
        self.render_sent(me, written, private_to).await
    }

    /// Where `me` may post to `target` (a message, or an upload for one: `CheckPostTarget`
    /// answers the same): a room they belong to, without a block between the two members of
    /// a direct room; or a user, in the pair's DM room, made on first use.
    async fn post_target(&self, me: UserId, target: &Target) -> Result<Posting, Error> {
        match *target {
            Target::Room(room) => {
                let members = self.require_member(room, me).await?;
                self.require_unblocked(&members, me).await?;
                Ok(Posting::Room { room, members })
            }
            Target::Receiver(receiver) => {
                if receiver == me {
                    return Err(Error::invalid("receiverId", "you cannot message yourself"));
                }
                // Most DMs go to a room that exists: read it before trying to make it.
                let room = match self.existing_direct_room(me, receiver).await? {
                    Some(room) => {
                        self.chat.blocks.require_none(me, &[receiver]).await?;
                        room
                    }
                    None => self.chat.direct_room(me, receiver).await?.0,
                };
                self.direct_rooms.insert(direct_pair(me, receiver), room);
                Ok(Posting::Direct { room, receiver })
            }
        }
    }

    /// The room a post by `me` to `target` would go to, for media-svc before it takes an
    /// upload: the answers of [`Self::send`], the DM room made on first use alike.
    pub async fn check_post_target(&self, me: UserId, target: Target) -> Result<RoomId, Error> {
        self.media()?;
        Ok(self.post_target(me, &target).await?.room())
    }

    /// The DM room a call by `me` to `target` goes to and the callee (`ResolveCallTarget`):
    /// the answers of [`Self::send`] for that target, the DM room made on first use alike,
    /// and a group room refused, since calls are one to one (docs/API.md "/calls").
    pub async fn resolve_call_target(
        &self,
        me: UserId,
        target: Target,
    ) -> Result<(RoomId, UserId), Error> {
        match self.post_target(me, &target).await? {
            Posting::Direct { room, receiver } => Ok((room, receiver)),
            Posting::Room { room, members } => match members.other_than(me) {
                Some(peer) => Ok((room, peer)),
                None => Err(Error::FailedPrecondition(
                    "calls are one to one: a group room cannot be called",
                )),
            },
        }
    }

    /// Writes the one CALL message of an ended call (`AppendCallMessage`), sent by its caller
    /// under the key `call:<callId>`, so that calls-svc may retry until it hears back: a
    /// retry is answered with the stored message and announces nothing. It goes through the
    /// writer like any send (gapless seq, `new-message` to the room), but no rate limit or
    /// block stops it: the call happened. Then the pointers of `read_by` (who took part)
    /// move to it, as `mark-read` would move them.
    pub async fn append_call(
        &self,
        room: RoomId,
        log: Option<CallLog>,
        content: &str,
        read_by: &[String],
    ) -> Result<pb::Message, Error> {
        let checked = call_logs::check(log)?;
        let content = validate_content(content, false)?;
        let mut readers = Vec::with_capacity(read_by.len());
        for raw in read_by {
            let reader = UserId::parse("read_by_user_ids", raw)?;
            if reader != checked.caller && reader != checked.callee {
                return Err(Error::invalid(
                    "read_by_user_ids",
                    "must name the caller or the callee",
                ));
            }
            if !readers.contains(&reader) {
                readers.push(reader);
            }
        }
        let members = self
            .room_members(room)
            .await?
            .ok_or(Error::NotFound("no such room"))?;
        if !members.direct {
            return Err(Error::FailedPrecondition(
                "calls are logged in DM rooms only",
            ));
        }
        if !(members.members.contains(&checked.caller) && members.members.contains(&checked.callee))
        {
            return Err(Error::FailedPrecondition(
                "the caller and the callee must be the room's members",
            ));
        }
        let caller = checked.caller;
        let profiles = self.profiles.get(&[caller]).await?;
        let written = self
            .writer
            .send(SendJob {
                id: MessageId(Uuid::new_v4()),
                room_id: room,
                sender_id: caller,
                sender: convert::user_or_unknown(&profiles, caller),
                private: None,
                content,
                message_type: MessageType::Call,
                client_msg_id: Some(checked.client_msg_id()),
                reply_to_id: None,
                attachments: Vec::new(),
                // A block does not stop a call's log, and a DM room has no one to leave out.
                blockers: Vec::new(),
                call: Some(checked.log),
            })
            .await?;
        // Also on a retry: an attempt that stored the message but failed before the pointers
        // moved is finished here. A pointer already there does not move, and announces nothing.
        for reader in readers {
            let (before, read) = self
                .read_pointers
                .advance(room, reader, written.seq)
                .await?;
            if read > before && read == written.seq {
                self.events
                    .messages_read(room, reader, written.id, Utc::now());
            }
        }
        self.render_sent(caller, written, Some(checked.callee))
            .await
    }

    /// The message `me` stored before under `client_msg_id` for `target`, if any; a DM room
    /// that does not exist yet holds none.
    async fn stored_send(
        &self,
        me: UserId,
        target: &Target,
        client_msg_id: &str,
    ) -> Result<Option<Message>, Error> {
        let room = match *target {
            Target::Room(room) => room,
            Target::Receiver(receiver) => match self.existing_direct_room(me, receiver).await? {
                Some(room) => room,
                None => return Ok(None),
            },
        };
        let mut db = self.pool.acquire().await?;
        Ok(repo::message_by_client_id(&mut db, me, room, client_msg_id).await?)
    }

    /// The DM room of `me` and `other` if it exists: from memory, else from Postgres.
    async fn existing_direct_room(
        &self,
        me: UserId,
        other: UserId,
    ) -> Result<Option<RoomId>, Error> {
        let pair = direct_pair(me, other);
        if let Some(room) = self.direct_rooms.get(pair) {
            return Ok(Some(room));
        }
        let mut db = self.pool.acquire().await?;
        Ok(repo::existing_dm_room(&mut db, pair).await?)
    }

    /// A message `me` sent, as the ack shows it: with the receiver in a DM room (`receiver`
    /// when the caller knows it), with its attachments (read when it is a retry's) signed.
    async fn render_sent(
        &self,
        me: UserId,
        mut message: Message,
        receiver: Option<UserId>,
    ) -> Result<pb::Message, Error> {
        self.read_attachments(vec![&mut message]).await?;
        let profiles = self.profiles.get(&[me]).await?;
        let receiver = match receiver {
            Some(receiver) => Some(receiver),
            None => self
                .room_members(message.room_id)
                .await?
                .and_then(|room| room.other_than(me)),
        };
        let mut rendered = convert::message(&message, &profiles, receiver);
        self.sign_all(std::slice::from_mut(&mut rendered));
        Ok(rendered)
    }

    pub async fn history(
        &self,
        me: UserId,
        room: RoomId,
        limit: Option<u32>,
        cursor: Option<pb::get_history_request::Cursor>,
    ) -> Result<(Vec<pb::Message>, bool), Error> {
        let limit = limit.unwrap_or(DEFAULT_HISTORY);
        if !(1..=MAX_HISTORY).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be 1–{MAX_HISTORY}")));
        }
        let members = self.require_member(room, me).await?;
        let seq_of = |id: &str, field: &'static str| {
            let id = MessageId::parse(field, id);
            async move {
                let id = id?;
                let mut db = self.pool.acquire().await?;
                match repo::message(&mut db, id).await? {
                    Some(message) if message.room_id == room => Ok(message.seq),
                    _ => Err(Error::invalid(field, "must be a message of this room")),
                }
            }
        };
        use pb::get_history_request::Cursor;
        let cursor = match cursor {
            None => HistoryCursor::Offset(0),
            Some(Cursor::Offset(offset)) if offset > MAX_HISTORY_OFFSET => {
                return Err(Error::invalid(
                    "offset",
                    format!("must be 0–{MAX_HISTORY_OFFSET} (older pages: use before)"),
                ));
            }
            Some(Cursor::Offset(offset)) => HistoryCursor::Offset(offset),
            Some(Cursor::BeforeMessageId(id)) => {
                HistoryCursor::Before(seq_of(&id, "before").await?)
            }
            Some(Cursor::AfterMessageId(id)) => HistoryCursor::After(seq_of(&id, "after").await?),
        };
        // One connection at a time: the cursor's message was read with its own, now returned.
        let mut db = self.pool.acquire().await?;
        let mut page = repo::history(&mut db, room, cursor, limit).await?;
        drop(db);
        let has_more = page.len() > limit as usize;
        page.truncate(limit as usize);
        self.read_attachments(page.iter_mut().collect()).await?;
        let blocked = self.chat.blocks.of(me).await?;
        let mut rendered = self
            .render_all(&page, Some(&members), Some(&blocked.blocked))
            .await?;
        self.sign_all(&mut rendered);
        Ok((rendered, has_more))
    }

    /// Messages as clients see them; in a direct room each names its receiver. With
    /// `blocked` (whom the reader blocked), their messages carry `senderBlocked`. Their
    /// attachments are not signed yet (see [`Self::sign_all`]).
    async fn render_all(
        &self,
        page: &[Message],
        room: Option<&RoomMembers>,
        blocked: Option<&HashSet<UserId>>,
    ) -> Result<Vec<pb::Message>, Error> {
        let senders: Vec<UserId> = page.iter().map(|message| message.sender_id).collect();
        let profiles = self.profiles.get(&senders).await?;
        Ok(page
            .iter()
            .map(|message| {
                let receiver = room.and_then(|room| room.other_than(message.sender_id));
                let mut rendered = convert::message(message, &profiles, receiver);
                rendered.sender_blocked =
                    blocked.is_some_and(|blocked| blocked.contains(&message.sender_id));
                rendered
            })
            .collect())
    }

    /// Moves the caller's read pointer to `message` (default: the newest) and tells the room.
    pub async fn mark_read(
        &self,
        me: UserId,
        room: RoomId,
        message: Option<MessageId>,
    ) -> Result<ReadState, Error> {
        self.require_member(room, me).await?;
        let mut db = self.pool.acquire().await?;
        let target_seq = match message {
            Some(id) => match repo::message(&mut db, id).await? {
                Some(found) if found.room_id == room => found.seq,
                _ => {
                    return Err(Error::invalid(
                        "messageId",
                        "must be a message of this room",
                    ));
                }
            },
            None => repo::last_seq(&mut db, room).await?,
        };
        drop(db);
        let (before, read) = self.read_pointers.advance(room, me, target_seq).await?;
        let mut db = self.pool.acquire().await?;
        let last = repo::last_seq(&mut db, room).await?;
        let at_pointer = repo::message_at(&mut db, room, read).await?;
        if read > before
            && let Some(id) = at_pointer
        {
            self.events.messages_read(room, me, id, Utc::now());
        }
        Ok(ReadState {
            room,
            message: at_pointer,
            unread_count: u32::try_from((last - read).max(0)).unwrap_or(u32::MAX),
        })
    }

    /// Changes a message's content; a message with attachments keeps them, and its caption
    /// may become empty.
    pub async fn edit(
        &self,
        me: UserId,
        id: MessageId,
        content: &str,
    ) -> Result<pb::Message, Error> {
        let content = validate_content(content, true)?;
        let mut db = self.pool.acquire().await?;
        let mut found = repo::message(&mut db, id)
            .await?
            .ok_or(Error::NotFound("no such message"))?;
        drop(db);
        let members = self
            .membership(found.room_id, me)
            .await?
            .ok_or(Error::NotFound("no such message"))?;
        if found.sender_id != me {
            return Err(Error::PermissionDenied(
                "only the author can edit a message",
            ));
        }
        // A call's log is the server's, though its caller sends it: editing its text would
        // forge what the call was (docs/API.md "/calls").
        if found.message_type == MessageType::Call {
            return Err(Error::PermissionDenied("a call's message cannot be edited"));
        }
        self.read_attachments(vec![&mut found]).await?;
        if content.is_empty() && found.attachments.is_empty() {
            return Err(content_length());
        }
        self.require_unblocked(&members, me).await?;
        let mut db = self.pool.acquire().await?;
        let mut edited =
            repo::edit_message(&mut db, id, &content)
                .await?
                .ok_or(Error::FailedPrecondition(
                    "a deleted message cannot be edited",
                ))?;
        drop(db);
        edited.attachments = found.attachments;
        let mut rendered = self
            .render_all(std::slice::from_ref(&edited), Some(&members), None)
            .await?
            .pop()
            .ok_or(Error::NotFound("no such message"))?;
        let blockers = self.blockers_among(me, &members).await?;
        // The event goes unsigned: each replica signs it as it enters its log.
        self.events
            .message_updated(edited.room_id, rendered.clone(), &blockers);
        self.sign_all(std::slice::from_mut(&mut rendered));
        Ok(rendered)
    }

    pub async fn delete(&self, me: UserId, id: MessageId) -> Result<(), Error> {
        let mut db = self.pool.acquire().await?;
        let found = repo::message(&mut db, id)
            .await?
            .ok_or(Error::NotFound("no such message"))?;
        let role = repo::role(&mut db, found.room_id, me)
            .await?
            .ok_or(Error::NotFound("no such message"))?;
        if found.sender_id != me && !role.is_admin() {
            return Err(Error::PermissionDenied(
                "only the author or a room admin can delete a message",
            ));
        }
        if let Some(attachments) = repo::delete_message(&mut db, id).await? {
            drop(db);
            if let (Some(media), false) = (&self.media, attachments.is_empty()) {
                media.delete_attachments(&attachments).await;
            }
            self.events.message_deleted(found.room_id, id, &attachments);
        }
        Ok(())
    }

    /// Relays typing to the other members but those who blocked the typer, at most once a
    /// second (`typing.rs`); an unrefreshed `true` ends after 6 s with a `false`. Nothing
    /// here touches the database once the room's members are cached.
    pub async fn typing(&self, me: UserId, room: RoomId, is_typing: bool) -> Result<(), Error> {
        let members = self.require_member(room, me).await?;
        self.require_unblocked(&members, me).await?;
        let username = self
            .profiles
            .get(&[me])
            .await?
            .get(&me)
            .map(|user| user.username.clone())
            .unwrap_or_default();
        let mut exclude = self.blockers_among(me, &members).await?;
        exclude.push(me);
        self.typing.set(
            room,
            me,
            is_typing,
            Notice {
                username,
                exclude: exclude.into(),
            },
        );
        Ok(())
    }

    /// What the caller missed in each room since the seq it saw last, oldest first.
    pub async fn sync(
        &self,
        me: UserId,
        rooms: &HashMap<String, u64>,
        limit: Option<u32>,
    ) -> Result<Vec<pb::RoomMessages>, Error> {
        if rooms.len() > MAX_SYNC_ROOMS {
            return Err(Error::invalid(
                "rooms",
                format!("at most {MAX_SYNC_ROOMS} rooms per call"),
            ));
        }
        let limit = limit.unwrap_or(DEFAULT_SYNC);
        if !(1..=MAX_HISTORY).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be 1–{MAX_HISTORY}")));
        }
        let mut asked = Vec::with_capacity(rooms.len());
        for (room, seen) in rooms {
            asked.push((RoomId::parse("rooms", room)?, room, *seen));
        }
        let mine = self.rooms_of_among(me, &asked).await?;
        let blocked = self.chat.blocks.of(me).await?;
        let mut pages = Vec::with_capacity(mine.len());
        // A bound on the whole answer: rooms past it come back with what fit and `has_more`.
        let mut budget = SYNC_BUDGET;
        for (room_id, room, seen) in asked {
            let Some(members) = mine.get(&room_id) else {
                continue; // Not (or no longer) a member: the room is left out.
            };
            let seen = i64::try_from(seen).unwrap_or(i64::MAX);
            let mut db = self.pool.acquire().await?;
            let take = limit.min(budget);
            let (page, has_more) = if take == 0 {
                (Vec::new(), repo::last_seq(&mut db, room_id).await? > seen)
            } else {
                let mut page =
                    repo::history(&mut db, room_id, HistoryCursor::After(seen), take).await?;
                let has_more = page.len() > take as usize;
                page.truncate(take as usize);
                (page, has_more)
            };
            budget = budget.saturating_sub(u32::try_from(page.len()).unwrap_or(u32::MAX));
            drop(db);
            pages.push((room, members, page, has_more));
        }
        // The attachments of every room's page in one read.
        self.read_attachments(
            pages
                .iter_mut()
                .flat_map(|(_, _, page, _)| page.iter_mut())
                .collect(),
        )
        .await?;
        let mut answers = Vec::with_capacity(pages.len());
        for (room, members, page, has_more) in pages {
            let mut messages = self
                .render_all(&page, Some(members), Some(&blocked.blocked))
                .await?;
            self.sign_all(&mut messages);
            answers.push(pb::RoomMessages {
                room_id: room.clone(),
                messages,
                has_more,
            });
        }
        Ok(answers)
    }

    /// The rooms among `asked` that `me` belongs to, with what rendering their messages
    /// needs: from the member cache where it holds them, the rest in one query whatever their
    /// number, so that rooms that do not exist (or are not `me`'s) cost nothing each.
    async fn rooms_of_among(
        &self,
        me: UserId,
        asked: &[(RoomId, &String, u64)],
    ) -> Result<HashMap<RoomId, Arc<RoomMembers>>, Error> {
        let mut mine = HashMap::new();
        let mut uncached = Vec::new();
        for (room, _, _) in asked {
            match self.members.get(*room) {
                Some(members) if members.members.contains(&me) => {
                    mine.insert(*room, members);
                }
                Some(_) => {}
                None => uncached.push(*room),
            }
        }
        if uncached.is_empty() {
            return Ok(mine);
        }
        let mut db = self.pool.acquire().await?;
        let found = repo::rooms_among(&mut db, me, &uncached).await?;
        // Rendering needs the members of direct rooms only (a message there names its
        // receiver): groups, up to 1000 members each, are not read.
        let direct: Vec<RoomId> = found
            .iter()
            .filter(|(_, is_group)| !is_group)
            .map(|(room, _)| *room)
            .collect();
        let mut pairs: HashMap<RoomId, HashSet<UserId>> = HashMap::new();
        for (room, member) in repo::members_of(&mut db, &direct).await? {
            pairs.entry(room).or_default().insert(member.user_id);
        }
        for (room, is_group) in found {
            let members = RoomMembers {
                members: pairs.remove(&room).unwrap_or_default(),
                direct: !is_group,
            };
            mine.insert(room, Arc::new(members));
        }
        Ok(mine)
    }

    /// The newest message of each room, rendered, for `list-rooms`.
    /// The newest message of each of `reader`'s `rooms`, rendered for them, for `list-rooms`.
    pub async fn last_messages(
        &self,
        reader: UserId,
        rooms: &[RoomId],
    ) -> Result<HashMap<String, pb::Message>, Error> {
        let mut db = self.pool.acquire().await?;
        let mut last = repo::last_messages(&mut db, rooms).await?;
        drop(db);
        self.read_attachments(last.iter_mut().collect()).await?;
        let blocked = self.chat.blocks.of(reader).await?;
        let mut rendered = self.render_all(&last, None, Some(&blocked.blocked)).await?;
        self.sign_all(&mut rendered);
        Ok(rendered
            .into_iter()
            .map(|message| (message.room_id.clone(), message))
            .collect())
    }
}

/// Two users as their DM room is keyed: the smaller id first.
fn direct_pair(a: UserId, b: UserId) -> (UserId, UserId) {
    if a < b { (a, b) } else { (b, a) }
}

/// A message's content: 1–4000 characters, or 0–4000 for the caption of a message with
/// attachments (`caption`); never NUL, and never only invisible characters.
fn validate_content(content: &str, caption: bool) -> Result<String, Error> {
    let length = content.chars().count();
    if length > MAX_CONTENT_CHARS || (length == 0 && !caption) {
        return Err(content_length());
    }
    if content.contains('\0') {
        return Err(Error::invalid("content", "must not contain NUL (U+0000)"));
    }
    if !content.is_empty() && content.chars().all(domain::is_invisible) {
        return Err(Error::invalid(
            "content",
            "must have a visible character, not only spaces or invisible ones",
        ));
    }
    Ok(content.to_owned())
}

fn content_length() -> Error {
    Error::invalid(
        "content",
        format!(
            "must be 1–{MAX_CONTENT_CHARS} characters (0–{MAX_CONTENT_CHARS} with attachments)"
        ),
    )
}

/// The attachments `ids` of message `id` by `sender` in `room`, as media-svc resolves them
/// (the sender's own completed uploads for that room), in order; an IMAGE carries images only.
async fn resolve_attachments(
    media: &Media,
    sender: UserId,
    room: RoomId,
    id: MessageId,
    ids: &[AttachmentId],
    message_type: MessageType,
) -> Result<Vec<Attachment>, Error> {
    let resolved = media.resolve_for_send(sender, room, ids).await?;
    let attachments: Vec<Attachment> = ids
        .iter()
        .zip(resolved)
        .enumerate()
        .map(|(position, (attachment_id, resolved))| {
            let position = i16::try_from(position).unwrap_or(i16::MAX);
            convert::resolved_attachment(*attachment_id, resolved, id, room, position)
        })
        .collect();
    if message_type == MessageType::Image
        && attachments
            .iter()
            .any(|attachment| attachment.kind != AttachmentKind::Image)
    {
        return Err(Error::invalid(
            "messageType",
            "an IMAGE message carries images only: send other files as FILE",
        ));
    }
    Ok(attachments)
}
