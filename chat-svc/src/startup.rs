//! Building and running the service; `main` and the tests go through the same entry.

use std::{future::Future, net::SocketAddr, sync::Arc};

use parley_common::{
    bus::{self, Bus},
    db, grpc,
    service_token::ServiceToken,
};
use parley_proto::chat::v1::chat_service_server::ChatServiceServer;
use tokio::net::TcpListener;

use crate::{
    SCHEMA,
    attachments::Attachments,
    config::Config,
    events::Events,
    grpc::ChatGrpc,
    media::Media,
    messages::Messages,
    service::{Chat, RoomLimits},
};

/// A migrated, bound, not yet serving `chat-svc`.
pub struct Application {
    listener: TcpListener,
    /// What callers must present, when set.
    token: Option<ServiceToken>,
    service: ChatGrpc,
    /// The fan-out of events across replicas.
    bus: bus::FanOut,
}

impl Application {
    /// Connects to Postgres, applies the `chat` schema's migrations and binds the listener,
    /// so that the address is known (and connectable) before serving starts.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // First: a service that would serve anyone should not even migrate.
        let token =
            ServiceToken::for_listener(&config.internal, config.listen_addr, "PARLEY_CHAT_ADDR")?;
        let pool = db::pool(&config.database)?;
        db::migrate(&pool, SCHEMA, sqlx::migrate!("./migrations")).await?;
        let friends = parley_common::friends::client(&config.friends_url, token.clone())?;
        // Without URL signing keys, attachments are off and media-svc is never called.
        let urls = config.media_urls.urls();
        let media = urls
            .clone()
            .map(|urls| {
                Media::new(
                    &config.media_url,
                    token.clone(),
                    urls,
                    usize::from(config.max_attachments),
                )
                .map(Arc::new)
            })
            .transpose()?;
        let listener = parley_common::listen::bind(config.listen_addr, "PARLEY_CHAT_ADDR").await?;
        let event_bus = Bus::connect(&config.bus).await?;
        let (events, bus) = Events::start(&event_bus, pool.clone(), urls);
        // Events published from now on reach this replica's own subscribers too.
        bus.listening().await;
        let limits =
            RoomLimits::per_minute(config.rooms_per_minute, config.members_added_per_minute);
        let chat = Chat::new(pool.clone(), friends, events, limits);
        let messages = Arc::new(Messages::new(
            pool.clone(),
            chat.clone(),
            config.message_rate_per_minute,
            usize::from(config.writers),
            media,
        ));
        let attachments = Attachments::new(pool, messages.clone());
        Ok(Self {
            listener,
            token,
            service: ChatGrpc::new(chat, messages, attachments),
            bus,
        })
    }

    /// The address actually bound (the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then finishes the calls in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), grpc::ServeError> {
        let watch = tokio::spawn(crate::blocks::watch(
            self.service.blocks(),
            format!("chat-svc-{}", uuid::Uuid::new_v4().simple()),
        ));
        let events = self.service.events();
        let members = tokio::spawn(crate::member_cache::follow_membership(
            events.log.clone(),
            self.service.members(),
        ));
        let shutdown = async move {
            shutdown.await;
            // Open Subscribe streams would hold the graceful shutdown forever.
            events.log.close();
        };
        let served = grpc::serve(
            self.listener,
            ChatServiceServer::new(self.service),
            parley_proto::chat::v1::FILE_DESCRIPTOR_SET,
            self.token,
            shutdown,
        )
        .await;
        watch.abort();
        members.abort();
        // The calls in flight are done: store the events they published.
        self.bus.stop().await;
        served
    }
}
