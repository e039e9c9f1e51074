//! chat-svc's side of attachments over real gRPC, against a real Postgres and a real
//! friends-svc: what needs no running media-svc. Validation and authorization come before
//! media-svc is asked (it is configured at an address where nothing listens, so a send that
//! reached it would fail UNAVAILABLE); messages that hold attachments are set up with
//! chat-svc's own storage of resolved attachments (`parley_chat_svc::testing::attach`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use parley_common::media_url::{MediaUrlArgs, Signature, UrlKeys, Variant};
use parley_proto::{
    chat::v1::{self as pb, chat_event::Payload},
    media::v1::{self as media, AttachmentKind},
};
use support::{System, code, eventually, next_event, to_room};
use tonic::Code;
use uuid::Uuid;

/// 32 zero bytes, base64: a key id and a secret long enough to be accepted.
const KEYS: &str = "t1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
/// Long, so that two renders of one test fall in the same bucket (identical URLs).
const BUCKET: Duration = Duration::from_secs(24 * 3600);
/// Few, so that the limit is cheap to pass.
const MAX_ATTACHMENTS: u16 = 3;

/// friends-svc and chat-svc on one fresh database; chat-svc with URL signing keys when
/// `attachments`, and media-svc where nothing listens.
async fn spawn(attachments: bool) -> System {
    support::spawn(|config| {
        config.max_attachments = MAX_ATTACHMENTS;
        config.media_urls = MediaUrlArgs {
            public_url: "https://media.example".to_owned(),
            url_keys: attachments.then(|| KEYS.parse().unwrap()),
            url_bucket: BUCKET,
        };
    })
    .await
}

impl System {
    /// A FILE message with a caption, holding `attachments` (as media-svc resolved them).
    async fn message_with(
        &self,
        sender: Uuid,
        room: &str,
        attachments: Vec<media::Attachment>,
    ) -> pb::Message {
        self.store_with(to_room(sender, room), attachments).await
    }

    /// The same, sent under `client_msg_id`.
    async fn message_with_key(
        &self,
        sender: Uuid,
        room: &str,
        client_msg_id: &str,
        attachments: Vec<media::Attachment>,
    ) -> pb::Message {
        let request = pb::SendMessageRequest {
            client_msg_id: Some(client_msg_id.to_owned()),
            ..to_room(sender, room)
        };
        self.store_with(request, attachments).await
    }

    async fn store_with(
        &self,
        request: pb::SendMessageRequest,
        attachments: Vec<media::Attachment>,
    ) -> pb::Message {
        let message = self
            .send(pb::SendMessageRequest {
                content: "files".to_owned(),
                message_type: pb::MessageType::File.into(),
                ..request
            })
            .await
            .unwrap();
        parley_chat_svc::testing::attach(
            &self.database.url,
            message.id.parse().unwrap(),
            attachments,
        )
        .await
        .unwrap();
        message
    }
    async fn check(
        &self,
        me: Uuid,
        target: pb::check_post_target_request::Target,
    ) -> Result<String, tonic::Status> {
        self.chat
            .clone()
            .check_post_target(pb::CheckPostTargetRequest {
                acting_user_id: me.to_string(),
                target: Some(target),
            })
            .await
            .map(|response| response.into_inner().room_id)
    }

    async fn urls(
        &self,
        me: Uuid,
        room: &str,
        ids: Vec<String>,
    ) -> Result<pb::GetAttachmentUrlsResponse, tonic::Status> {
        self.chat
            .clone()
            .get_attachment_urls(pb::GetAttachmentUrlsRequest {
                acting_user_id: me.to_string(),
                room_id: room.to_owned(),
                attachment_ids: ids,
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn gallery(
        &self,
        me: Uuid,
        room: &str,
        kind: Option<AttachmentKind>,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<(Vec<String>, bool), tonic::Status> {
        let page = self
            .chat
            .clone()
            .list_attachments(pb::ListAttachmentsRequest {
                acting_user_id: me.to_string(),
                room_id: room.to_owned(),
                kind: kind.map(Into::into),
                before: before.map(str::to_owned),
                limit,
            })
            .await?
            .into_inner();
        assert!(
            page.attachments.iter().all(|found| !found.url.is_empty()),
            "a gallery carries URLs"
        );
        let ids = page.attachments.into_iter().map(|found| found.id).collect();
        Ok((ids, page.has_more))
    }

    async fn refs(&self, ids: Vec<String>) -> Result<Vec<pb::AttachmentRef>, tonic::Status> {
        self.chat
            .clone()
            .list_attachment_refs(pb::ListAttachmentRefsRequest {
                attachment_ids: ids,
            })
            .await
            .map(|response| response.into_inner().refs)
    }
}
/// A send of `ids` as a FILE with an empty caption.
fn with_files(sender: Uuid, room: &str, ids: Vec<String>) -> pb::SendMessageRequest {
    pb::SendMessageRequest {
        content: String::new(),
        message_type: pb::MessageType::File.into(),
        attachment_ids: ids,
        ..to_room(sender, room)
    }
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|_| Uuid::new_v4().to_string()).collect()
}

fn image(name: &str) -> media::Attachment {
    media::Attachment {
        id: Uuid::new_v4().to_string(),
        kind: AttachmentKind::Image.into(),
        name: name.to_owned(),
        size: 2048,
        mime_type: "image/png".to_owned(),
        width: Some(640),
        height: Some(480),
        thumbhash: vec![1, 2, 3],
        has_thumbnail: true,
        has_preview: true,
        ..Default::default()
    }
}

fn file(name: &str) -> media::Attachment {
    media::Attachment {
        id: Uuid::new_v4().to_string(),
        kind: AttachmentKind::File.into(),
        name: name.to_owned(),
        size: 10,
        mime_type: "application/pdf".to_owned(),
        ..Default::default()
    }
}

/// Whether `url` is a download URL of attachment `id`'s `variant` that media-svc will accept.
fn grants(url: &str, id: &str, variant: Variant) -> bool {
    let keys: UrlKeys = KEYS.parse().unwrap();
    let prefix = format!(
        "https://media.example/media/v1/a/{id}/{}/",
        variant.as_str()
    );
    let Some((_, query)) = url
        .strip_prefix(&prefix)
        .and_then(|rest| rest.split_once('?'))
    else {
        return false;
    };
    let field = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    let signature = Signature {
        e: field("e").parse().unwrap(),
        k: field("k"),
        s: field("s"),
    };
    let now = chrono::Utc::now().timestamp();
    keys.verify_download(id.parse().unwrap(), variant, &signature, now)
        .is_ok()
}

#[tokio::test]
async fn without_url_keys_attachments_are_refused_and_text_still_flows() {
    let system = spawn(false).await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    let room = system.group(alice, &[bob]).await;

    let refused = system
        .send(with_files(alice, &room, ids(1)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(refused.message(), "attachments are not configured");
    assert_eq!(
        code(system.urls(alice, &room, ids(1)).await),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(system.gallery(alice, &room, None, None, None).await),
        Code::FailedPrecondition
    );
    let target = pb::check_post_target_request::Target::RoomId(room.clone());
    assert_eq!(
        code(system.check(alice, target).await),
        Code::FailedPrecondition
    );

    let sent = system.send(to_room(alice, &room)).await.unwrap();
    assert_eq!(sent.seq, 1);
    assert!(sent.attachments.is_empty());
    // What chat-svc stores is answered all the same: media-svc's sweeper decides by it.
    assert!(system.refs(ids(2)).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_send_with_attachments_is_checked_before_media_svc_is_asked() {
    let system = spawn(true).await;
    let (alice, bob, eve) = (
        system.user("alice").await,
        system.user("bob").await,
        system.user("eve").await,
    );
    let room = system.group(alice, &[bob]).await;
    let refused = |request: pb::SendMessageRequest| {
        let system = &system;
        async move { system.send(request).await.unwrap_err() }
    };
    let invalid = |request: pb::SendMessageRequest, field: &'static str| {
        let refused = &refused;
        async move {
            let status = refused(request).await;
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(status.message().starts_with(field), "{status:?}");
        }
    };

    let as_type = |message_type: pb::MessageType| pb::SendMessageRequest {
        message_type: message_type.into(),
        ..with_files(alice, &room, ids(1))
    };
    invalid(as_type(pb::MessageType::Text), "messageType").await;
    invalid(as_type(pb::MessageType::Unspecified), "messageType").await;
    invalid(as_type(pb::MessageType::System), "messageType").await;
    invalid(
        with_files(alice, &room, ids(usize::from(MAX_ATTACHMENTS) + 1)),
        "attachmentIds",
    )
    .await;
    let once = Uuid::new_v4().to_string();
    invalid(
        with_files(alice, &room, vec![once.clone(), once]),
        "attachmentIds",
    )
    .await;
    invalid(
        with_files(alice, &room, vec!["nope".to_owned()]),
        "attachmentIds",
    )
    .await;
    let captioned = |content: String| pb::SendMessageRequest {
        content,
        ..with_files(alice, &room, ids(1))
    };
    invalid(captioned("a\0b".to_owned()), "content").await;
    invalid(captioned("\u{200B} \u{FEFF}".to_owned()), "content").await;
    invalid(captioned("x".repeat(4001)), "content").await;

    // Authorized before media-svc is asked: an outsider learns nothing of the uploads.
    let outsider = refused(with_files(eve, &room, ids(1))).await;
    assert_eq!(outsider.code(), Code::PermissionDenied);

    // A well-formed send reaches media-svc, which is not there; an empty caption is fine.
    let unreachable = refused(with_files(alice, &room, ids(MAX_ATTACHMENTS.into()))).await;
    assert_eq!(unreachable.code(), Code::Unavailable, "{unreachable:?}");
    let captioned = refused(captioned("look".to_owned())).await;
    assert_eq!(captioned.code(), Code::Unavailable);

    // Text never asks media-svc.
    let sent = system.send(to_room(alice, &room)).await.unwrap();
    assert_eq!(sent.seq, 1, "nothing else was stored");
}

#[tokio::test]
async fn check_post_target_answers_as_send_message_would() {
    use pb::check_post_target_request::Target;
    let system = spawn(true).await;
    let (alice, bob, carol, eve) = (
        system.user("alice").await,
        system.user("bob").await,
        system.user("carol").await,
        system.user("eve").await,
    );
    let room = system.group(alice, &[bob]).await;

    assert_eq!(
        system
            .check(bob, Target::RoomId(room.clone()))
            .await
            .unwrap(),
        room
    );
    assert_eq!(
        code(system.check(eve, Target::RoomId(room.clone())).await),
        Code::PermissionDenied
    );
    let nowhere = Uuid::new_v4().to_string();
    assert_eq!(
        code(system.check(alice, Target::RoomId(nowhere)).await),
        Code::NotFound
    );
    assert_eq!(
        code(
            system
                .check(alice, Target::ReceiverId(alice.to_string()))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            system
                .check(alice, Target::ReceiverId(Uuid::new_v4().to_string()))
                .await
        ),
        Code::NotFound,
        "an unknown receiver"
    );
    assert_eq!(
        code(system.check(alice, Target::RoomId("nope".to_owned())).await),
        Code::InvalidArgument
    );
    let untargeted = system
        .chat
        .clone()
        .check_post_target(pb::CheckPostTargetRequest {
            acting_user_id: alice.to_string(),
            target: None,
        })
        .await;
    assert_eq!(code(untargeted), Code::InvalidArgument);

    // A first DM's room is made by the check, with the events of a first send.
    let mut events = system.events().await;
    let dm = system
        .check(alice, Target::ReceiverId(carol.to_string()))
        .await
        .unwrap();
    let Payload::RoomCreated(created) = next_event(&mut events, |payload| {
        matches!(payload, Payload::RoomCreated(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(created.room.unwrap().id, dm);
    assert_eq!(
        system
            .check(carol, Target::ReceiverId(alice.to_string()))
            .await
            .unwrap(),
        dm,
        "the pair's one room, from either side"
    );
    let sent = system
        .send(pb::SendMessageRequest {
            target: Some(pb::send_message_request::Target::ReceiverId(
                carol.to_string(),
            )),
            ..to_room(alice, &room)
        })
        .await
        .unwrap();
    assert_eq!(sent.room_id, dm, "the message goes where the upload went");
    assert_eq!(
        system
            .check(alice, Target::RoomId(dm.clone()))
            .await
            .unwrap(),
        dm
    );

    // A block between the two refuses the DM both ways, by room or by user.
    system.block(carol, alice).await;
    // The pair was cached (the room was made): chat-svc hears of the block from friends-svc.
    eventually("the block is seen", || async {
        let answer = system
            .check(alice, Target::ReceiverId(carol.to_string()))
            .await;
        answer.is_err_and(|status| status.code() == Code::PermissionDenied)
    })
    .await;
    assert_eq!(
        code(system.check(carol, Target::RoomId(dm.clone())).await),
        Code::PermissionDenied
    );
    system.block(eve, bob).await;
    assert_eq!(
        code(system.check(bob, Target::ReceiverId(eve.to_string())).await),
        Code::PermissionDenied,
        "a first DM to a user who blocked the poster"
    );
}

#[tokio::test]
async fn attachments_come_with_every_read_of_their_message_signed_alike_for_every_reader() {
    let system = spawn(true).await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    let room = system.group(alice, &[bob]).await;
    let (photo, doc) = (image("cat.png"), file("notes.pdf"));
    let sent = system
        .message_with(alice, &room, vec![photo.clone(), doc.clone()])
        .await;

    let of = |messages: Vec<pb::Message>| -> Vec<media::Attachment> {
        messages
            .into_iter()
            .find(|message| message.id == sent.id)
            .unwrap()
            .attachments
    };
    let for_alice = of(system.history(alice, &room).await);
    let for_bob = of(system.history(bob, &room).await);
    assert_eq!(
        for_alice, for_bob,
        "byte-identical for every reader in one bucket"
    );
    let [shown_photo, shown_doc] = &for_alice[..] else {
        panic!("two attachments in their order: {for_alice:?}")
    };
    assert_eq!(
        (shown_photo.id.as_str(), shown_doc.id.as_str()),
        (photo.id.as_str(), doc.id.as_str())
    );
    assert_eq!(shown_photo.kind(), AttachmentKind::Image);
    assert_eq!(
        (shown_photo.width, shown_photo.height),
        (Some(640), Some(480))
    );
    assert_eq!(shown_photo.thumbhash, vec![1, 2, 3]);
    assert_eq!(shown_photo.room_id, room);
    assert!(grants(&shown_photo.url, &photo.id, Variant::Original));
    assert!(grants(
        shown_photo.thumbnail_url.as_deref().unwrap(),
        &photo.id,
        Variant::Thumbnail
    ));
    assert!(grants(
        shown_photo.preview_url.as_deref().unwrap(),
        &photo.id,
        Variant::Preview
    ));
    assert!(grants(&shown_doc.url, &doc.id, Variant::Original));
    assert_eq!(
        (&shown_doc.thumbnail_url, &shown_doc.preview_url),
        (&None, &None),
        "only the variants it has"
    );
    assert_eq!(shown_doc.mime_type, "application/pdf");
    assert!(shown_doc.url_expires_at.unwrap().seconds > chrono::Utc::now().timestamp());

    let synced = system
        .chat
        .clone()
        .sync(pb::SyncRequest {
            acting_user_id: bob.to_string(),
            rooms: [(room.clone(), 0)].into(),
            limit: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(of(synced.rooms[0].messages.clone()), for_bob);

    let listed = system
        .chat
        .clone()
        .list_rooms(pb::ListRoomsRequest {
            acting_user_id: bob.to_string(),
            limit: None,
            cursor: None,
        })
        .await
        .unwrap()
        .into_inner();
    let last = listed.rooms[0].last_message.clone().unwrap();
    assert_eq!(last.attachments, for_bob);

    // A clientMsgId retry is answered with the stored message and its attachments, before
    // media-svc is asked (it is not there, and would no longer resolve them).
    let dog = image("dog.png");
    let first = system
        .message_with_key(alice, &room, "c1", vec![dog.clone()])
        .await;
    let retried = system
        .send(pb::SendMessageRequest {
            client_msg_id: Some("c1".to_owned()),
            ..with_files(alice, &room, vec![dog.id.clone()])
        })
        .await
        .unwrap();
    assert_eq!(retried.id, first.id);
    assert_eq!(retried.attachments.len(), 1);
    assert!(grants(
        &retried.attachments[0].url,
        &dog.id,
        Variant::Original
    ));
}

#[tokio::test]
async fn fresh_urls_are_for_members_and_attachments_of_live_messages_of_the_room() {
    let system = spawn(true).await;
    let (alice, bob, eve) = (
        system.user("alice").await,
        system.user("bob").await,
        system.user("eve").await,
    );
    let room = system.group(alice, &[bob]).await;
    let elsewhere = system.group(alice, &[eve]).await;
    let (photo, doc, gone, other) = (image("a.png"), file("b.pdf"), file("c"), file("d"));
    system
        .message_with(alice, &room, vec![photo.clone(), doc.clone()])
        .await;
    let deleted = system.message_with(bob, &room, vec![gone.clone()]).await;
    system
        .message_with(alice, &elsewhere, vec![other.clone()])
        .await;
    system
        .chat
        .clone()
        .delete_message(pb::DeleteMessageRequest {
            acting_user_id: bob.to_string(),
            message_id: deleted.id,
        })
        .await
        .unwrap();

    let asked = vec![
        photo.id.clone(),
        doc.id.clone(),
        gone.id.clone(),
        other.id.clone(),
        Uuid::new_v4().to_string(),
    ];
    let answer = system.urls(bob, &room, asked.clone()).await.unwrap().urls;
    let mut found: Vec<&String> = answer.keys().collect();
    found.sort();
    let mut expected = vec![&photo.id, &doc.id];
    expected.sort();
    assert_eq!(found, expected, "only live attachments of this room");
    let urls = &answer[&photo.id];
    assert!(grants(&urls.url, &photo.id, Variant::Original));
    assert!(grants(
        urls.thumbnail_url.as_deref().unwrap(),
        &photo.id,
        Variant::Thumbnail
    ));
    assert!(urls.expires_at.is_some());
    assert_eq!(answer[&doc.id].preview_url, None);
    let history = system.history(bob, &room).await;
    let shown = &history
        .iter()
        .find(|m| !m.attachments.is_empty())
        .unwrap()
        .attachments[0];
    assert_eq!(shown.url, urls.url, "the same URL as the message shows");

    assert_eq!(
        code(system.urls(eve, &room, asked.clone()).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(system.urls(bob, &Uuid::new_v4().to_string(), asked).await),
        Code::NotFound
    );
    assert_eq!(
        code(system.urls(bob, &room, ids(101)).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(system.urls(bob, &room, vec!["nope".to_owned()]).await),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn the_gallery_pages_newest_message_first_with_each_message_in_order() {
    let system = spawn(true).await;
    let (alice, bob, eve) = (
        system.user("alice").await,
        system.user("bob").await,
        system.user("eve").await,
    );
    let room = system.group(alice, &[bob]).await;
    let elsewhere = system.group(eve, &[]).await;
    let (a, b, c, d, e) = (image("a"), file("b"), file("c"), image("d"), image("e"));
    system
        .message_with(alice, &room, vec![a.clone(), b.clone()])
        .await;
    let middle = system.message_with(bob, &room, vec![c.clone()]).await;
    system.send(to_room(alice, &room)).await.unwrap();
    system
        .message_with(alice, &room, vec![d.clone(), e.clone()])
        .await;
    let foreign = file("f");
    system
        .message_with(eve, &elsewhere, vec![foreign.clone()])
        .await;
    let id = |attachment: &media::Attachment| attachment.id.clone();

    let page = system
        .gallery(bob, &room, None, None, Some(2))
        .await
        .unwrap();
    assert_eq!(page, (vec![id(&d), id(&e)], true));
    let page = system
        .gallery(bob, &room, None, Some(&e.id), Some(2))
        .await
        .unwrap();
    assert_eq!(page, (vec![id(&c), id(&a)], true));
    let page = system
        .gallery(bob, &room, None, Some(&a.id), Some(2))
        .await
        .unwrap();
    assert_eq!(page, (vec![id(&b)], false));
    let images = system
        .gallery(bob, &room, Some(AttachmentKind::Image), None, None)
        .await
        .unwrap();
    assert_eq!(images, (vec![id(&d), id(&e), id(&a)], false));
    let files = system
        .gallery(bob, &room, Some(AttachmentKind::File), Some(&c.id), None)
        .await
        .unwrap();
    assert_eq!(files, (vec![id(&b)], false));
    let everything = system
        .gallery(bob, &room, Some(AttachmentKind::Unspecified), None, None)
        .await
        .unwrap();
    assert_eq!(everything.0.len(), 5, "unspecified is every kind");

    system
        .chat
        .clone()
        .delete_message(pb::DeleteMessageRequest {
            acting_user_id: alice.to_string(),
            message_id: middle.id,
        })
        .await
        .unwrap();
    let live = system.gallery(bob, &room, None, None, None).await.unwrap();
    assert_eq!(
        live,
        (vec![id(&d), id(&e), id(&a), id(&b)], false),
        "a deleted message's files leave the gallery"
    );
    // The deleted message's attachment still marks a place to page from.
    let page = system
        .gallery(bob, &room, None, Some(&c.id), None)
        .await
        .unwrap();
    assert_eq!(page, (vec![id(&a), id(&b)], false));

    for limit in [0, 101] {
        assert_eq!(
            code(system.gallery(bob, &room, None, None, Some(limit)).await),
            Code::InvalidArgument
        );
    }
    assert_eq!(
        code(
            system
                .gallery(bob, &room, None, Some(&foreign.id), None)
                .await
        ),
        Code::InvalidArgument,
        "a cursor of another room"
    );
    let unknown_kind = system
        .chat
        .clone()
        .list_attachments(pb::ListAttachmentsRequest {
            acting_user_id: bob.to_string(),
            room_id: room.clone(),
            kind: Some(42),
            before: None,
            limit: None,
        })
        .await;
    assert_eq!(code(unknown_kind), Code::InvalidArgument);
    assert_eq!(
        code(system.gallery(eve, &room, None, None, None).await),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn a_deleted_message_names_its_attachments_for_media_svc_and_shows_none() {
    let system = spawn(true).await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    let room = system.group(alice, &[bob]).await;
    let (photo, doc) = (image("a.png"), file("b.pdf"));
    let message = system
        .message_with(bob, &room, vec![photo.clone(), doc.clone()])
        .await;
    let text = system.send(to_room(bob, &room)).await.unwrap();
    let mut events = system.events().await;

    for id in [&message.id, &text.id] {
        system
            .chat
            .clone()
            .delete_message(pb::DeleteMessageRequest {
                acting_user_id: alice.to_string(),
                message_id: id.clone(),
            })
            .await
            .unwrap();
    }
    let Payload::MessageDeleted(deleted) = next_event(&mut events, |payload| {
        matches!(payload, Payload::MessageDeleted(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(deleted.message_id, message.id);
    assert_eq!(
        deleted.attachment_ids,
        vec![photo.id.clone(), doc.id.clone()]
    );
    let Payload::MessageDeleted(deleted) = next_event(&mut events, |payload| {
        matches!(payload, Payload::MessageDeleted(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(deleted.message_id, text.id);
    assert!(deleted.attachment_ids.is_empty());

    let tombstone = system
        .history(alice, &room)
        .await
        .into_iter()
        .find(|found| found.id == message.id)
        .unwrap();
    assert!(tombstone.deleted);
    assert!(tombstone.attachments.is_empty(), "a tombstone carries none");

    let unknown = Uuid::new_v4().to_string();
    let mut refs = system
        .refs(vec![photo.id.clone(), unknown, doc.id.clone()])
        .await
        .unwrap();
    refs.sort_by(|a, b| a.attachment_id.cmp(&b.attachment_id));
    let mut expected = vec![
        pb::AttachmentRef {
            attachment_id: photo.id.clone(),
            message_id: message.id.clone(),
            room_id: room.clone(),
            message_deleted: true,
        },
        pb::AttachmentRef {
            attachment_id: doc.id.clone(),
            message_id: message.id.clone(),
            room_id: room.clone(),
            message_deleted: true,
        },
    ];
    expected.sort_by(|a, b| a.attachment_id.cmp(&b.attachment_id));
    assert_eq!(refs, expected, "ids no message holds are left out");
    assert_eq!(code(system.refs(ids(1001)).await), Code::InvalidArgument);
    assert_eq!(system.refs(ids(1000)).await.unwrap().len(), 0);
}

#[tokio::test]
async fn live_refs_say_which_message_holds_an_attachment() {
    let system = spawn(true).await;
    let alice = system.user("alice").await;
    let room = system.group(alice, &[]).await;
    let photo = image("a.png");
    let message = system.message_with(alice, &room, vec![photo.clone()]).await;
    let refs = system.refs(vec![photo.id.clone()]).await.unwrap();
    assert_eq!(
        refs,
        vec![pb::AttachmentRef {
            attachment_id: photo.id,
            message_id: message.id,
            room_id: room,
            message_deleted: false,
        }]
    );
}

#[tokio::test]
async fn an_edit_changes_the_caption_only_and_its_event_is_signed_for_every_recipient() {
    let system = spawn(true).await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    let room = system.group(alice, &[bob]).await;
    let photo = image("a.png");
    let message = system.message_with(alice, &room, vec![photo.clone()]).await;
    let text = system.send(to_room(alice, &room)).await.unwrap();
    let mut events = system.events().await;

    let edit = |id: &str, content: &str| {
        let mut chat = system.chat.clone();
        let request = pb::EditMessageRequest {
            acting_user_id: alice.to_string(),
            message_id: id.to_owned(),
            content: content.to_owned(),
        };
        async move {
            chat.edit_message(request)
                .await
                .map(|response| response.into_inner().message.unwrap())
        }
    };
    let edited = edit(&message.id, "").await.unwrap();
    assert_eq!(
        edited.content, "",
        "a message with attachments may lose its caption"
    );
    assert_eq!(edited.attachments.len(), 1);
    assert!(grants(
        &edited.attachments[0].url,
        &photo.id,
        Variant::Original
    ));

    let Payload::MessageUpdated(updated) = next_event(&mut events, |payload| {
        matches!(payload, Payload::MessageUpdated(_))
    })
    .await
    else {
        unreachable!()
    };
    let announced = updated.message.unwrap();
    assert_eq!(
        announced.attachments, edited.attachments,
        "signed as it entered the log, alike for every recipient"
    );

    assert_eq!(code(edit(&text.id, "").await), Code::InvalidArgument);
    let history = system.history(bob, &room).await;
    let shown = history.iter().find(|found| found.id == message.id).unwrap();
    assert_eq!(shown.attachments, edited.attachments);
}
