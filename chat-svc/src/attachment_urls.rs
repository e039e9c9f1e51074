//! The download URLs of attachments: signed where a message is rendered for its readers (an
//! answer, or an event as it enters this replica's log), never stored. Expiry is bucketed
//! (`parley_common::media_url`), so every reader within one bucket gets the same URLs.

use parley_common::media_url::MediaUrls;
use parley_proto::{
    chat::v1::{self as pb, chat_event::Payload},
    media::v1 as media,
};
use uuid::Uuid;

/// Now, as URL expiry counts it (Unix seconds).
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The URLs of one attachment: the original, and the variants it has.
pub fn urls(
    urls: &MediaUrls,
    id: Uuid,
    name: &str,
    has_thumbnail: bool,
    has_preview: bool,
    now: i64,
) -> pb::AttachmentUrls {
    let mut attachment = media::Attachment {
        name: name.to_owned(),
        has_thumbnail,
        has_preview,
        ..Default::default()
    };
    urls.sign_attachment(&mut attachment, id, now);
    pb::AttachmentUrls {
        url: attachment.url,
        thumbnail_url: attachment.thumbnail_url,
        preview_url: attachment.preview_url,
        expires_at: attachment.url_expires_at,
    }
}

/// Fills in an attachment's URLs.
pub fn sign(attachment: &mut media::Attachment, signer: &MediaUrls, now: i64) {
    // Ids are written by chat-svc from UUIDs: one that is not cannot be signed, and stays bare.
    if let Ok(id) = Uuid::parse_str(&attachment.id) {
        signer.sign_attachment(attachment, id, now);
    }
}

pub fn sign_message(message: &mut pb::Message, signer: &MediaUrls, now: i64) {
    for attachment in &mut message.attachments {
        sign(attachment, signer, now);
    }
}

/// Signs the attachments of the message an event carries, once for all its recipients.
pub fn sign_event(event: &mut pb::ChatEvent, signer: &MediaUrls, now: i64) {
    let message = match &mut event.payload {
        Some(Payload::NewMessage(pb::NewMessage { message }))
        | Some(Payload::NewPrivateMessage(pb::NewPrivateMessage { message }))
        | Some(Payload::MessageUpdated(pb::MessageUpdated { message })) => message,
        _ => return,
    };
    if let Some(message) = message {
        sign_message(message, signer, now);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn signer() -> MediaUrls {
        let keys = format!("k1:{}", "A".repeat(44)).parse().unwrap();
        MediaUrls::new("https://media.example", keys, Duration::from_secs(3600))
    }

    fn image(id: Uuid, has_thumbnail: bool) -> media::Attachment {
        media::Attachment {
            id: id.to_string(),
            name: "cat.png".into(),
            has_thumbnail,
            ..Default::default()
        }
    }

    #[test]
    fn an_attachment_gets_a_url_per_variant_it_has_and_their_expiry() {
        let id = Uuid::new_v4();
        let mut attachment = image(id, true);
        sign(&mut attachment, &signer(), 10);
        assert!(attachment.url.starts_with(&format!(
            "https://media.example/media/v1/a/{id}/o/cat.png?e=7200"
        )));
        assert!(
            attachment
                .thumbnail_url
                .as_deref()
                .is_some_and(|url| url.contains("/t/"))
        );
        assert_eq!(attachment.preview_url, None);
        assert_eq!(attachment.url_expires_at.map(|at| at.seconds), Some(7200));
    }

    #[test]
    fn only_events_that_carry_a_message_are_signed() {
        let id = Uuid::new_v4();
        let message = pb::Message {
            attachments: vec![image(id, false)],
            ..Default::default()
        };
        let mut event = pb::ChatEvent {
            payload: Some(Payload::MessageUpdated(pb::MessageUpdated {
                message: Some(message),
            })),
            ..Default::default()
        };
        sign_event(&mut event, &signer(), 10);
        let Some(Payload::MessageUpdated(updated)) = event.payload else {
            panic!("the payload stays")
        };
        let signed = &updated.message.unwrap().attachments[0];
        assert!(signed.url.contains(&id.to_string()));
    }
}
