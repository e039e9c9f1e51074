//! `/chat`'s attachment events (docs/API.md "Attachments"): uploads go to media-svc, which
//! owns the files and quotas; the URLs and galleries of a room's attachments come from
//! chat-svc, which knows who may see them. No bytes cross the socket: clients PUT and GET
//! them over HTTP at the signed URLs these events hand out.

use std::collections::BTreeMap;

use parley_proto::{chat::v1 as chat, media::v1 as media};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Caller, Event, NoFields, chat::PostTarget, ids, nothing, rpc, unary};
use crate::{
    error::ApiError,
    wire::{self, AttachmentKind},
};

/// Most attachments one `get-attachment-urls` asks about (chat.proto `GetAttachmentUrls`).
const MAX_URL_REQUESTS: usize = 100;

/// docs/API.md's attachment events of `/chat`.
pub(super) fn events() -> Vec<Event> {
    vec![
        unary(
            &["get-media-config"],
            |_: NoFields, caller| {
                Ok(media::GetConfigRequest {
                    acting_user_id: caller.user_id(),
                })
            },
            rpc!(media.get_config),
            wire::MediaConfig::from,
        ),
        unary(
            &["create-upload"],
            create_upload_request,
            rpc!(media.create_upload),
            |answer| UploadAnswer {
                upload: answer.upload.map(wire::Upload::from),
            },
        ),
        unary(
            &["complete-upload"],
            |upload: ByUpload, caller| {
                Ok(media::CompleteUploadRequest {
                    acting_user_id: caller.user_id(),
                    upload_id: upload.upload_id.to_string(),
                })
            },
            rpc!(media.complete_upload),
            |answer| AttachmentAnswer {
                attachment: answer.attachment.map(wire::Attachment::from),
            },
        ),
        unary(
            &["cancel-upload"],
            |upload: ByUpload, caller| {
                Ok(media::CancelUploadRequest {
                    acting_user_id: caller.user_id(),
                    upload_id: upload.upload_id.to_string(),
                })
            },
            rpc!(media.cancel_upload),
            nothing,
        ),
        unary(
            &["get-attachment-urls"],
            get_attachment_urls_request,
            rpc!(chat.get_attachment_urls),
            |answer| FreshUrls {
                urls: answer
                    .urls
                    .into_iter()
                    .map(|(id, urls)| (id, wire::AttachmentUrls::from(urls)))
                    .collect(),
            },
        ),
        unary(
            &["list-attachments"],
            list_attachments_request,
            rpc!(chat.list_attachments),
            |answer| Gallery {
                attachments: wire::all(answer.attachments),
                has_more: answer.has_more,
            },
        ),
    ]
}

/// `create-upload`'s payload: for a room (`chatRoomId`) or a person (`receiverId`), not
/// both.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct CreateUpload {
    chat_room_id: Option<Uuid>,
    receiver_id: Option<Uuid>,
    /// The file's name.
    name: String,
    /// The file's exact size in bytes.
    size: u64,
    /// The type the client believes the file has: a hint only.
    content_type: Option<String>,
    /// 1–128 characters: the same id returns the same upload.
    client_upload_id: Option<String>,
}

/// The payload of the events about one upload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ByUpload {
    upload_id: Uuid,
}

/// `get-attachment-urls`' payload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct GetAttachmentUrls {
    room_id: Uuid,
    /// 1–100.
    attachment_ids: Vec<Uuid>,
}

/// `list-attachments`' payload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ListAttachments {
    room_id: Uuid,
    /// Every kind without it.
    kind: Option<AttachmentKind>,
    /// Older than this attachment.
    before: Option<Uuid>,
    /// 1–100, 50 by default.
    limit: Option<u32>,
}

/// `create-upload`'s ack.
#[derive(Serialize, JsonSchema)]
struct UploadAnswer {
    upload: Option<wire::Upload>,
}

/// `complete-upload`'s ack: the attachment, with URLs for the uploader.
#[derive(Serialize, JsonSchema)]
struct AttachmentAnswer {
    attachment: Option<wire::Attachment>,
}

/// `get-attachment-urls`' ack.
#[derive(Serialize, JsonSchema)]
struct FreshUrls {
    /// By attachment id; ids that are not attachments of live messages of the room are left
    /// out.
    urls: BTreeMap<String, wire::AttachmentUrls>,
}

/// `list-attachments`' ack: newest first.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Gallery {
    attachments: Vec<wire::Attachment>,
    has_more: bool,
}

impl From<PostTarget> for media::create_upload_request::Target {
    fn from(target: PostTarget) -> Self {
        match target {
            PostTarget::Room(room) => Self::RoomId(room.to_string()),
            PostTarget::Receiver(receiver) => Self::ReceiverId(receiver.to_string()),
        }
    }
}

/// An upload is for the room (or person) its message will go to, so that media-svc can ask
/// chat-svc, before any byte is stored, whether the caller may post there.
fn create_upload_request(
    payload: CreateUpload,
    caller: &Caller<'_>,
) -> Result<media::CreateUploadRequest, ApiError> {
    let target = PostTarget::of(payload.chat_room_id, payload.receiver_id)?;
    Ok(media::CreateUploadRequest {
        acting_user_id: caller.user_id(),
        target: Some(target.into()),
        name: payload.name,
        size: payload.size,
        content_type: payload.content_type,
        client_upload_id: payload.client_upload_id,
    })
}

fn get_attachment_urls_request(
    payload: GetAttachmentUrls,
    caller: &Caller<'_>,
) -> Result<chat::GetAttachmentUrlsRequest, ApiError> {
    if !(1..=MAX_URL_REQUESTS).contains(&payload.attachment_ids.len()) {
        return Err(ApiError::invalid(
            "attachmentIds",
            format_args!("give 1 to {MAX_URL_REQUESTS} ids"),
        ));
    }
    Ok(chat::GetAttachmentUrlsRequest {
        acting_user_id: caller.user_id(),
        room_id: payload.room_id.to_string(),
        attachment_ids: ids(&payload.attachment_ids),
    })
}

fn list_attachments_request(
    gallery: ListAttachments,
    caller: &Caller<'_>,
) -> Result<chat::ListAttachmentsRequest, ApiError> {
    Ok(chat::ListAttachmentsRequest {
        acting_user_id: caller.user_id(),
        room_id: gallery.room_id.to_string(),
        kind: gallery
            .kind
            .map(|kind| media::AttachmentKind::from(kind).into()),
        before: gallery.before.map(|id| id.to_string()),
        limit: gallery.limit,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::client_events::tests::{built, me, refusal};

    #[test]
    fn an_upload_is_for_a_room_or_a_person_as_the_caller() {
        let room = Uuid::from_u128(1);
        let request = built(
            create_upload_request,
            json!({ "chatRoomId": room, "name": "cat.png", "size": 1234, "contentType": "image/png", "clientUploadId": "u1" }),
        )
        .expect("accepted");
        assert_eq!(request.acting_user_id, me().user_id.to_string());
        assert_eq!(
            request.target,
            Some(media::create_upload_request::Target::RoomId(
                room.to_string()
            ))
        );
        assert_eq!((request.name.as_str(), request.size), ("cat.png", 1234));
        assert_eq!(request.content_type.as_deref(), Some("image/png"));
        assert_eq!(request.client_upload_id.as_deref(), Some("u1"));

        let to_person = built(
            create_upload_request,
            json!({ "receiverId": room, "name": "a.txt", "size": 1 }),
        )
        .expect("accepted");
        assert_eq!(
            to_person.target,
            Some(media::create_upload_request::Target::ReceiverId(
                room.to_string()
            ))
        );

        let both = json!({ "chatRoomId": room, "receiverId": room, "name": "a", "size": 1 });
        assert_eq!(
            refusal(built(create_upload_request, both)),
            "payload: give chatRoomId or receiverId, not both"
        );
        let neither = json!({ "name": "a", "size": 1 });
        assert!(refusal(built(create_upload_request, neither)).starts_with("chatRoomId: "));
    }

    #[test]
    fn an_upload_needs_a_name_and_a_whole_nonnegative_size() {
        let room = Uuid::from_u128(1);
        for (size, field) in [
            (json!(-1), "size"),
            (json!(1.5), "size"),
            (json!("10"), "size"),
        ] {
            let payload = json!({ "chatRoomId": room, "name": "a", "size": size });
            let message = refusal(built(create_upload_request, payload));
            assert!(message.starts_with(&format!("{field}: ")), "{message}");
        }
        let nameless = json!({ "chatRoomId": room, "size": 1 });
        assert!(refusal(built(create_upload_request, nameless)).contains("name"));
        let numbered = json!({ "chatRoomId": room, "name": 5, "size": 1 });
        assert!(refusal(built(create_upload_request, numbered)).starts_with("name: "));
    }

    #[test]
    fn urls_are_asked_for_1_to_100_attachments() {
        let room = Uuid::from_u128(1);
        let asking = |count: u128| {
            let ids: Vec<Uuid> = (0..count).map(Uuid::from_u128).collect();
            built(
                get_attachment_urls_request,
                json!({ "roomId": room, "attachmentIds": ids }),
            )
        };
        assert_eq!(refusal(asking(0)), "attachmentIds: give 1 to 100 ids");
        assert_eq!(refusal(asking(101)), "attachmentIds: give 1 to 100 ids");
        let hundred = asking(100).expect("accepted");
        assert_eq!(hundred.attachment_ids.len(), 100);
        assert_eq!(hundred.room_id, room.to_string());
        assert_eq!(hundred.acting_user_id, me().user_id.to_string());

        let bad_id = json!({ "roomId": room, "attachmentIds": [Uuid::from_u128(1), "nope"] });
        assert!(
            refusal(built(get_attachment_urls_request, bad_id)).starts_with("attachmentIds[1]: ")
        );
    }

    #[test]
    fn a_gallery_filters_by_kind_by_its_protocol_name() {
        let room = Uuid::from_u128(1);
        let before = Uuid::from_u128(2);
        let images = built(
            list_attachments_request,
            json!({ "roomId": room, "kind": "IMAGE", "before": before, "limit": 20 }),
        )
        .expect("accepted");
        assert_eq!(images.kind, Some(media::AttachmentKind::Image.into()));
        assert_eq!(images.before, Some(before.to_string()));
        assert_eq!(images.limit, Some(20));
        let files = built(
            list_attachments_request,
            json!({ "roomId": room, "kind": "FILE" }),
        )
        .expect("accepted");
        assert_eq!(files.kind, Some(media::AttachmentKind::File.into()));
        let every_kind =
            built(list_attachments_request, json!({ "roomId": room })).expect("accepted");
        assert_eq!((every_kind.kind, every_kind.limit), (None, None));

        let video = json!({ "roomId": room, "kind": "VIDEO" });
        assert!(refusal(built(list_attachments_request, video)).starts_with("kind: "));
    }
}
