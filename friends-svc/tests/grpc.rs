//! friends-svc over real gRPC against a real Postgres: the rules, the internal queries, the
//! graph stream, concurrency and the search index.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use futures_util::StreamExt;
use parley_common::testing::TestDatabase;
use parley_friends_svc::{
    config::{Config, RequestCooldowns},
    startup::Application,
};
use parley_proto::friends::v1::{
    self as pb, friends_service_client::FriendsServiceClient, graph_change::Change,
    send_friend_request_request::Target,
};
use sqlx::{Connection, PgConnection};
use tokio::sync::oneshot;
use tonic::{Code, transport::Channel};
use uuid::Uuid;

struct Service {
    client: FriendsServiceClient<Channel>,
    database: TestDatabase,
    _stop: oneshot::Sender<()>,
}

async fn spawn() -> Service {
    spawn_with(Default::default()).await
}

async fn spawn_with(request_cooldowns: RequestCooldowns) -> Service {
    let database = TestDatabase::create().await;
    let app = Application::build(&Config {
        request_cooldowns,
        ..config(&database)
    })
    .await
    .unwrap();
    let addr = app.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client = FriendsServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    Service {
        client,
        database,
        _stop: stop,
    }
}

fn config(database: &TestDatabase) -> Config {
    Config {
        metrics_addr: None,
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        database: database.args(),
        bus: database.bus(),
        internal: Default::default(),
        request_cooldowns: Default::default(),
    }
}

impl Service {
    fn client(&self) -> FriendsServiceClient<Channel> {
        self.client.clone()
    }

    async fn user(&self, name: &str) -> Uuid {
        let id = Uuid::new_v4();
        self.upsert(id, name, None, None).await;
        id
    }

    /// Records a user as a token with these claims would; returns (stored user, created).
    async fn upsert(
        &self,
        id: Uuid,
        name: &str,
        avatar: Option<&str>,
        issued_at: Option<i64>,
    ) -> (pb::User, bool) {
        let response = self
            .client()
            .upsert_user(pb::UpsertUserRequest {
                id: id.to_string(),
                username: name.to_owned(),
                avatar: avatar.map(str::to_owned),
                issued_at,
            })
            .await
            .unwrap()
            .into_inner();
        (response.user.unwrap(), response.created)
    }

    async fn request(
        &self,
        from: Uuid,
        to: Uuid,
    ) -> Result<pb::SendFriendRequestResponse, tonic::Status> {
        self.client()
            .send_friend_request(pb::SendFriendRequestRequest {
                acting_user_id: from.to_string(),
                target: Some(Target::UserId(to.to_string())),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn accept(&self, me: Uuid, request_id: &str) -> Result<pb::Friend, tonic::Status> {
        self.client()
            .accept_friend_request(pb::AcceptFriendRequestRequest {
                acting_user_id: me.to_string(),
                request_id: request_id.to_owned(),
            })
            .await
            .map(|response| response.into_inner().friend.unwrap())
    }

    async fn befriend(&self, a: Uuid, b: Uuid) {
        let request = self.request(a, b).await.unwrap().request.unwrap();
        self.accept(b, &request.id).await.unwrap();
    }

    async fn are_friends(&self, a: Uuid, b: Uuid) -> bool {
        self.client()
            .are_friends(pb::AreFriendsRequest {
                user_id: a.to_string(),
                other_user_id: b.to_string(),
            })
            .await
            .unwrap()
            .into_inner()
            .are_friends
    }

    async fn is_blocked(&self, a: Uuid, b: Uuid) -> bool {
        self.client()
            .is_blocked(pb::IsBlockedRequest {
                user_id: a.to_string(),
                other_user_id: b.to_string(),
            })
            .await
            .unwrap()
            .into_inner()
            .blocked
    }

    async fn block(&self, me: Uuid, other: Uuid) {
        self.client()
            .block_user(pb::BlockUserRequest {
                acting_user_id: me.to_string(),
                user_id: other.to_string(),
            })
            .await
            .unwrap();
    }

    async fn search(&self, me: Uuid, query: &str) -> Vec<String> {
        self.client()
            .search_users(pb::SearchUsersRequest {
                acting_user_id: me.to_string(),
                query: query.to_owned(),
                limit: None,
            })
            .await
            .unwrap()
            .into_inner()
            .users
            .into_iter()
            .map(|user| user.username)
            .collect()
    }

    async fn db(&self) -> PgConnection {
        PgConnection::connect(&self.database.url).await.unwrap()
    }

    async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&mut self.db().await)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_username_clash_gives_the_newer_user_a_suffix_and_the_name_follows_the_token() {
    let service = spawn().await;
    let avatar = Some("https://example.test/a.png");
    let first = service.user("Alice").await;
    let second = Uuid::new_v4();
    let (clashed, created) = service.upsert(second, "alice", avatar, None).await;
    let suffix: String = second.simple().to_string().chars().take(4).collect();
    assert_eq!(clashed.username, format!("alice-{suffix}"));
    assert!(created);

    // While the plain name is taken, reconnecting changes nothing.
    let (again, created) = service.upsert(second, "alice", avatar, None).await;
    assert_eq!(again.username, clashed.username);
    assert!(!created);

    // The first user takes another name: the second gets the plain name on its next connect.
    let (renamed, _) = service.upsert(first, "Alicia", None, None).await;
    assert_eq!(renamed.username, "Alicia");
    let (user, _) = service.upsert(second, "alice", avatar, None).await;
    assert_eq!(user.username, "alice");
    assert_eq!(user.avatar.as_deref(), avatar);
}

#[tokio::test]
async fn a_new_users_concurrent_first_upserts_all_keep_the_plain_name() {
    // The edge upserts a user on every namespace connect, and a client connects all of them
    // at once: none of those upserts may take the user's own name for someone else's.
    let service = spawn().await;
    for round in 0..40 {
        let id = Uuid::new_v4();
        let name = format!("racer{round}");
        let upserts = (0..8).map(|_| service.upsert(id, &name, None, None));
        let users = futures_util::future::join_all(upserts).await;
        for (user, _) in &users {
            assert_eq!(user.username, name, "round {round}: {users:?}");
        }
    }
}

#[tokio::test]
async fn squatting_every_suffix_of_a_victims_id_still_leaves_the_victim_a_name() {
    let service = spawn().await;
    let victim = Uuid::new_v4();
    let id = victim.simple().to_string();
    for squatted in [
        "bob".to_owned(),
        format!("bob-{}", &id[..4]),
        format!("bob-{}", &id[..8]),
    ] {
        service.user(&squatted).await;
    }
    let (user, _) = service.upsert(victim, "bob", None, None).await;
    assert!(user.username.starts_with("bob-"), "{}", user.username);
    assert_eq!(user.username.len(), "bob-".len() + 12, "a random suffix");
}

#[tokio::test]
async fn an_older_token_does_not_bring_back_an_old_name() {
    let service = spawn().await;
    let id = Uuid::new_v4();
    service.upsert(id, "old-name", None, Some(1_000)).await;
    let (renamed, _) = service.upsert(id, "new-name", None, Some(2_000)).await;
    assert_eq!(renamed.username, "new-name");
    let (still, _) = service.upsert(id, "old-name", None, Some(1_500)).await;
    assert_eq!(
        still.username, "new-name",
        "the token from 1500 is older than the one from 2000"
    );
}

#[tokio::test]
async fn control_characters_are_dropped_from_names_and_an_empty_name_is_refused() {
    let service = spawn().await;
    let (user, _) = service
        .upsert(Uuid::new_v4(), "e\u{7}ve\n", None, None)
        .await;
    assert_eq!(user.username, "eve");
    let refused = service
        .client()
        .upsert_user(pb::UpsertUserRequest {
            id: Uuid::new_v4().to_string(),
            username: "\u{0}\u{1} ".into(),
            avatar: None,
            issued_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn reconnecting_with_the_same_token_writes_nothing() {
    let service = spawn().await;
    let id = service.user("bob").await;
    // xmin names the transaction that wrote the row's current version: any update changes it.
    let version = "SELECT xmin::text FROM friends.users";
    let before: String = sqlx::query_scalar(version)
        .fetch_one(&mut service.db().await)
        .await
        .unwrap();
    for _ in 0..5 {
        service.upsert(id, "bob", None, None).await;
    }
    let after: String = sqlx::query_scalar(version)
        .fetch_one(&mut service.db().await)
        .await
        .unwrap();
    assert_eq!(before, after);
}

#[tokio::test]
async fn concurrent_accepts_make_one_friendship_and_one_success() {
    let service = spawn().await;
    let (alice, bob) = (service.user("alice").await, service.user("bob").await);
    let request = service.request(alice, bob).await.unwrap().request.unwrap();

    let accepts = (0..8).map(|_| {
        let service = &service;
        let id = request.id.clone();
        async move { service.accept(bob, &id).await }
    });
    let outcomes = futures_util::future::join_all(accepts).await;

    let successes = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(successes, 1, "{outcomes:?}");
    for failure in outcomes.iter().filter_map(|outcome| outcome.as_ref().err()) {
        assert_eq!(failure.code(), Code::NotFound);
    }
    assert_eq!(
        service
            .count("SELECT count(*) FROM friends.friendships")
            .await,
        1
    );
    assert_eq!(
        service
            .count("SELECT count(*) FROM friends.friend_requests")
            .await,
        0
    );
}

#[tokio::test]
async fn requests_crossing_each_other_become_one_friendship() {
    let service = spawn().await;
    for round in 0..10 {
        let a = service.user(&format!("a{round}")).await;
        let b = service.user(&format!("b{round}")).await;
        let (ab, ba) = tokio::join!(service.request(a, b), service.request(b, a));
        let accepted = [&ab, &ba]
            .iter()
            .filter(|outcome| {
                outcome
                    .as_ref()
                    .is_ok_and(|response| response.friend.is_some())
            })
            .count();
        assert!(ab.is_ok() && ba.is_ok(), "{ab:?} {ba:?}");
        assert_eq!(accepted, 1, "exactly one of the two accepted the other");
        assert!(service.are_friends(a, b).await);
    }
    assert_eq!(
        service
            .count("SELECT count(*) FROM friends.friendships")
            .await,
        10
    );
    assert_eq!(
        service
            .count("SELECT count(*) FROM friends.friend_requests")
            .await,
        0
    );
}

#[tokio::test]
async fn the_pair_constraints_hold_even_without_the_service() {
    let service = spawn().await;
    let (a, b) = (service.user("a").await, service.user("b").await);
    let mut db = service.db().await;
    let insert =
        "INSERT INTO friends.friend_requests (id, from_user_id, to_user_id) VALUES ($1, $2, $3)";
    sqlx::query(insert)
        .bind(Uuid::new_v4())
        .bind(a)
        .bind(b)
        .execute(&mut db)
        .await
        .unwrap();
    let crossing = sqlx::query(insert)
        .bind(Uuid::new_v4())
        .bind(b)
        .bind(a)
        .execute(&mut db)
        .await;
    assert!(
        crossing.is_err(),
        "a second request between a pair is refused by the index"
    );
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    let reversed =
        sqlx::query("INSERT INTO friends.friendships (user_low, user_high) VALUES ($1, $2)")
            .bind(high)
            .bind(low)
            .execute(&mut db)
            .await;
    assert!(
        reversed.is_err(),
        "friendships are stored in one order only"
    );
}

#[tokio::test]
async fn are_friends_is_blocked_and_friend_ids_answer_other_services() {
    let service = spawn().await;
    let me = service.user("me").await;
    let mut friends = Vec::new();
    for n in 0..5 {
        let friend = service.user(&format!("friend{n}")).await;
        service.befriend(me, friend).await;
        friends.push(friend.to_string());
    }
    let stranger = service.user("stranger").await;
    assert!(
        service
            .are_friends(me, Uuid::parse_str(&friends[0]).unwrap())
            .await
    );
    assert!(!service.are_friends(me, stranger).await);

    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = service
            .client()
            .list_friend_ids(pb::ListFriendIdsRequest {
                user_id: me.to_string(),
                page_size: Some(2),
                page_token: token.take(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.friend_ids.len() <= 2);
        seen.extend(page.friend_ids);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    seen.sort();
    friends.sort();
    assert_eq!(seen, friends);

    service.block(stranger, me).await;
    assert!(service.is_blocked(me, stranger).await, "either direction");
    assert!(service.is_blocked(stranger, me).await);

    let bad = service
        .client()
        .list_friend_ids(pb::ListFriendIdsRequest {
            user_id: me.to_string(),
            page_size: Some(0),
            page_token: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn list_block_ids_tells_chat_whom_a_user_blocked_and_who_blocked_them() {
    let service = spawn().await;
    let (me, rude, ruder, bystander) = (
        service.user("me").await,
        service.user("rude").await,
        service.user("ruder").await,
        service.user("bystander").await,
    );
    service.block(me, rude).await;
    service.block(ruder, me).await;
    service.block(rude, bystander).await;
    let blocks = |user: Uuid| {
        let mut client = service.client();
        async move {
            let answer = client
                .list_block_ids(pb::ListBlockIdsRequest {
                    user_id: user.to_string(),
                })
                .await
                .unwrap()
                .into_inner();
            (answer.blocked_ids, answer.blocker_ids)
        }
    };
    assert_eq!(
        blocks(me).await,
        (vec![rude.to_string()], vec![ruder.to_string()])
    );
    let (blocked, mut blockers) = blocks(rude).await;
    blockers.sort();
    assert_eq!(blocked, vec![bystander.to_string()]);
    assert_eq!(blockers, vec![me.to_string()]);
    let bad = service
        .client()
        .list_block_ids(pb::ListBlockIdsRequest {
            user_id: "nope".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_graph_stream_carries_friendships_and_blocks() {
    let service = spawn().await;
    let mut graph = service
        .client()
        .watch_graph(pb::WatchGraphRequest {
            subscriber_id: "test".into(),
            after_event_id: None,
        })
        .await
        .unwrap()
        .into_inner();
    let (a, b) = (service.user("a").await, service.user("b").await);
    service.befriend(a, b).await;
    service.block(a, b).await;
    service
        .client()
        .unblock_user(pb::UnblockUserRequest {
            acting_user_id: a.to_string(),
            user_id: b.to_string(),
        })
        .await
        .unwrap();

    let mut changes = Vec::new();
    for _ in 0..4 {
        let change = tokio::time::timeout(Duration::from_secs(5), graph.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        changes.push(change);
    }
    // Consecutive ids, from wherever this log's numbering starts.
    let first = changes[0].event_id;
    let ids: Vec<u64> = changes
        .iter()
        .map(|change| change.event_id - first)
        .collect();
    assert_eq!(ids, vec![0, 1, 2, 3]);
    assert!(matches!(
        changes[0].change,
        Some(Change::FriendshipAdded(_))
    ));
    assert!(matches!(
        changes[1].change,
        Some(Change::FriendshipRemoved(_))
    ));
    assert!(
        matches!(&changes[2].change, Some(Change::BlockAdded(block)) if block.blocker_id == a.to_string() && block.blocked_id == b.to_string())
    );
    assert!(matches!(changes[3].change, Some(Change::BlockRemoved(_))));
    assert!(
        !service.are_friends(a, b).await,
        "unblocking restores nothing"
    );
}

#[tokio::test]
async fn search_is_a_case_insensitive_prefix_match_that_hides_blockers() {
    let service = spawn().await;
    let me = service.user("me").await;
    for name in ["Alice", "alfred", "ALBERT", "bob", "al%x"] {
        service.user(name).await;
    }
    assert_eq!(
        service.search(me, "AL").await,
        vec!["al%x", "ALBERT", "alfred", "Alice"]
    );
    assert_eq!(
        service.search(me, "al%").await,
        vec!["al%x"],
        "no wildcard meaning"
    );
    assert_eq!(
        service.search(me, "me").await,
        Vec::<String>::new(),
        "not yourself"
    );

    let blocker = service.user("alvin").await;
    service.block(blocker, me).await;
    assert!(!service.search(me, "al").await.contains(&"alvin".to_owned()));
    assert!(
        service
            .search(blocker, "m")
            .await
            .contains(&"me".to_owned()),
        "the blocker still finds them"
    );

    let too_many = service
        .client()
        .search_users(pb::SearchUsersRequest {
            acting_user_id: me.to_string(),
            query: "a".into(),
            limit: Some(51),
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn search_users_reads_the_username_index_not_the_whole_table() {
    let service = spawn().await;
    let me = service.user("me").await;
    let mut db = service.db().await;
    sqlx::query(
        "INSERT INTO friends.users (id, username, username_key, requested_username)
         SELECT gen_random_uuid(), 'user' || n, 'user' || n, 'user' || n
         FROM generate_series(1, 20000) AS n",
    )
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query("ANALYZE friends.users")
        .execute(&mut db)
        .await
        .unwrap();

    // The statement search-users runs, planned generically as a prepared statement would be.
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut db)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT u.id, u.username, u.avatar FROM friends.users u
         WHERE u.username_key >= 'user12' AND u.username_key < 'user13'
           AND u.id <> $1
           AND NOT EXISTS (
               SELECT 1 FROM friends.blocks b WHERE b.blocker_id = u.id AND b.blocked_id = $1)
         ORDER BY u.username_key LIMIT 20",
    )
    .bind(me)
    .fetch_all(&mut db)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("users_username_key_unique"), "{plan}");
    assert!(!plan.contains("Seq Scan on users"), "{plan}");
}

#[tokio::test]
async fn with_a_service_token_only_callers_that_carry_it_are_served() {
    let database = TestDatabase::create().await;
    let app = Application::build(&Config {
        metrics_addr: None,
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        database: database.args(),
        bus: database.bus(),
        internal: parley_common::config::InternalArgs {
            service_token: Some("internal-secret-of-at-least-32-bytes".into()),
            ..Default::default()
        },
        request_cooldowns: Default::default(),
    })
    .await
    .unwrap();
    let url = format!("http://{}", app.local_addr().unwrap());
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let lookup = || pb::GetUsersRequest {
        user_ids: vec![Uuid::new_v4().to_string()],
    };

    let mut stranger = FriendsServiceClient::connect(url.clone()).await.unwrap();
    let refused = stranger.get_users(lookup()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    let token =
        |token: &str| parley_common::service_token::ServiceToken::from_config(Some(token)).unwrap();
    let mut wrong =
        parley_common::friends::client(&url, token("a-guess-that-is-long-enough-to-pass")).unwrap();
    let refused = wrong.get_users(lookup()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    let mut ours =
        parley_common::friends::client(&url, token("internal-secret-of-at-least-32-bytes"))
            .unwrap();
    assert!(
        ours.get_users(lookup())
            .await
            .unwrap()
            .into_inner()
            .users
            .is_empty()
    );

    // Probes need no secret.
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        Channel::from_shared(url).unwrap().connect().await.unwrap(),
    );
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}

#[tokio::test]
async fn a_token_picture_that_is_a_script_or_a_megabyte_is_no_avatar() {
    let service = spawn().await;
    let huge = format!("https://cdn.test/{}", "a".repeat(1 << 20));
    for picture in [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>",
        &huge,
    ] {
        let (user, _) = service
            .upsert(Uuid::new_v4(), "mallory", Some(picture), None)
            .await;
        assert_eq!(user.avatar, None, "{}", &picture[..picture.len().min(40)]);
    }
    let (user, _) = service
        .upsert(
            Uuid::new_v4(),
            "alice",
            Some("https://cdn.test/alice.png"),
            None,
        )
        .await;
    assert_eq!(user.avatar.as_deref(), Some("https://cdn.test/alice.png"));
}

// --- usernames that look alike (docs/decisions/0008-friends-hardening.md) ---

/// The first four hex digits of `id`: the suffix a clashing name gets first.
fn short_suffix(id: Uuid) -> String {
    id.simple().to_string().chars().take(4).collect()
}

#[tokio::test]
async fn look_alike_usernames_cannot_be_held_by_a_second_user() {
    let service = spawn().await;
    service.user("alice").await;
    for (asked, shown) in [
        // A zero-width space is dropped, which leaves the held name itself.
        ("alice\u{200B}", "alice"),
        // Cyrillic а (U+0430) for the Latin a.
        ("\u{0430}lice", "\u{0430}lice"),
        // Full-width letters.
        ("ａｌｉｃｅ", "ａｌｉｃｅ"),
        ("ALICE", "ALICE"),
        // The digit one for the letter l.
        ("a1ice", "a1ice"),
    ] {
        let impostor = Uuid::new_v4();
        let (user, _) = service.upsert(impostor, asked, None, None).await;
        assert_eq!(
            user.username,
            format!("{shown}-{}", short_suffix(impostor)),
            "{asked:?} looks like alice"
        );
    }
    // Full case folding: ß folds to ss, so Straße and STRASSE are one name.
    service.user("Straße").await;
    let late = Uuid::new_v4();
    let (user, _) = service.upsert(late, "STRASSE", None, None).await;
    assert_eq!(user.username, format!("STRASSE-{}", short_suffix(late)));
}

#[tokio::test]
async fn bidi_overrides_and_invisible_characters_are_dropped_from_names_but_emoji_keep_their_joiners()
 {
    let service = spawn().await;
    for (asked, shown) in [
        // "evil" with a right-to-left override and an isolate around it.
        ("\u{202E}evil\u{2066}", "evil"),
        ("b\u{200D}o\u{2060}b\u{FEFF}", "bob"),
        ("car\u{00AD}ol\u{FE0F}", "carol"),
        // A family emoji is three emoji joined by ZWJ; a heart keeps its emoji selector.
        (
            "dan \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
            "dan \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
        ),
        ("\u{2764}\u{FE0F} erin", "\u{2764}\u{FE0F} erin"),
    ] {
        let (user, _) = service.upsert(Uuid::new_v4(), asked, None, None).await;
        assert_eq!(user.username, shown, "{asked:?}");
    }
    let nothing_visible = service
        .client()
        .upsert_user(pb::UpsertUserRequest {
            id: Uuid::new_v4().to_string(),
            username: "\u{200B}\u{202E}\u{2060}".into(),
            avatar: None,
            issued_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(nothing_visible.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn search_and_requests_by_username_match_the_folded_form() {
    let service = spawn().await;
    let me = service.user("me").await;
    let street = service.user("Straße").await;
    service.user("ｆｕｌｌ").await;
    assert_eq!(service.search(me, "STRASS").await, vec!["Straße"]);
    assert_eq!(service.search(me, "full").await, vec!["ｆｕｌｌ"]);
    let sent = service
        .client()
        .send_friend_request(pb::SendFriendRequestRequest {
            acting_user_id: me.to_string(),
            target: Some(Target::Username("STRASSE".into())),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        sent.request.unwrap().to_user.unwrap().id,
        street.to_string()
    );
}

#[tokio::test]
async fn look_alike_users_stored_before_the_skeleton_key_are_told_apart_at_start() {
    let service = spawn().await;
    let (holder, impostor, plain) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    // Rows as the previous version stored them: lowercased keys only, the older one first.
    for (id, name, age) in [
        (holder, "Alice", "2 days"),
        (impostor, "\u{0430}lice", "1 day"),
        (plain, "b\u{202E}ob", "1 hour"),
    ] {
        sqlx::query(
            "INSERT INTO friends.users
                 (id, username, username_key, requested_username, created_at)
             VALUES ($1, $2, lower($2), $2, now() - $3::interval)",
        )
        .bind(id)
        .bind(name)
        .bind(age)
        .execute(&mut service.db().await)
        .await
        .unwrap();
    }
    // A replica of the new version starts on the same database: it backfills the keys
    // before it serves.
    drop(
        Application::build(&config(&service.database))
            .await
            .unwrap(),
    );
    let (user, _) = service.upsert(Uuid::new_v4(), "alice", None, None).await;
    assert!(user.username.starts_with("alice-"), "{}", user.username);
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, username FROM friends.users WHERE username_skeleton IS NOT NULL",
    )
    .fetch_all(&mut service.db().await)
    .await
    .unwrap();
    let name_of = |id: Uuid| rows.iter().find(|row| row.0 == id).map(|row| row.1.clone());
    assert_eq!(
        name_of(holder).as_deref(),
        Some("Alice"),
        "the older one keeps it"
    );
    assert_eq!(
        name_of(impostor),
        Some(format!("\u{0430}lice-{}", short_suffix(impostor)))
    );
    assert_eq!(
        name_of(plain).as_deref(),
        Some("bob"),
        "the override is gone"
    );
    assert_eq!(
        service
            .count("SELECT count(*) FROM friends.users WHERE username_skeleton IS NULL")
            .await,
        0
    );
}

// --- request cooldowns ---

#[tokio::test]
async fn a_cooldown_runs_out_and_a_zero_one_is_none() {
    let service = spawn_with(RequestCooldowns {
        declined: Duration::from_millis(300),
        cancelled: Duration::ZERO,
    })
    .await;
    let (alice, bob) = (service.user("alice").await, service.user("bob").await);
    let cancel = |request: String| {
        let mut client = service.client();
        async move {
            client
                .cancel_friend_request(pb::CancelFriendRequestRequest {
                    acting_user_id: alice.to_string(),
                    request_id: request,
                })
                .await
                .unwrap();
        }
    };
    let first = service.request(alice, bob).await.unwrap().request.unwrap();
    cancel(first.id).await;
    let second = service.request(alice, bob).await.unwrap().request.unwrap();
    service
        .client()
        .decline_friend_request(pb::DeclineFriendRequestRequest {
            acting_user_id: bob.to_string(),
            request_id: second.id,
        })
        .await
        .unwrap();

    let refused = service.request(alice, bob).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    let retry_after: u64 = refused
        .metadata()
        .get(parley_common::error::RETRY_AFTER_MS)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    tokio::time::sleep(Duration::from_millis(retry_after + 50)).await;
    service.request(alice, bob).await.unwrap();
}

/// friends-svc's configuration for `listen_addr` with `internal`.
fn config_on(
    listen_addr: &str,
    database: &TestDatabase,
    internal: parley_common::config::InternalArgs,
) -> Config {
    Config {
        metrics_addr: None,
        listen_addr: listen_addr.parse().unwrap(),
        database: database.args(),
        bus: database.bus(),
        internal,
        request_cooldowns: Default::default(),
    }
}

#[tokio::test]
async fn a_service_on_every_interface_without_a_service_token_refuses_to_start() {
    let database = TestDatabase::create().await;
    let refused = Application::build(&config_on("0.0.0.0:0", &database, Default::default()))
        .await
        .err()
        .expect("refused");
    let message = refused.to_string();
    assert!(
        message.starts_with("refusing to serve gRPC on 0.0.0.0:0 (set by PARLEY_FRIENDS_ADDR)"),
        "{message}"
    );
    assert!(
        message.contains("PARLEY_ALLOW_UNAUTHENTICATED_GRPC=true"),
        "{message}"
    );
    assert!(!message.contains('\n'), "one line: {message}");

    // Allowed explicitly, it starts and serves.
    let allowed = parley_common::config::InternalArgs {
        allow_unauthenticated_grpc: true,
        ..Default::default()
    };
    let app = Application::build(&config_on("0.0.0.0:0", &database, allowed))
        .await
        .unwrap();
    let port = app.local_addr().unwrap().port();
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let mut client = FriendsServiceClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    let users = client
        .get_users(pb::GetUsersRequest {
            user_ids: vec![Uuid::new_v4().to_string()],
        })
        .await
        .unwrap();
    assert!(users.into_inner().users.is_empty());
}
