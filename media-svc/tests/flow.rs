//! media-svc with the real friends-svc and chat-svc beside it, in-process on real sockets and
//! a fresh database: reservations against quotas, the data plane's answers, completing,
//! cancelling, sending, deleting, and the sweeper.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use parley_common::testing::TestDatabase;
use parley_proto::{
    chat::v1::{self as chat, chat_service_client::ChatServiceClient},
    friends::v1::{self as friends, friends_service_client::FriendsServiceClient},
    media::v1::{self as media, media_service_client::MediaServiceClient},
};
use tokio::sync::oneshot;
use tonic::{Code, transport::Channel};
use uuid::Uuid;

const URL_KEYS: &str = "test:dGVzdC1tZWRpYS11cmwta2V5LW9mLWF0LWxlYXN0LTMyLWJ5dGVz";

/// A port free now, for a service whose address another one must know before it starts.
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

struct System {
    chat: ChatServiceClient<Channel>,
    media: MediaServiceClient<Channel>,
    friends: FriendsServiceClient<Channel>,
    /// The data plane's origin.
    http: String,
    dir: PathBuf,
    sweeper: std::sync::Arc<parley_media_svc::sweeper::Sweeper>,
    _stops: Vec<oneshot::Sender<()>>,
    _database: TestDatabase,
}

impl System {
    /// The system, media-svc with the flags `extra` (e.g. `--max-stored-bytes 1000`) on top
    /// of the test defaults.
    async fn start(extra: &[&str]) -> Self {
        parley_media_svc::store::install_crypto_provider();
        let database = TestDatabase::create().await;
        let mut stops = Vec::new();

        let friends_app =
            parley_friends_svc::startup::Application::build(&parley_friends_svc::config::Config {
                metrics_addr: None,
                listen_addr: "127.0.0.1:0".parse().unwrap(),
                database: database.args(),
                bus: database.bus(),
                internal: Default::default(),
                request_cooldowns: Default::default(),
            })
            .await
            .unwrap();
        let friends_addr = friends_app.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(friends_app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        stops.push(stop);

        let media_addr = free_port();
        let media_http = free_port();
        let chat_config = parley_chat_svc::config::Config::try_parse_from([
            "chat-svc",
            "--listen-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "",
            "--friends-url",
            &format!("http://{friends_addr}"),
            "--database-url",
            &database.url,
            "--media-url",
            &format!("http://{media_addr}"),
            "--media-url-keys",
            URL_KEYS,
            "--media-public-url",
            &format!("http://{media_http}"),
        ])
        .unwrap();
        let chat_app = parley_chat_svc::startup::Application::build(&chat_config)
            .await
            .unwrap();
        let chat_addr = chat_app.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(chat_app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        stops.push(stop);

        let dir =
            std::env::temp_dir().join(format!("parley-media-test-{}", Uuid::new_v4().simple()));
        let mut args = vec![
            "media-svc".to_owned(),
            "--listen-addr".into(),
            media_addr.to_string(),
            "--http-addr".into(),
            media_http.to_string(),
            "--metrics-addr".into(),
            String::new(),
            "--chat-url".into(),
            format!("http://{chat_addr}"),
            "--database-url".into(),
            database.url.clone(),
            "--media-url-keys".into(),
            URL_KEYS.into(),
            "--media-public-url".into(),
            format!("http://{media_http}"),
            "--media-dir".into(),
            dir.display().to_string(),
            // Rounds run when a test asks.
            "--sweep-interval".into(),
            "1h".into(),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let media_config = parley_media_svc::config::Config::try_parse_from(args).unwrap();
        let media_app = parley_media_svc::startup::Application::build(&media_config)
            .await
            .unwrap();
        let sweeper = media_app.sweeper();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(media_app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        stops.push(stop);

        let channel = |addr: SocketAddr| {
            Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_lazy()
        };
        Self {
            chat: ChatServiceClient::new(channel(chat_addr)),
            media: MediaServiceClient::new(channel(media_addr)),
            friends: FriendsServiceClient::new(channel(friends_addr)),
            http: format!("http://{media_http}"),
            dir,
            sweeper,
            _stops: stops,
            _database: database,
        }
    }

    async fn user(&mut self, name: &str) -> String {
        let id = Uuid::new_v4().to_string();
        self.friends
            .upsert_user(friends::UpsertUserRequest {
                id: id.clone(),
                username: name.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        id
    }

    /// A group room of `owner` and `members`.
    async fn room(&mut self, owner: &str, members: &[&str]) -> String {
        self.chat
            .create_room(chat::CreateRoomRequest {
                acting_user_id: owner.to_owned(),
                name: Some("photos".to_owned()),
                is_group: true,
                member_ids: members.iter().map(|m| (*m).to_owned()).collect(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .room
            .unwrap()
            .id
    }

    async fn create_upload(
        &mut self,
        user: &str,
        room: &str,
        name: &str,
        size: u64,
    ) -> Result<media::Upload, tonic::Status> {
        self.media
            .create_upload(media::CreateUploadRequest {
                acting_user_id: user.to_owned(),
                target: Some(media::create_upload_request::Target::RoomId(
                    room.to_owned(),
                )),
                name: name.to_owned(),
                size,
                content_type: None,
                client_upload_id: None,
            })
            .await
            .map(|answer| answer.into_inner().upload.unwrap())
    }

    async fn complete(
        &mut self,
        user: &str,
        upload: &str,
    ) -> Result<media::Attachment, tonic::Status> {
        self.media
            .complete_upload(media::CompleteUploadRequest {
                acting_user_id: user.to_owned(),
                upload_id: upload.to_owned(),
            })
            .await
            .map(|answer| answer.into_inner().attachment.unwrap())
    }

    async fn usage(&mut self, user: &str) -> media::Quota {
        self.media
            .get_config(media::GetConfigRequest {
                acting_user_id: user.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
            .quota
            .unwrap()
    }

    /// Every file under the store's folder.
    fn stored_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &std::path::Path, found: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.dir, &mut found);
        found
    }
}

impl Drop for System {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn put(url: &str, body: Vec<u8>) -> u16 {
    reqwest::Client::new()
        .put(url)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A PNG of `width`×`height` with a text chunk that must not survive.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

#[tokio::test]
async fn an_image_goes_from_reservation_to_a_message_and_is_gone_after_its_deletion() {
    let mut system = System::start(&[]).await;
    let alice = system.user("alice").await;
    let bob = system.user("bob").await;
    let room = system.room(&alice, &[&bob]).await;
    let bytes = png(800, 600);

    let upload = system
        .create_upload(
            &alice,
            &room,
            "../../etc/photo\u{202e}gnp.png",
            bytes.len() as u64,
        )
        .await
        .unwrap();
    assert_eq!(upload.method, "PUT");
    assert_eq!(upload.room_id, room);
    // Completing before the bytes arrived is refused; the upload stays usable.
    assert_eq!(
        system
            .complete(&alice, &upload.id)
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );

    // More bytes than declared: 413; fewer: 400; both leave it open for a good PUT.
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(put(&upload.url, longer).await, 413);
    assert_eq!(put(&upload.url, bytes[..10].to_vec()).await, 400);
    let tampered = upload.url.replace("&s=", "&s=A");
    assert_eq!(put(&tampered, bytes.clone()).await, 403);
    assert_eq!(put(&upload.url, bytes.clone()).await, 201);
    assert_eq!(put(&upload.url, bytes.clone()).await, 409);

    let attachment = system.complete(&alice, &upload.id).await.unwrap();
    assert_eq!(attachment.kind(), media::AttachmentKind::Image);
    assert_eq!(
        (attachment.width, attachment.height),
        (Some(800), Some(600))
    );
    assert_eq!(attachment.mime_type, "image/png");
    assert!(
        !attachment.name.contains('/') && !attachment.name.contains('\u{202e}'),
        "{}",
        attachment.name
    );
    assert!(attachment.has_thumbnail && !attachment.has_preview);
    assert!(!attachment.thumbhash.is_empty());
    // Completing again answers the same attachment.
    assert_eq!(
        system.complete(&alice, &upload.id).await.unwrap().id,
        attachment.id
    );

    let original = reqwest::get(&attachment.url).await.unwrap();
    assert_eq!(original.status(), 200);
    let headers = original.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    let served = original.bytes().await.unwrap();
    assert_eq!(served.len() as u64, attachment.size);
    let etag = headers["etag"].clone();
    let again = reqwest::Client::new()
        .get(&attachment.url)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let ranged = reqwest::Client::new()
        .get(&attachment.url)
        .header("range", "bytes=0-7")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &served[..8]);
    let thumbnail = reqwest::get(attachment.thumbnail_url.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(thumbnail.status(), 200);
    let thumbnail = image::load_from_memory(&thumbnail.bytes().await.unwrap()).unwrap();
    assert!(thumbnail.width() <= 400 && thumbnail.height() <= 400);

    // Bob may not send Alice's upload; Alice may, once.
    let send = |sender: &str, client_msg_id: &str| chat::SendMessageRequest {
        acting_user_id: sender.to_owned(),
        target: Some(chat::send_message_request::Target::RoomId(room.clone())),
        content: String::new(),
        message_type: chat::MessageType::Image.into(),
        attachment_ids: vec![attachment.id.clone()],
        client_msg_id: Some(client_msg_id.to_owned()),
        ..Default::default()
    };
    let refused = system
        .chat
        .send_message(send(&bob, "b1"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    let message = system
        .chat
        .send_message(send(&alice, "a1"))
        .await
        .unwrap()
        .into_inner()
        .message
        .unwrap();
    assert_eq!(message.attachments.len(), 1);
    assert!(message.attachments[0].url.starts_with(&system.http));
    let reused = system
        .chat
        .send_message(send(&alice, "a2"))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::FailedPrecondition, "{reused:?}");
    // A sent attachment cannot be cancelled.
    let cancel = system
        .media
        .cancel_upload(media::CancelUploadRequest {
            acting_user_id: alice.clone(),
            upload_id: upload.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(cancel.code(), Code::FailedPrecondition);

    // Deleting the message makes every URL 404 at once (the event reaches media-svc).
    system
        .chat
        .delete_message(chat::DeleteMessageRequest {
            acting_user_id: alice.clone(),
            message_id: message.id.clone(),
        })
        .await
        .unwrap();
    let mut status = 0;
    for _ in 0..100 {
        status = reqwest::get(&attachment.url)
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 404);
    assert_eq!(
        reqwest::get(attachment.thumbnail_url.as_deref().unwrap())
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        system.usage(&alice).await.used_bytes,
        0,
        "the quota is given back"
    );
}

#[tokio::test]
async fn quotas_refuse_before_any_byte_is_stored_and_cancelling_gives_them_back() {
    let mut system =
        System::start(&["--max-stored-bytes", "1000", "--max-pending-uploads", "2"]).await;
    let alice = system.user("alice").await;
    let bob = system.user("bob").await;
    let room = system.room(&alice, &[&bob]).await;

    let first = system
        .create_upload(&alice, &room, "a.bin", 600)
        .await
        .unwrap();
    let over = system
        .create_upload(&alice, &room, "b.bin", 600)
        .await
        .unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted);
    let metadata = |key| {
        over.metadata()
            .get(key)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(metadata("quota-limit-bytes").as_deref(), Some("1000"));
    assert_eq!(metadata("quota-used-bytes").as_deref(), Some("600"));
    assert!(
        system.stored_files().is_empty(),
        "{:?}",
        system.stored_files()
    );
    assert_eq!(system.usage(&alice).await.used_bytes, 600);

    // Two pending at most.
    let second = system
        .create_upload(&alice, &room, "c.bin", 10)
        .await
        .unwrap();
    let third = system
        .create_upload(&alice, &room, "d.bin", 10)
        .await
        .unwrap_err();
    assert_eq!(third.code(), Code::FailedPrecondition);

    assert_eq!(put(&first.url, vec![7; 600]).await, 201);
    assert_eq!(system.stored_files().len(), 1);
    for upload in [&first, &second] {
        system
            .media
            .cancel_upload(media::CancelUploadRequest {
                acting_user_id: alice.clone(),
                upload_id: upload.id.clone(),
            })
            .await
            .unwrap();
    }
    assert_eq!(system.usage(&alice).await.used_bytes, 0);
    assert!(
        system.stored_files().is_empty(),
        "{:?}",
        system.stored_files()
    );
    // The signed URL of a cancelled upload takes nothing.
    assert_eq!(put(&first.url, vec![7; 600]).await, 403);

    // A non-member may not upload to the room.
    let carol = system.user("carol").await;
    let denied = system
        .create_upload(&carol, &room, "e.bin", 10)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
}

#[tokio::test]
async fn the_sweeper_removes_expired_uploads_and_attachments_never_sent_but_keeps_sent_ones() {
    let mut system = System::start(&[
        "--upload-ttl",
        "2s",
        "--unsent-ttl",
        "1s",
        "--purge-after",
        "0s",
    ])
    .await;
    let alice = system.user("alice").await;
    let bob = system.user("bob").await;
    let room = system.room(&alice, &[&bob]).await;

    // Each upload is PUT right after its reservation, well within its URL's 2 s even on a
    // loaded machine; the one left unfinished is reserved last.
    let mut completed = Vec::new();
    for name in ["unsent.txt", "sent.txt"] {
        let upload = system.create_upload(&alice, &room, name, 5).await.unwrap();
        assert_eq!(put(&upload.url, b"hello".to_vec()).await, 201);
        let attachment = system.complete(&alice, &upload.id).await.unwrap();
        assert_eq!(attachment.kind(), media::AttachmentKind::File);
        completed.push(upload);
    }
    let [unsent, sent] = <[media::Upload; 2]>::try_from(completed).unwrap();
    let expiring = system
        .create_upload(&alice, &room, "never.bin", 5)
        .await
        .unwrap();
    let sent_attachment = system.complete(&alice, &sent.id).await.unwrap();
    system
        .chat
        .send_message(chat::SendMessageRequest {
            acting_user_id: alice.clone(),
            target: Some(chat::send_message_request::Target::RoomId(room.clone())),
            message_type: chat::MessageType::File.into(),
            attachment_ids: vec![sent.id.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    // Past the reservation, the unsent TTL, and the window in which a send may be committing.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let swept = system.sweeper.round().await.unwrap();
    assert_eq!(swept.expired, 1, "{swept:?}");
    // The sent one was claimed a moment ago: left for a later round, never deleted now.
    assert_eq!(swept.deleted, 1, "{swept:?}");
    assert_eq!(
        reqwest::get(&sent_attachment.url).await.unwrap().status(),
        200
    );
    let unsent_url = system.complete(&alice, &unsent.id).await;
    assert_eq!(unsent_url.unwrap_err().code(), Code::NotFound);
    let _ = system.sweeper.round().await.unwrap();
    let left: Vec<String> = system
        .stored_files()
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    assert!(left.iter().all(|path| path.contains(&sent.id)), "{left:?}");
    assert!(!left.is_empty());
    assert_eq!(system.usage(&alice).await.used_bytes, 5);
    let _ = expiring;
}
