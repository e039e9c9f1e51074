//! media-svc in a test system: in-process beside chat-svc, the two minting and checking URLs
//! with one test key, its files in a scratch folder of its own.

use std::{net::SocketAddr, path::Path, time::Duration};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use clap::Parser as _;
use parley_common::{media_url::MediaUrlArgs, testing::TestDatabase};

use super::{
    processes::free_port,
    scratch::ScratchDir,
    system::{InProcess, Timing, chat_config, spawn_until_stopped, start_chat_from, stop_signal},
};

/// The secret chat-svc and media-svc of every test system sign and check URLs with.
const URL_SECRET: &[u8; 32] = b"parley-test-media-url-secret-32b";

/// Their PARLEY_MEDIA_URL_KEYS, signing with that secret.
pub fn url_keys() -> String {
    format!("test:{}", STANDARD.encode(URL_SECRET))
}

/// What a test may change of media-svc and its URLs; the rest are the defaults.
#[derive(Clone)]
pub struct MediaSettings {
    /// Bytes a user may store (PARLEY_MEDIA_MAX_STORED_BYTES).
    pub max_stored_bytes: u64,
    /// Download URLs expire at the end of the bucket after the current one
    /// (PARLEY_MEDIA_URL_BUCKET).
    pub url_bucket: Duration,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            max_stored_bytes: 10 * 1024 * 1024 * 1024,
            url_bucket: Duration::from_secs(3600),
        }
    }
}

/// A running media-svc.
pub struct MediaService {
    pub grpc: InProcess,
    store: ScratchDir,
}

impl MediaService {
    /// chat-svc and media-svc, which call each other: media-svc's ports are chosen first, so
    /// that chat-svc knows them before either serves.
    pub async fn start_with_chat(
        database: &TestDatabase,
        friends_url: &str,
        timing: &Timing,
        settings: MediaSettings,
    ) -> (InProcess, Self) {
        let grpc: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let public_url = format!("http://{http}");
        let keys = url_keys();
        // Both mint URLs (media-svc for the uploader's `complete-upload`), so both are told
        // the bucket.
        let bucket = format!("{}ms", settings.url_bucket.as_millis());

        let mut chat_config = chat_config(database, friends_url, timing);
        chat_config.media_url = format!("http://{grpc}");
        chat_config.media_urls = MediaUrlArgs {
            public_url: public_url.clone(),
            url_keys: Some(keys.parse().unwrap()),
            url_bucket: settings.url_bucket,
        };
        let chat = start_chat_from(chat_config).await;

        let store = ScratchDir::new("media-store");
        let flags = [
            ("--listen-addr", grpc.to_string()),
            ("--http-addr", http.to_string()),
            ("--metrics-addr", String::new()),
            ("--chat-url", format!("http://{}", chat.addr)),
            ("--database-url", database.url.clone()),
            ("--media-public-url", public_url),
            ("--media-url-keys", keys),
            ("--media-url-bucket", bucket),
            ("--media-dir", store.path().display().to_string()),
            ("--max-stored-bytes", settings.max_stored_bytes.to_string()),
        ];
        let grpc = start_media(&flags).await;
        (chat, Self { grpc, store })
    }

    /// The folder media-svc keeps its files in.
    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }
}

/// A media-svc with `flags` on top of the defaults: the flags, not a `Config` literal, since
/// they are the service's documented interface.
async fn start_media(flags: &[(&str, String)]) -> InProcess {
    let args = std::iter::once("media-svc".to_owned()).chain(
        flags
            .iter()
            .flat_map(|(flag, value)| [(*flag).to_owned(), value.clone()]),
    );
    let config = parley_media_svc::config::Config::try_parse_from(args).unwrap();
    let media = parley_media_svc::startup::Application::build(&config)
        .await
        .expect("media-svc starts");
    let addr = media.local_addr().unwrap();
    spawn_until_stopped(addr, |stopped| async move {
        media.run_until_stopped(stop_signal(stopped)).await.unwrap();
    })
}
