//! Building and running the service; `main` and the tests go through the same entry.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use parley_common::{db, grpc, service_token::ServiceToken};
use parley_proto::media::v1::media_service_server::MediaServiceServer;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    SCHEMA,
    config::Config,
    grpc::MediaGrpc,
    http,
    service::Media,
    store::Store,
    sweeper::{self, Sweeper},
};

/// A migrated, bound, not yet serving `media-svc`.
pub struct Application {
    listener: TcpListener,
    http_listener: TcpListener,
    /// What callers must present, when set.
    token: Option<ServiceToken>,
    media: Arc<Media>,
    sweeper: Arc<Sweeper>,
    sweep_interval: Duration,
    http_per_ip_per_minute: u32,
}

impl Application {
    /// Connects to Postgres, applies the `media` schema's migrations, opens the object store
    /// and binds both listeners (gRPC and the HTTP data plane).
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let token =
            ServiceToken::for_listener(&config.internal, config.listen_addr, "PARLEY_MEDIA_ADDR")?;
        let urls = config.urls.urls().context(
            "PARLEY_MEDIA_URL_KEYS is required: `id:base64secret` (32 bytes or more), the same \
             on media-svc and chat-svc, e.g. `k1:$(head -c 32 /dev/urandom | base64)`",
        )?;
        crate::store::install_crypto_provider();
        let store = Store::open(&config.store)?;
        tracing::info!(store = %store.describe(), "media store");
        // Not fatal: the store may come up after us, as Postgres may; uploads fail until then.
        if let Err(error) = store.check().await {
            tracing::warn!(%error, "the media store does not answer yet");
        }
        let pool = db::pool(&config.database)?;
        db::migrate(&pool, SCHEMA, sqlx::migrate!("./migrations")).await?;
        let chat = parley_common::chat::client(&config.chat_url, token.clone())?;
        let listener = parley_common::listen::bind(config.listen_addr, "PARLEY_MEDIA_ADDR").await?;
        let http_listener =
            parley_common::listen::bind(config.http_addr, "PARLEY_MEDIA_HTTP_ADDR").await?;
        let media = Media::new(pool, store, chat, urls, config.limits.clone());
        Ok(Self {
            listener,
            http_listener,
            token,
            sweeper: Sweeper::new(media.clone()),
            media,
            sweep_interval: config.limits.sweep_interval,
            http_per_ip_per_minute: config.limits.http_per_ip_per_minute,
        })
    }

    /// The gRPC address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The HTTP data plane's address actually bound.
    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.http_listener.local_addr()
    }

    /// The sweeper, so that tests can run a round when they choose.
    pub fn sweeper(&self) -> Arc<Sweeper> {
        self.sweeper.clone()
    }

    /// Serves gRPC and HTTP until `shutdown` resolves, then finishes what is in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let sweeping = tokio::spawn(self.sweeper.clone().run(self.sweep_interval));
        let following = tokio::spawn(sweeper::follow_deletions(
            self.sweeper.clone(),
            format!("media-svc-{}", uuid::Uuid::new_v4().simple()),
        ));
        let (stop, stopped) = watch::channel(false);
        let wait = |mut stopped: watch::Receiver<bool>| async move {
            // Either a stop, or the sender dropped: both mean stop.
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let router = http::routes(self.media.clone(), self.http_per_ip_per_minute);
        let http = http::serve(self.http_listener, router, wait(stopped.clone()));
        let grpc = grpc::serve(
            self.listener,
            MediaServiceServer::new(MediaGrpc::new(self.media)),
            parley_proto::media::v1::FILE_DESCRIPTOR_SET,
            self.token,
            wait(stopped),
        );
        let signal = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        let (_, http, grpc) = tokio::join!(signal, http, grpc);
        sweeping.abort();
        following.abort();
        http.context("the HTTP data plane failed")?;
        grpc.context("the gRPC server failed")?;
        Ok(())
    }
}
