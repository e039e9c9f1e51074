//! presence-svc over real gRPC, with a real friends-svc and Postgres: who hears what, leases,
//! restarts, and what reaches the database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{net::SocketAddr, sync::atomic::Ordering::Relaxed, time::Duration};

use futures_util::StreamExt;
use parley_common::{
    config::BusKind,
    testing::{TestDatabase, test_bus},
};
use parley_proto::{
    friends::v1::{self as friends, friends_service_client::FriendsServiceClient},
    presence::v1::{
        self as pb, presence_event::Payload, presence_service_client::PresenceServiceClient,
    },
};
use sqlx::{Connection, PgConnection};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;
use uuid::Uuid;

const GRACE: Duration = Duration::from_millis(200);
const LEASE_TTL: Duration = Duration::from_millis(800);
const FLUSH: Duration = Duration::from_millis(300);

struct InProcess {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl InProcess {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops in time")
            .unwrap();
    }
}

struct System {
    core: std::sync::Arc<parley_presence_svc::service::Presence>,
    database: TestDatabase,
    friends_addr: SocketAddr,
    presence_addr: SocketAddr,
    _friends: InProcess,
    presence: Option<InProcess>,
}

fn presence_config(
    system_friends: SocketAddr,
    database: &TestDatabase,
    listen: SocketAddr,
) -> parley_presence_svc::config::Config {
    parley_presence_svc::config::Config {
        metrics_addr: None,
        listen_addr: listen,
        friends_url: format!("http://{system_friends}"),
        heartbeat_timeout: Duration::from_secs(60),
        grace: GRACE,
        lease_ttl: LEASE_TTL,
        flush_interval: FLUSH,
        advertise_url: String::new(),
        shard_ttl: Duration::from_secs(3),
        database: database.args(),
        bus: database.bus(),
        internal: Default::default(),
    }
}

async fn start_presence(
    config: &parley_presence_svc::config::Config,
) -> (
    SocketAddr,
    InProcess,
    std::sync::Arc<parley_presence_svc::service::Presence>,
) {
    let app = parley_presence_svc::startup::Application::build(config)
        .await
        .unwrap();
    let addr = app.local_addr().unwrap();
    let core = app.presence();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app.run_until_stopped(async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (
        addr,
        InProcess {
            stop: Some(stop),
            task,
        },
        core,
    )
}

impl System {
    async fn spawn() -> Self {
        let database = TestDatabase::create().await;
        let friends =
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
        let friends_addr = friends.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            friends
                .run_until_stopped(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        let config = presence_config(friends_addr, &database, "127.0.0.1:0".parse().unwrap());
        let (presence_addr, presence, core) = start_presence(&config).await;
        Self {
            core,
            database,
            friends_addr,
            presence_addr,
            _friends: InProcess {
                stop: Some(stop),
                task,
            },
            presence: Some(presence),
        }
    }

    /// Stops presence-svc gracefully and starts a new one on the same address.
    async fn restart_presence(&mut self) {
        if let Some(running) = self.presence.take() {
            running.stop().await;
        }
        let config = presence_config(self.friends_addr, &self.database, self.presence_addr);
        let (_, running, core) = start_presence(&config).await;
        self.presence = Some(running);
        self.core = core;
    }

    async fn presence(&self) -> PresenceServiceClient<Channel> {
        PresenceServiceClient::connect(format!("http://{}", self.presence_addr))
            .await
            .unwrap()
    }

    async fn friends(&self) -> FriendsServiceClient<Channel> {
        FriendsServiceClient::connect(format!("http://{}", self.friends_addr))
            .await
            .unwrap()
    }

    async fn user(&self, name: &str) -> Uuid {
        let id = Uuid::new_v4();
        self.friends()
            .await
            .upsert_user(friends::UpsertUserRequest {
                id: id.to_string(),
                username: name.into(),
                avatar: None,
                issued_at: None,
            })
            .await
            .unwrap();
        id
    }

    async fn befriend(&self, a: Uuid, b: Uuid) {
        let mut client = self.friends().await;
        let request = client
            .send_friend_request(friends::SendFriendRequestRequest {
                acting_user_id: a.to_string(),
                target: Some(friends::send_friend_request_request::Target::UserId(
                    b.to_string(),
                )),
            })
            .await
            .unwrap()
            .into_inner()
            .request
            .unwrap();
        client
            .accept_friend_request(friends::AcceptFriendRequestRequest {
                acting_user_id: b.to_string(),
                request_id: request.id,
            })
            .await
            .unwrap();
    }

    async fn open(&self, user: Uuid, session: &str, edge: &str) {
        self.presence()
            .await
            .open_session(pb::OpenSessionRequest {
                user_id: user.to_string(),
                session_id: session.into(),
                edge_id: edge.into(),
            })
            .await
            .unwrap();
    }

    async fn close(&self, user: Uuid, session: &str) {
        self.presence()
            .await
            .close_session(pb::CloseSessionRequest {
                user_id: user.to_string(),
                session_id: session.into(),
            })
            .await
            .unwrap();
    }

    async fn friends_status(&self, user: Uuid) -> Vec<pb::FriendStatus> {
        self.presence()
            .await
            .get_friends_status(pb::GetFriendsStatusRequest {
                acting_user_id: user.to_string(),
            })
            .await
            .unwrap()
            .into_inner()
            .friends
    }

    async fn db(&self) -> PgConnection {
        PgConnection::connect(&self.database.url).await.unwrap()
    }
}

/// Every presence event, as (about whom, status, to whom).
struct Events(tonic::Streaming<pb::PresenceEvent>);

impl Events {
    async fn subscribe(system: &System) -> Self {
        Self::of(system.presence().await).await
    }

    /// The events of the replica `client` talks to.
    async fn of(mut client: PresenceServiceClient<Channel>) -> Self {
        let stream = client
            .subscribe(pb::SubscribeRequest {
                edge_id: "test".into(),
                after_event_id: None,
            })
            .await
            .unwrap()
            .into_inner();
        Self(stream)
    }

    async fn next(&mut self) -> (String, pb::Status, Vec<String>, pb::FriendStatusChanged) {
        let event = tokio::time::timeout(Duration::from_secs(5), self.0.next())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        let Some(Payload::FriendStatusChanged(changed)) = event.payload else {
            panic!("not a status change");
        };
        (
            changed.user_id.clone(),
            changed.status(),
            event.recipient_user_ids,
            changed,
        )
    }

    /// Nothing arrives within `wait`.
    async fn quiet(&mut self, wait: Duration) {
        if let Ok(Some(event)) = tokio::time::timeout(wait, self.0.next()).await {
            panic!("unexpected event {event:?}");
        }
    }
}

#[tokio::test]
async fn friends_hear_each_change_once_whatever_the_devices_and_strangers_hear_nothing() {
    let system = System::spawn().await;
    let (alice, bob, carol) = (
        system.user("alice").await,
        system.user("bob").await,
        system.user("carol").await,
    );
    system.befriend(alice, bob).await;
    let mut events = Events::subscribe(&system).await;

    system.open(alice, "phone", "edge-1").await;
    system.open(alice, "laptop", "edge-1").await;
    let (about, status, to, _) = events.next().await;
    assert_eq!(
        (about, status, to),
        (alice.to_string(), pb::Status::Online, vec![bob.to_string()])
    );

    system.close(alice, "phone").await;
    system.close(alice, "laptop").await;
    let (about, status, to, changed) = events.next().await;
    assert_eq!(
        (about, status, to),
        (
            alice.to_string(),
            pb::Status::Offline,
            vec![bob.to_string()]
        )
    );
    assert!(changed.last_seen.is_some());
    events.quiet(GRACE * 3).await;

    let bob_sees = system.friends_status(bob).await;
    assert_eq!(bob_sees.len(), 1);
    assert_eq!(bob_sees[0].username, "alice");
    assert_eq!(bob_sees[0].status(), pb::Status::Offline);
    assert!(
        system.friends_status(carol).await.is_empty(),
        "carol is nobody's friend"
    );
}

#[tokio::test]
async fn sessions_of_an_edge_that_stops_renewing_its_lease_end() {
    let system = System::spawn().await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    system.befriend(alice, bob).await;
    let mut events = Events::subscribe(&system).await;
    system.open(alice, "phone", "edge-that-dies").await;
    assert_eq!(events.next().await.1, pb::Status::Online);

    // No renewal from edge-that-dies: its lease lapses, then the grace period runs.
    let (_, status, _, _) = events.next().await;
    assert_eq!(status, pb::Status::Offline);
}

#[tokio::test]
async fn a_renewing_edge_keeps_its_sessions_and_restores_them_after_a_restart() {
    let mut system = System::spawn().await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    system.befriend(alice, bob).await;
    let renew = |presence: PresenceServiceClient<Channel>| async move {
        let mut presence = presence;
        presence
            .renew_edge_lease(pb::RenewEdgeLeaseRequest {
                edge_id: "edge-1".into(),
                sessions: vec![pb::EdgeSession {
                    session_id: "phone".into(),
                    user_id: alice.to_string(),
                }],
            })
            .await
            .unwrap();
    };
    system.open(alice, "phone", "edge-1").await;
    for _ in 0..4 {
        tokio::time::sleep(LEASE_TTL / 2).await;
        renew(system.presence().await).await;
    }
    assert_eq!(
        system.friends_status(bob).await[0].status(),
        pb::Status::Online
    );

    system.restart_presence().await;
    renew(system.presence().await).await;
    let seen = system.friends_status(bob).await;
    assert_eq!(
        seen[0].status(),
        pb::Status::Online,
        "re-registered by the renewal"
    );
}

#[tokio::test]
async fn last_seen_survives_a_restart_of_presence() {
    let mut system = System::spawn().await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    system.befriend(alice, bob).await;
    let mut events = Events::subscribe(&system).await;
    system.open(alice, "phone", "edge-1").await;
    events.next().await;
    system.close(alice, "phone").await;
    let (_, _, _, offline) = events.next().await;
    let last_seen = offline.last_seen.unwrap();

    system.restart_presence().await;
    let seen = system.friends_status(bob).await;
    let stored = seen[0].last_seen.unwrap();
    assert_eq!(stored.seconds, last_seen.seconds);
    // Postgres keeps microseconds.
    assert_eq!(stored.nanos / 1000, last_seen.nanos / 1000);
    assert_eq!(seen[0].status(), pb::Status::Offline);
}

#[tokio::test]
async fn last_seen_writes_do_not_grow_with_heartbeats() {
    let system = System::spawn().await;
    let alice = system.user("alice").await;
    system.open(alice, "phone", "edge-1").await;
    tokio::time::sleep(FLUSH * 2).await;
    let written = |system: &System| {
        let stats = &system.core.flush_stats;
        (stats.flushes.load(Relaxed), stats.rows.load(Relaxed))
    };
    let (flushes_before, rows_before) = written(&system);

    let mut presence = system.presence().await;
    for _ in 0..60 {
        presence
            .heartbeat(pb::HeartbeatRequest {
                acting_user_id: alice.to_string(),
                session_id: "phone".into(),
                edge_id: "edge-1".into(),
            })
            .await
            .unwrap();
        tokio::time::sleep(FLUSH / 20).await;
    }
    let (flushes_after, rows_after) = written(&system);
    let flushes = flushes_after - flushes_before;
    assert!(flushes >= 2, "the test spans several flushes ({flushes})");
    assert!(
        rows_after - rows_before <= flushes,
        "one online user is written at most once per flush: {} rows in {flushes} flushes",
        rows_after - rows_before
    );
    let stored: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_seen FROM presence.users WHERE user_id = $1")
            .bind(alice)
            .fetch_one(&mut system.db().await)
            .await
            .unwrap();
    let age = chrono::Utc::now() - stored.unwrap();
    assert!(
        age < chrono::TimeDelta::from_std(FLUSH * 3).unwrap(),
        "online means seen at the last flush"
    );
}

#[tokio::test]
async fn a_new_friendship_shows_each_status_at_once_and_an_ended_one_stops_it() {
    let system = System::spawn().await;
    let (alice, bob, dave) = (
        system.user("alice").await,
        system.user("bob").await,
        system.user("dave").await,
    );
    system.befriend(alice, dave).await;
    let mut events = Events::subscribe(&system).await;
    system.open(alice, "a", "edge-1").await;
    system.open(bob, "b", "edge-1").await;
    // Events travel through Postgres: the one of alice's session (to dave) comes first.
    let (about, _, to, _) = events.next().await;
    assert_eq!((about, to), (alice.to_string(), vec![dave.to_string()]));

    system.befriend(alice, bob).await;
    let mut told = vec![events.next().await, events.next().await];
    told.sort_by(|x, y| x.0.cmp(&y.0));
    let mut expected = vec![
        (alice.to_string(), pb::Status::Online, vec![bob.to_string()]),
        (bob.to_string(), pb::Status::Online, vec![alice.to_string()]),
    ];
    expected.sort_by(|x, y| x.0.cmp(&y.0));
    let told: Vec<_> = told
        .into_iter()
        .map(|(about, status, to, _)| (about, status, to))
        .collect();
    assert_eq!(told, expected);

    let mut friends = system.friends().await;
    friends
        .block_user(friends::BlockUserRequest {
            acting_user_id: bob.to_string(),
            user_id: alice.to_string(),
        })
        .await
        .unwrap();
    // Let the graph change reach presence-svc.
    tokio::time::sleep(Duration::from_millis(200)).await;
    system
        .presence()
        .await
        .update_status(pb::UpdateStatusRequest {
            acting_user_id: alice.to_string(),
            status: pb::Status::Away.into(),
        })
        .await
        .unwrap();
    let (about, status, to, _) = events.next().await;
    assert_eq!((about, status), (alice.to_string(), pb::Status::Away));
    assert_eq!(
        to,
        vec![dave.to_string()],
        "bob blocked alice: he hears nothing of her"
    );
}

#[tokio::test]
async fn offline_is_not_a_status_one_can_choose() {
    let system = System::spawn().await;
    let alice = system.user("alice").await;
    let refused = system
        .presence()
        .await
        .update_status(pb::UpdateStatusRequest {
            acting_user_id: alice.to_string(),
            status: pb::Status::Offline.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
}

/// The distinct `method` labels of the gRPC server metrics in a Prometheus scrape.
fn method_labels(scrape: &str) -> std::collections::BTreeSet<String> {
    scrape
        .lines()
        .filter(|line| line.starts_with("parley_grpc_server_"))
        .filter_map(|line| {
            let (_, rest) = line.split_once("method=\"")?;
            let (method, _) = rest.split_once('"')?;
            Some(method.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn calls_to_random_method_paths_make_no_metrics_series() {
    let system = System::spawn().await;
    let (metrics_addr, _metrics) = parley_common::metrics::serve(
        "127.0.0.1:0".parse().unwrap(),
        "PARLEY_PRESENCE_METRICS_ADDR",
    )
    .await
    .unwrap();
    let scrape = || async {
        reqwest::get(format!("http://{metrics_addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let channel = Channel::from_shared(format!("http://{}", system.presence_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    for n in 0..400 {
        let path = if n % 2 == 0 {
            format!("/parley.presence.v1.PresenceService/Nope{n}")
        } else {
            format!("/scan{n}.Service/Method")
        };
        grpc.ready().await.unwrap();
        let answer = grpc
            .unary(
                tonic::Request::new(()),
                path.parse().unwrap(),
                tonic_prost::ProstCodec::<(), ()>::default(),
            )
            .await;
        assert_eq!(answer.unwrap_err().code(), tonic::Code::Unimplemented);
    }

    let labels = method_labels(&scrape().await);
    let random: Vec<&String> = labels
        .iter()
        .filter(|method| method.contains("Nope") || method.contains("scan"))
        .collect();
    assert!(random.is_empty(), "a series per random path: {random:?}");
    assert!(labels.contains("unknown"), "{labels:?}");
    // The service's methods, health's and reflection's, and "unknown": a bounded set.
    assert!(labels.len() <= 7 + 2 + 2 + 1, "{labels:?}");
}

/// On the Postgres bus each process's log is an epoch of its own, so a restart is a gap; on
/// NATS the log is the stream's, whichever process serves it, so the follower resumes.
#[tokio::test]
async fn a_follower_hears_of_a_restart_as_a_gap_unless_the_log_is_the_streams() {
    use parley_common::follow::{After, Followed, follow};

    let mut system = System::spawn().await;
    let (alice, bob) = (system.user("alice").await, system.user("bob").await);
    system.befriend(alice, bob).await;
    let channel = Channel::from_shared(format!("http://{}", system.presence_addr))
        .unwrap()
        .connect_lazy();
    // What the follower is handed: `true` for a gap, `false` for an event.
    let (handed, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let follower = tokio::spawn(follow(
        "presence-svc",
        move |after: After| {
            let mut client = PresenceServiceClient::new(channel.clone());
            let request = after.request(pb::SubscribeRequest {
                edge_id: "follower".into(),
                after_event_id: after.event_id,
            });
            async move { client.subscribe(request).await }
        },
        |event: &pb::PresenceEvent| event.event_id,
        |_| None,
        move |followed| {
            let _ = handed.send(matches!(followed, Followed::Gap));
            async {}
        },
    ));
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), heard.recv())
            .await
            .ok()
            .flatten()
    };
    assert_eq!(next().await, Some(true), "the first subscription is a gap");
    system.open(alice, "phone", "edge-1").await;
    assert_eq!(next().await, Some(false), "alice's ONLINE");

    system.restart_presence().await;
    match test_bus() {
        // Nothing is published after the restart: the new epoch alone tells the follower.
        BusKind::Postgres => assert_eq!(
            next().await,
            Some(true),
            "the restart was not reported as a gap"
        ),
        BusKind::Nats => {
            system.open(bob, "phone", "edge-1").await;
            assert_eq!(
                next().await,
                Some(false),
                "bob's ONLINE, and no gap before it"
            );
        }
    }
    follower.abort();
}

/// The shards each of `cores` holds, once every shard is held by exactly one of them.
async fn until_shared(cores: &[&parley_presence_svc::service::Presence]) -> Vec<Vec<u32>> {
    for _ in 0..200 {
        let held: Vec<Vec<u32>> = cores.iter().map(|core| core.held_shards()).collect();
        let mut all: Vec<u32> = held.iter().flatten().copied().collect();
        all.sort_unstable();
        let once = all.len() == parley_presence_svc::shards::SHARDS as usize
            && all.windows(2).all(|pair| pair[0] != pair[1]);
        if once && held.iter().all(|shards| !shards.is_empty()) {
            return held;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replicas never shared the shards");
}

fn shard(user: Uuid) -> u32 {
    parley_presence_svc::shards::shard_of(parley_common::ids::UserId(user))
}

#[tokio::test]
async fn replicas_share_the_users_and_a_stopped_ones_move_to_the_others() {
    let mut system = System::spawn().await;
    // Three replicas of their own, with leases long enough that only a shard's move, not a
    // lapse, decides what happens to a session.
    if let Some(single) = system.presence.take() {
        single.stop().await;
    }
    let mut config = presence_config(
        system.friends_addr,
        &system.database,
        "127.0.0.1:0".parse().unwrap(),
    );
    config.lease_ttl = Duration::from_secs(30);
    let (first_addr, first, first_core) = start_presence(&config).await;
    let (second_addr, second, second_core) = start_presence(&config).await;
    let (third_addr, third, third_core) = start_presence(&config).await;
    let addrs = [first_addr, second_addr, third_addr];
    let held = until_shared(&[&first_core, &second_core, &third_core]).await;
    let holder = |user: Uuid| {
        held.iter()
            .position(|shards| shards.contains(&shard(user)))
            .unwrap()
    };
    let client = |index: usize| async move {
        PresenceServiceClient::connect(format!("http://{}", addrs[index]))
            .await
            .unwrap()
    };
    // Two friends held by different replicas.
    let alice = system.user("alice").await;
    let mut bob = system.user("bob").await;
    while holder(bob) == holder(alice) {
        bob = system.user("bob").await;
    }
    system.befriend(alice, bob).await;
    let open = |user: Uuid, at: usize| async move {
        client(at)
            .await
            .open_session(pb::OpenSessionRequest {
                user_id: user.to_string(),
                session_id: format!("phone-{user}"),
                edge_id: "edge-1".into(),
            })
            .await
    };
    let elsewhere = (holder(alice) + 1) % 3;
    let refused = open(alice, elsewhere).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("held by another replica"),
        "{refused:?}"
    );
    open(alice, holder(alice)).await.unwrap();

    // Bob's replica asks alice's what she looks like.
    let seen = client(holder(bob))
        .await
        .get_friends_status(pb::GetFriendsStatusRequest {
            acting_user_id: bob.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .friends;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].status(), pb::Status::Online, "{seen:?}");

    // The edge renews with every replica; each names its shards.
    let renew = |at: usize| async move {
        client(at)
            .await
            .renew_edge_lease(pb::RenewEdgeLeaseRequest {
                edge_id: "edge-1".into(),
                sessions: vec![pb::EdgeSession {
                    session_id: format!("phone-{alice}"),
                    user_id: alice.to_string(),
                }],
            })
            .await
            .map(|answer| answer.into_inner().shards)
    };
    for (at, shards) in held.iter().enumerate() {
        assert_eq!(&renew(at).await.unwrap(), shards);
    }

    // Alice's replica stops: it gives its shards back, and the other two take them.
    let stopping = holder(alice);
    let survivors: Vec<usize> = (0..3).filter(|index| *index != stopping).collect();
    let cores = [first_core, second_core, third_core];
    let mut events = Events::of(client(survivors[0]).await).await;
    let mut processes = [Some(first), Some(second), Some(third)];
    processes[stopping].take().unwrap().stop().await;
    let held = until_shared(&[&cores[survivors[0]], &cores[survivors[1]]]).await;
    let new_holder = survivors[held
        .iter()
        .position(|shards| shards.contains(&shard(alice)))
        .unwrap()];
    // Her new replica registers her session from the edge's last renewal, at once, without
    // an OFFLINE between: a repeated ONLINE at most.
    for _ in 0..50 {
        if cores[new_holder].session_count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        cores[new_holder].session_count(),
        1,
        "rebuilt without a renewal"
    );
    for at in &survivors {
        renew(*at).await.unwrap();
    }
    assert_eq!(cores[new_holder].session_count(), 1);
    let heard = tokio::time::timeout(Duration::from_secs(2), async {
        let mut statuses = Vec::new();
        while let Some(Ok(event)) = events.0.next().await {
            if let Some(Payload::FriendStatusChanged(changed)) = event.payload {
                statuses.push(changed.status());
            }
        }
        statuses
    })
    .await
    .unwrap_or_default();
    assert!(!heard.contains(&pb::Status::Offline), "{heard:?}");
    for process in processes.into_iter().flatten() {
        process.stop().await;
    }
}
