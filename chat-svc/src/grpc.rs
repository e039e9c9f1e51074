//! The gRPC face of `chat-svc`: converts requests, delegates to [`Chat`], converts answers.
//!
//! Operations not built yet keep the generated default, which answers `UNIMPLEMENTED`.

use parley_common::events::EventStream;
use parley_proto::chat::v1::{self as pb, chat_service_server::ChatService};
use tonic::{Request, Response, Status};

use crate::{domain::parse_id, service::Chat};

/// The `parley.chat.v1.ChatService` implementation.
#[derive(Clone)]
pub struct ChatGrpc {
    chat: Chat,
}

impl ChatGrpc {
    pub fn new(chat: Chat) -> Self {
        Self { chat }
    }

    /// The event log behind `Subscribe`, to close it at shutdown.
    pub fn events(&self) -> std::sync::Arc<crate::events::Events> {
        self.chat.events.clone()
    }
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl ChatService for ChatGrpc {
    async fn create_room(
        &self,
        request: Request<pb::CreateRoomRequest>,
    ) -> Answer<pb::CreateRoomResponse> {
        let request = request.into_inner();
        let me = parse_id("acting_user_id", &request.acting_user_id)?;
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
        let me = parse_id("acting_user_id", &request.acting_user_id)?;
        let page = self
            .chat
            .list_rooms(me, request.limit, request.cursor.as_deref())
            .await?;
        Ok(Response::new(pb::ListRoomsResponse {
            rooms: page
                .rooms
                .into_iter()
                .map(|(room, unread_count)| pb::RoomSummary {
                    room: Some(room),
                    unread_count,
                    // Messages arrive with the messaging slice; no room has one yet.
                    last_message: None,
                })
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }

    async fn get_room(&self, request: Request<pb::GetRoomRequest>) -> Answer<pb::GetRoomResponse> {
        let request = request.into_inner();
        let me = parse_id("acting_user_id", &request.acting_user_id)?;
        let room_id = parse_id("roomId", &request.room_id)?;
        let room = self.chat.get_room(me, room_id).await?;
        Ok(Response::new(pb::GetRoomResponse { room: Some(room) }))
    }

    async fn add_members(
        &self,
        request: Request<pb::AddMembersRequest>,
    ) -> Answer<pb::AddMembersResponse> {
        let request = request.into_inner();
        let me = parse_id("acting_user_id", &request.acting_user_id)?;
        let room_id = parse_id("roomId", &request.room_id)?;
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
        let me = parse_id("acting_user_id", &request.acting_user_id)?;
        let room_id = parse_id("roomId", &request.room_id)?;
        let user = parse_id("userId", &request.user_id)?;
        self.chat.remove_member(me, room_id, user).await?;
        Ok(Response::new(pb::RemoveMemberResponse {}))
    }

    async fn join_room(
        &self,
        request: Request<pb::JoinRoomRequest>,
    ) -> Answer<pb::JoinRoomResponse> {
        let request = request.into_inner();
        let me = parse_id("acting_user_id", &request.acting_user_id)?;
        let room_id = parse_id("roomId", &request.room_id)?;
        let room = self.chat.join_room(me, room_id).await?;
        Ok(Response::new(pb::JoinRoomResponse { room: Some(room) }))
    }

    async fn leave_room(
        &self,
        request: Request<pb::LeaveRoomRequest>,
    ) -> Answer<pb::LeaveRoomResponse> {
        let request = request.into_inner();
        let me = parse_id("acting_user_id", &request.acting_user_id)?;
        let room_id = parse_id("roomId", &request.room_id)?;
        self.chat.leave_room(me, room_id).await?;
        Ok(Response::new(pb::LeaveRoomResponse {}))
    }

    async fn list_room_ids(
        &self,
        request: Request<pb::ListRoomIdsRequest>,
    ) -> Answer<pb::ListRoomIdsResponse> {
        let request = request.into_inner();
        let user = parse_id("user_id", &request.user_id)?;
        let (ids, next) = self
            .chat
            .room_ids(user, request.page_size, request.page_token.as_deref())
            .await?;
        Ok(Response::new(pb::ListRoomIdsResponse {
            room_ids: ids.iter().map(ToString::to_string).collect(),
            next_page_token: next,
        }))
    }

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Answer<EventStream<pb::ChatEvent>> {
        let request = request.into_inner();
        tracing::info!(edge = request.edge_id, after = ?request.after_event_id, "edge subscribed");
        Ok(Response::new(
            self.chat.events.log.subscribe(request.after_event_id),
        ))
    }
}
