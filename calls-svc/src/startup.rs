//! Building and running the service; `main`, the tests and the edge's tests go through the
//! same entry: [`Application::build`], [`Application::local_addr`],
//! [`Application::run_until_stopped`].

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use parley_common::{bus::Bus, db, grpc, service_token::ServiceToken};
use parley_proto::calls::v1::calls_service_server::CallsServiceServer;
use tokio::net::TcpListener;

use crate::{
    SCHEMA, blocks,
    config::Config,
    events::Events,
    grpc::CallsGrpc,
    service::{Calls, Policy},
    sweeper::Sweeper,
    turn::Turn,
};

/// A migrated, bound, not yet serving `calls-svc`.
pub struct Application {
    listener: TcpListener,
    /// What callers must present, when set.
    token: Option<ServiceToken>,
    calls: Arc<Calls>,
    bus: parley_common::bus::FanOut,
    friends: parley_common::friends::FriendsClient,
    sweeper: Arc<Sweeper>,
    sweep_interval: Duration,
}

impl Application {
    /// Connects to Postgres, applies the `calls` schema's migrations and binds the listener.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let token =
            ServiceToken::for_listener(&config.internal, config.listen_addr, "PARLEY_CALLS_ADDR")?;
        let turn = Turn::new(&config.turn)?;
        let pool = db::pool(&config.database)?;
        db::migrate(&pool, SCHEMA, sqlx::migrate!("./migrations")).await?;
        let chat = parley_common::chat::client(&config.chat_url, token.clone())
            .context("PARLEY_CHAT_URL")?;
        let friends = parley_common::friends::client(&config.friends_url, token.clone())
            .context("PARLEY_FRIENDS_URL")?;
        let listener = parley_common::listen::bind(config.listen_addr, "PARLEY_CALLS_ADDR").await?;
        let event_bus = Bus::connect(&config.bus).await?;
        let (events, bus) = Events::start(&event_bus, pool.clone());
        // Events published from now on reach this replica's own subscribers too.
        bus.listening().await;
        let calls = Calls::new(
            pool,
            events,
            chat,
            friends.clone(),
            turn,
            config.limits.timing(),
            Policy {
                friends_only: config.limits.friends_only,
                unanswered_per_pair: config.limits.unanswered_per_pair,
            },
        );
        Ok(Self {
            listener,
            token,
            sweeper: Sweeper::new(calls.clone()),
            calls,
            bus,
            friends,
            sweep_interval: config.limits.sweep_interval,
        })
    }

    /// The address actually bound (the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The sweeper, so that tests can run a round when they choose.
    pub fn sweeper(&self) -> Arc<Sweeper> {
        self.sweeper.clone()
    }

    /// Serves until `shutdown` resolves, then finishes the calls in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let sweeping = tokio::spawn(self.sweeper.clone().run(self.sweep_interval));
        let watching = tokio::spawn(blocks::watch(
            self.calls.clone(),
            self.friends,
            format!("calls-svc-{}", uuid::Uuid::new_v4().simple()),
        ));
        let calls = self.calls.clone();
        let shutdown = async move {
            shutdown.await;
            // Open Subscribe streams would hold the graceful shutdown forever.
            calls.events().close();
        };
        let served = grpc::serve(
            self.listener,
            CallsServiceServer::new(CallsGrpc::new(self.calls)),
            parley_proto::calls::v1::FILE_DESCRIPTOR_SET,
            self.token,
            shutdown,
        )
        .await;
        sweeping.abort();
        watching.abort();
        // The calls in flight are done: store the events they published.
        self.bus.stop().await;
        served.context("the gRPC server failed")
    }
}
