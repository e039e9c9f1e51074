//! The gRPC face of `media-svc`: converts requests, delegates to [`Media`], converts answers.

use std::sync::Arc;

use parley_common::{error::ServiceError, time::to_timestamp};
use parley_proto::media::v1::{self as pb, media_service_server::MediaService};
use tonic::{Request, Response, Status};

use crate::{
    domain::{Kind, RoomId, Upload, UploadId, UserId},
    processing::ImageFormat,
    service::{Media, Target},
};

/// The `parley.media.v1.MediaService` implementation.
#[derive(Clone)]
pub struct MediaGrpc {
    media: Arc<Media>,
}

impl MediaGrpc {
    pub fn new(media: Arc<Media>) -> Self {
        Self { media }
    }
}

type Answer<T> = Result<Response<T>, Status>;

/// A message holds at most 100 attachments (chat-svc's `PARLEY_MAX_ATTACHMENTS` range).
const MAX_DELETED_PER_CALL: usize = 100;

#[tonic::async_trait]
impl MediaService for MediaGrpc {
    async fn get_config(
        &self,
        request: Request<pb::GetConfigRequest>,
    ) -> Answer<pb::GetConfigResponse> {
        let me = UserId::parse("acting_user_id", &request.into_inner().acting_user_id)?;
        let usage = self.media.usage(me).await?;
        let limits = &self.media.limits;
        Ok(Response::new(pb::GetConfigResponse {
            max_upload_bytes: limits.max_upload_bytes,
            max_attachments: limits.max_attachments,
            image_types: ImageFormat::ALL
                .iter()
                .map(|format| format.mime().to_owned())
                .collect(),
            quota: Some(pb::Quota {
                used_bytes: usage.stored_bytes,
                limit_bytes: limits.max_stored_bytes,
                used_today_bytes: usage.today_bytes,
                daily_limit_bytes: limits.daily_bytes,
            }),
        }))
    }

    async fn create_upload(
        &self,
        request: Request<pb::CreateUploadRequest>,
    ) -> Answer<pb::CreateUploadResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let target = match request.target {
            Some(pb::create_upload_request::Target::RoomId(room)) => {
                Target::Room(RoomId::parse("room_id", &room)?)
            }
            Some(pb::create_upload_request::Target::ReceiverId(user)) => {
                Target::Receiver(UserId::parse("receiver_id", &user)?)
            }
            None => {
                return Err(
                    ServiceError::invalid("room_id", "a room or a receiver is required").into(),
                );
            }
        };
        let reserved = self
            .media
            .create_upload(
                me,
                target,
                &request.name,
                request.size,
                request.content_type,
                request.client_upload_id,
            )
            .await?;
        let content_type = reserved
            .upload
            .content_type_hint
            .clone()
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        Ok(Response::new(pb::CreateUploadResponse {
            upload: Some(pb::Upload {
                id: reserved.upload.id.to_string(),
                method: "PUT".to_owned(),
                url: reserved.url,
                // The type is a hint only (the bytes decide); named so that browsers send
                // a simple, predictable request.
                headers: [("Content-Type".to_owned(), content_type)].into(),
                expires_at: Some(to_timestamp(reserved.url_expires_at)),
                room_id: reserved.upload.room_id.to_string(),
            }),
        }))
    }

    async fn complete_upload(
        &self,
        request: Request<pb::CompleteUploadRequest>,
    ) -> Answer<pb::CompleteUploadResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let id = UploadId::parse("upload_id", &request.upload_id)?;
        let upload = self.media.complete(me, id).await?;
        Ok(Response::new(pb::CompleteUploadResponse {
            attachment: Some(self.render(&upload)),
        }))
    }

    async fn cancel_upload(
        &self,
        request: Request<pb::CancelUploadRequest>,
    ) -> Answer<pb::CancelUploadResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let id = UploadId::parse("upload_id", &request.upload_id)?;
        self.media.cancel(me, id).await?;
        Ok(Response::new(pb::CancelUploadResponse {}))
    }

    async fn delete_attachments(
        &self,
        request: Request<pb::DeleteAttachmentsRequest>,
    ) -> Answer<pb::DeleteAttachmentsResponse> {
        let request = request.into_inner();
        if request.attachment_ids.len() > MAX_DELETED_PER_CALL {
            return Err(ServiceError::invalid("attachment_ids", "at most 100 per call").into());
        }
        let ids = request
            .attachment_ids
            .iter()
            .map(|id| UploadId::parse("attachment_ids", id))
            .collect::<Result<Vec<_>, _>>()?;
        self.media.delete_attachments(&ids).await?;
        Ok(Response::new(pb::DeleteAttachmentsResponse {}))
    }

    async fn resolve_for_send(
        &self,
        request: Request<pb::ResolveForSendRequest>,
    ) -> Answer<pb::ResolveForSendResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let room = RoomId::parse("room_id", &request.room_id)?;
        let ids = request
            .attachment_ids
            .iter()
            .map(|id| UploadId::parse("attachment_ids", id))
            .collect::<Result<Vec<_>, _>>()?;
        let attachments = self.media.resolve_for_send(me, room, &ids).await?;
        Ok(Response::new(pb::ResolveForSendResponse {
            attachments: attachments.iter().map(attachment).collect(),
        }))
    }
}

impl MediaGrpc {
    /// The attachment with URLs, for its uploader.
    fn render(&self, upload: &Upload) -> pb::Attachment {
        let mut rendered = attachment(upload);
        self.media.urls.sign_attachment(
            &mut rendered,
            upload.id.uuid(),
            chrono::Utc::now().timestamp(),
        );
        rendered
    }
}

/// The attachment without URLs, as chat-svc stores it with a message.
fn attachment(upload: &Upload) -> pb::Attachment {
    let kind = match upload.kind {
        Some(Kind::Image) => pb::AttachmentKind::Image,
        Some(Kind::File) => pb::AttachmentKind::File,
        None => pb::AttachmentKind::Unspecified,
    };
    pb::Attachment {
        id: upload.id.to_string(),
        kind: kind.into(),
        name: upload.name.clone(),
        size: upload
            .size
            .and_then(|size| u64::try_from(size).ok())
            .unwrap_or_default(),
        mime_type: upload.mime_type.clone().unwrap_or_default(),
        width: upload.width.and_then(|w| u32::try_from(w).ok()),
        height: upload.height.and_then(|h| u32::try_from(h).ok()),
        thumbhash: upload.thumbhash.clone().unwrap_or_default(),
        has_thumbnail: upload.thumbnail_mime.is_some(),
        has_preview: upload.preview_mime.is_some(),
        url: String::new(),
        thumbnail_url: None,
        preview_url: None,
        url_expires_at: None,
        room_id: upload.room_id.to_string(),
    }
}
