//! The gRPC face of `chat-svc`: converts requests, delegates to [`Chat`], converts answers.

pub mod convert;

use std::sync::Arc;

use parley_common::events::EventStream;
use parley_proto::chat::v1::{self as pb, chat_service_server::ChatService};
use tonic::{Request, Response, Status};

use crate::{
    attachments::Attachments,
    domain::{MessageId, RoomId, UserId},
    error::Error,
    messages::{Messages, Outgoing, Target},
    service::Chat,
};

/// The `parley.chat.v1.ChatService` implementation.
#[derive(Clone)]
pub struct ChatGrpc {
    chat: Chat,
    messages: Arc<Messages>,
    attachments: Arc<Attachments>,
}

impl ChatGrpc {
    pub fn new(chat: Chat, messages: Arc<Messages>, attachments: Attachments) -> Self {
        Self {
            chat,
            messages,
            attachments: Arc::new(attachments),
        }
    }

    /// The block cache, for the task that keeps it fresh.
    pub fn blocks(&self) -> Arc<crate::blocks::Blocks> {
        self.chat.blocks.clone()
    }

    /// The member cache, for the task that keeps it true to other replicas' changes.
    pub fn members(&self) -> Arc<crate::member_cache::MemberCache> {
        self.chat.members.clone()
    }

    /// The event log behind `Subscribe`, to close it at shutdown.
    pub fn events(&self) -> std::sync::Arc<crate::events::Events> {
        self.chat.events.clone()
    }
}

type Answer<T> = Result<Response<T>, Status>;

/// The target of a request's `target` oneof (each RPC has its own generated type of it,
/// with the same two cases): see [`target_of`].
macro_rules! asked_target {
    ($target:expr, $oneof:path) => {{
        use $oneof as Asked;
        match &$target {
            Some(Asked::RoomId(id)) => target_of(Some(id), None),
            Some(Asked::ReceiverId(id)) => target_of(None, Some(id)),
            None => target_of(None, None),
        }
    }};
}

/// The target a post names: a room (`chatRoomId`, as clients call it) or a user (a DM).
fn target_of(room_id: Option<&str>, receiver_id: Option<&str>) -> Result<Target, Error> {
    match (room_id, receiver_id) {
        (Some(id), _) => Ok(Target::Room(RoomId::parse("chatRoomId", id)?)),
        (None, Some(id)) => Ok(Target::Receiver(UserId::parse("receiverId", id)?)),
        (None, None) => Err(Error::InvalidArgument(
            "chatRoomId or receiverId is required".to_owned(),
        )),
    }
}

#[tonic::async_trait]
impl ChatService for ChatGrpc {
    async fn create_room(
        &self,
        request: Request<pb::CreateRoomRequest>,
    ) -> Answer<pb::CreateRoomResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room = self
            .chat
            .create_room(
                me,
                request.name.as_deref(),
                request.is_group,
                &request.member_ids,
                request.is_public.unwrap_or(false),
            )
            .await?;
        Ok(Response::new(pb::CreateRoomResponse { room: Some(room) }))
    }

    async fn list_rooms(
        &self,
        request: Request<pb::ListRoomsRequest>,
    ) -> Answer<pb::ListRoomsResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let page = self
            .chat
            .list_rooms(me, request.limit, request.cursor.as_deref())
            .await?;
        let ids: Vec<RoomId> = page.rooms.iter().map(|listed| listed.id).collect();
        let mut last = self.messages.last_messages(me, &ids).await?;
        Ok(Response::new(pb::ListRoomsResponse {
            rooms: page
                .rooms
                .into_iter()
                .map(|listed| pb::RoomSummary {
                    last_message: last.remove(&listed.room.id),
                    room: Some(listed.room),
                    unread_count: listed.unread_count,
                })
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }

    async fn get_room(&self, request: Request<pb::GetRoomRequest>) -> Answer<pb::GetRoomResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room_id = RoomId::parse("roomId", &request.room_id)?;
        let room = self.chat.get_room(me, room_id).await?;
        Ok(Response::new(pb::GetRoomResponse { room: Some(room) }))
    }

    async fn add_members(
        &self,
        request: Request<pb::AddMembersRequest>,
    ) -> Answer<pb::AddMembersResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room_id = RoomId::parse("roomId", &request.room_id)?;
        let room = self
            .chat
            .add_members(me, room_id, &request.user_ids)
            .await?;
        Ok(Response::new(pb::AddMembersResponse { room: Some(room) }))
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Answer<pb::RemoveMemberResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room_id = RoomId::parse("roomId", &request.room_id)?;
        let user = UserId::parse("userId", &request.user_id)?;
        self.chat.remove_member(me, room_id, user).await?;
        Ok(Response::new(pb::RemoveMemberResponse {}))
    }

    async fn join_room(
        &self,
        request: Request<pb::JoinRoomRequest>,
    ) -> Answer<pb::JoinRoomResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room_id = RoomId::parse("roomId", &request.room_id)?;
        let room = self.chat.join_room(me, room_id).await?;
        Ok(Response::new(pb::JoinRoomResponse { room: Some(room) }))
    }

    async fn leave_room(
        &self,
        request: Request<pb::LeaveRoomRequest>,
    ) -> Answer<pb::LeaveRoomResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room_id = RoomId::parse("roomId", &request.room_id)?;
        self.chat.leave_room(me, room_id).await?;
        Ok(Response::new(pb::LeaveRoomResponse {}))
    }

    async fn list_room_ids(
        &self,
        request: Request<pb::ListRoomIdsRequest>,
    ) -> Answer<pb::ListRoomIdsResponse> {
        let request = request.into_inner();
        let user = UserId::parse("user_id", &request.user_id)?;
        let (ids, next) = self
            .chat
            .room_ids(user, request.page_size, request.page_token.as_deref())
            .await?;
        Ok(Response::new(pb::ListRoomIdsResponse {
            room_ids: ids.iter().map(RoomId::to_string).collect(),
            next_page_token: next,
        }))
    }

    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Answer<pb::SendMessageResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let target = asked_target!(request.target, pb::send_message_request::Target)?;
        let message_type = convert::message_type_of(request.message_type);
        let reply_to_id = request
            .reply_to_id
            .as_deref()
            .map(|id| MessageId::parse("replyToId", id))
            .transpose()?;
        let message = self
            .messages
            .send(
                me,
                Outgoing {
                    target,
                    content: request.content,
                    message_type,
                    client_msg_id: request.client_msg_id,
                    reply_to_id,
                    origin_socket_id: request.origin_socket_id,
                    attachment_ids: request.attachment_ids,
                },
            )
            .await?;
        Ok(Response::new(pb::SendMessageResponse {
            message: Some(message),
        }))
    }

    async fn get_history(
        &self,
        request: Request<pb::GetHistoryRequest>,
    ) -> Answer<pb::GetHistoryResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room = RoomId::parse("roomId", &request.room_id)?;
        let (messages, has_more) = self
            .messages
            .history(me, room, request.limit, request.cursor)
            .await?;
        Ok(Response::new(pb::GetHistoryResponse { messages, has_more }))
    }

    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Answer<pb::MarkReadResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room = RoomId::parse("roomId", &request.room_id)?;
        let message = request
            .message_id
            .as_deref()
            .map(|id| MessageId::parse("messageId", id))
            .transpose()?;
        let read = self.messages.mark_read(me, room, message).await?;
        Ok(Response::new(convert::read_state(read)))
    }

    async fn typing(&self, request: Request<pb::TypingRequest>) -> Answer<pb::TypingResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room = RoomId::parse("roomId", &request.room_id)?;
        self.messages.typing(me, room, request.is_typing).await?;
        Ok(Response::new(pb::TypingResponse {}))
    }

    async fn edit_message(
        &self,
        request: Request<pb::EditMessageRequest>,
    ) -> Answer<pb::EditMessageResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let id = MessageId::parse("messageId", &request.message_id)?;
        let message = self.messages.edit(me, id, &request.content).await?;
        Ok(Response::new(pb::EditMessageResponse {
            message: Some(message),
        }))
    }

    async fn delete_message(
        &self,
        request: Request<pb::DeleteMessageRequest>,
    ) -> Answer<pb::DeleteMessageResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let id = MessageId::parse("messageId", &request.message_id)?;
        self.messages.delete(me, id).await?;
        Ok(Response::new(pb::DeleteMessageResponse {}))
    }

    async fn sync(&self, request: Request<pb::SyncRequest>) -> Answer<pb::SyncResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let rooms = self
            .messages
            .sync(me, &request.rooms, request.limit)
            .await?;
        Ok(Response::new(pb::SyncResponse { rooms }))
    }

    async fn get_attachment_urls(
        &self,
        request: Request<pb::GetAttachmentUrlsRequest>,
    ) -> Answer<pb::GetAttachmentUrlsResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room = RoomId::parse("roomId", &request.room_id)?;
        let urls = self
            .attachments
            .urls(me, room, &request.attachment_ids)
            .await?;
        Ok(Response::new(pb::GetAttachmentUrlsResponse { urls }))
    }

    async fn list_attachments(
        &self,
        request: Request<pb::ListAttachmentsRequest>,
    ) -> Answer<pb::ListAttachmentsResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room = RoomId::parse("roomId", &request.room_id)?;
        let (attachments, has_more) = self
            .attachments
            .gallery(
                me,
                room,
                request.kind,
                request.before.as_deref(),
                request.limit,
            )
            .await?;
        Ok(Response::new(pb::ListAttachmentsResponse {
            attachments,
            has_more,
        }))
    }

    async fn check_post_target(
        &self,
        request: Request<pb::CheckPostTargetRequest>,
    ) -> Answer<pb::CheckPostTargetResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let target = asked_target!(request.target, pb::check_post_target_request::Target)?;
        let room = self.messages.check_post_target(me, target).await?;
        Ok(Response::new(pb::CheckPostTargetResponse {
            room_id: room.to_string(),
        }))
    }

    async fn list_attachment_refs(
        &self,
        request: Request<pb::ListAttachmentRefsRequest>,
    ) -> Answer<pb::ListAttachmentRefsResponse> {
        let request = request.into_inner();
        let refs = self.attachments.refs(&request.attachment_ids).await?;
        Ok(Response::new(pb::ListAttachmentRefsResponse { refs }))
    }

    async fn resolve_call_target(
        &self,
        request: Request<pb::ResolveCallTargetRequest>,
    ) -> Answer<pb::ResolveCallTargetResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let target = asked_target!(request.target, pb::resolve_call_target_request::Target)?;
        let (room, peer) = self.messages.resolve_call_target(me, target).await?;
        Ok(Response::new(pb::ResolveCallTargetResponse {
            room_id: room.to_string(),
            peer_id: peer.to_string(),
        }))
    }

    async fn append_call_message(
        &self,
        request: Request<pb::AppendCallMessageRequest>,
    ) -> Answer<pb::AppendCallMessageResponse> {
        let request = request.into_inner();
        let room = RoomId::parse("room_id", &request.room_id)?;
        let message = self
            .messages
            .append_call(
                room,
                request.call,
                &request.content,
                &request.read_by_user_ids,
            )
            .await?;
        Ok(Response::new(pb::AppendCallMessageResponse {
            message: Some(message),
        }))
    }

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Answer<EventStream<pb::ChatEvent>> {
        let (metadata, _, request) = request.into_parts();
        tracing::info!(edge = request.edge_id, after = ?request.after_event_id, "edge subscribed");
        Ok(self
            .chat
            .events
            .log
            .answer(&metadata, request.after_event_id)
            .await)
    }

    async fn subscribe_by_interest(
        &self,
        request: Request<tonic::Streaming<pb::InterestRequest>>,
    ) -> Answer<EventStream<pb::ChatEvent>> {
        crate::interest::answer(&self.chat.events.log, request).await
    }
}
