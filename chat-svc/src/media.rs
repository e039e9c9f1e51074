//! media-svc, as chat-svc uses it when attachments are configured: the uploads a message
//! sends are resolved there (the sender's own, ready, uploaded for the room) before the
//! message enters the writer, and their download URLs are signed here with the keys media-svc
//! checks.

use parley_common::{
    media_url::MediaUrls,
    propagation::InjectTraceContext,
    replicas::{Choice, Replicas},
    service_token::ServiceToken,
};
use parley_proto::media::v1::{self as media, media_service_client::MediaServiceClient};
use tonic::{Code, Status, service::interceptor::InterceptedService};

use crate::{
    domain::{AttachmentId, RoomId, UserId},
    error::Error,
};

pub type MediaClient = MediaServiceClient<InterceptedService<Replicas, InjectTraceContext>>;

/// How long a deletion waits for media-svc before it is acknowledged anyway.
const DELETE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// What attachments need: media-svc, the URL signer, the per-message limit.
pub struct Media {
    client: MediaClient,
    pub urls: MediaUrls,
    /// `PARLEY_MAX_ATTACHMENTS`.
    pub max_per_message: usize,
}

impl Media {
    /// A client of media-svc at `url` (one or several replicas, comma-separated) that carries
    /// the caller's trace and the service token; it connects on first use.
    pub fn new(
        url: &str,
        token: Option<ServiceToken>,
        urls: MediaUrls,
        max_per_message: usize,
    ) -> anyhow::Result<Self> {
        let replicas = Replicas::new(url, Choice::Spread, token)?;
        Ok(Self {
            client: MediaServiceClient::with_interceptor(replicas, InjectTraceContext),
            urls,
            max_per_message,
        })
    }

    /// Tells media-svc that the message holding `ids` is deleted, so that their files answer
    /// 404 before the deletion is acknowledged. A failure is logged, not returned: the
    /// message is deleted whatever media-svc says, and media-svc catches up from the
    /// MessageDeleted event or, at the latest, its reconciliation with chat-svc.
    pub async fn delete_attachments(&self, ids: &[AttachmentId]) {
        let request = media::DeleteAttachmentsRequest {
            attachment_ids: ids.iter().map(AttachmentId::to_string).collect(),
        };
        let mut client = self.client.clone();
        match tokio::time::timeout(DELETE_TIMEOUT, client.delete_attachments(request)).await {
            Ok(Ok(_)) => {}
            Ok(Err(status)) => {
                tracing::warn!(%status, "media-svc did not take a deletion; its event will");
            }
            Err(_) => tracing::warn!("media-svc did not answer a deletion in time; its event will"),
        }
    }

    /// The attachments `ids` as media-svc resolves them for `sender` in `room`, in the order
    /// asked, without URLs. media-svc's refusals keep their code.
    pub async fn resolve_for_send(
        &self,
        sender: UserId,
        room: RoomId,
        ids: &[AttachmentId],
    ) -> Result<Vec<media::Attachment>, Error> {
        let request = media::ResolveForSendRequest {
            acting_user_id: sender.to_string(),
            room_id: room.to_string(),
            attachment_ids: ids.iter().map(AttachmentId::to_string).collect(),
        };
        let resolved = self
            .client
            .clone()
            .resolve_for_send(request)
            .await
            .map_err(refusal)?
            .into_inner()
            .attachments;
        let as_asked = resolved.len() == ids.len()
            && resolved
                .iter()
                .zip(ids)
                .all(|(attachment, id)| attachment.id == id.to_string());
        if !as_asked {
            return Err(Error::Dependency(
                "media-svc",
                Status::internal("ResolveForSend answered other attachments than asked"),
            ));
        }
        Ok(resolved)
    }
}

/// A ResolveForSend refusal as chat-svc answers it: what the caller can act on keeps its
/// code (docs/API.md "Attachments"), anything else is media-svc being unavailable.
fn refusal(status: Status) -> Error {
    match status.code() {
        Code::InvalidArgument => Error::InvalidArgument(status.message().to_owned()),
        Code::NotFound => {
            Error::NotFound("no such attachment: attachmentIds must be your completed uploads")
        }
        Code::FailedPrecondition => {
            Error::FailedPrecondition("an attachment was uploaded for another room")
        }
        Code::PermissionDenied => Error::PermissionDenied("an attachment is not yours to send"),
        _ => Error::Dependency("media-svc", status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_caller_can_act_on_keeps_its_code_and_the_rest_is_unavailable() {
        let code = |status| Status::from(refusal(status)).code();
        assert_eq!(code(Status::not_found("x")), Code::NotFound);
        assert_eq!(
            code(Status::failed_precondition("x")),
            Code::FailedPrecondition
        );
        assert_eq!(code(Status::invalid_argument("x")), Code::InvalidArgument);
        assert_eq!(code(Status::internal("x")), Code::Unavailable);
        assert_eq!(code(Status::unimplemented("x")), Code::Unavailable);
    }
}
