//! Calls with real WebRTC peers (libwebrtc through npm's @roamhq/wrtc, driven by
//! edge/tests/js/calls-*.mjs) and a real TURN server (coturn), on loopback only: each test
//! re-runs itself in a network namespace whose only interface is `lo` (support/isolation.rs).
//!
//! Needs root (for `unshare -n`), Node.js, `npm ci --prefix edge/tests/js` and coturn's
//! `turnserver` (scripts/test.sh installs them).

use serde_json::{Value, json};

use crate::{
    official_client::run_script,
    support::{
        heavy, isolation,
        stack::{Settings, Stack},
        tokens::Person,
        turn::Turn,
    },
};

/// What gives signaling away in a log: SDP lines and ICE candidates (docs/API.md "/calls":
/// neither is ever logged).
const SIGNALING_MARKERS: [&str; 5] = [
    "a=ice-ufrag",
    "a=fingerprint",
    " typ host",
    " typ relay",
    "candidate:",
];

fn person(person: &Person) -> Value {
    json!({ "id": person.id, "token": person.token })
}

/// Runs edge/tests/js/calls-flow.mjs's `scenarios` against `stack`, each with a pair of new
/// users, and returns its report once every scenario passed its own checks.
async fn run_flow(stack: &Stack, scenarios: &[&str]) -> (Value, Vec<(Person, Person)>) {
    // Usernames are unique: each pair has its own.
    let pairs: Vec<_> = (0..scenarios.len())
        .map(|k| {
            (
                Person::new(&format!("alice{k}")),
                Person::new(&format!("bob{k}")),
            )
        })
        .collect();
    let users: serde_json::Map<String, Value> = scenarios
        .iter()
        .zip(&pairs)
        .map(|(name, (a, b))| {
            (
                (*name).to_owned(),
                json!({ "a": person(a), "b": person(b) }),
            )
        })
        .collect();
    let plan = json!({
        "edges": stack.edges,
        "edgePids": stack.edge_pids().await,
        "scenarios": scenarios,
        "users": users,
    });
    let report = run_script("calls-flow.mjs", plan).await;
    // Shown when the test fails, whichever assertion it is.
    println!("calls-flow.mjs report: {report:#}");
    assert!(
        report["failure"].is_null(),
        "the flow stopped: {}\nreport so far: {report:#}\n{stack}",
        report["failure"].as_str().unwrap_or_default()
    );
    (report, pairs)
}

/// No process logged any SDP or candidate.
fn assert_no_signaling_logged(stack: &Stack) {
    for (name, log) in stack.logs() {
        for marker in SIGNALING_MARKERS {
            assert!(
                !log.contains(marker),
                "{name} logged signaling ({marker:?}); {stack}"
            );
        }
    }
}

/// The one CALL message of the scenario's call, with `outcome`.
fn assert_one_call_message<'a>(report: &'a Value, outcome: &str) -> &'a Value {
    let messages = report["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "exactly one CALL message: {report:#}");
    let call = &messages[0]["call"];
    assert_eq!(call["outcome"], outcome, "{report:#}");
    call
}

/// The report's peers, each: connected, a ping answered both ways, 30 frames decoded.
fn assert_media_flowed(report: &Value, peers: &[&str]) {
    assert!(report["failure"].is_null(), "{report:#}");
    for peer in peers {
        let peer = &report[peer];
        assert_eq!(peer["connectionState"], "connected", "{peer}");
        assert!(peer["framesDecoded"].as_u64().unwrap() >= 30, "{peer}");
        let messages = peer["messages"].as_array().unwrap();
        assert!(
            messages
                .iter()
                .any(|m| m.as_str().unwrap().starts_with("ping ")),
            "{peer}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.as_str().unwrap().starts_with("pong ")),
            "{peer}"
        );
    }
}

/// The machine can do what the tests through Parley need, with no Parley part involved:
/// two peers in one Node process, host candidates on loopback; then relay-only through
/// coturn with a credential made from its secret; then a tampered credential, refused.
#[tokio::test]
async fn two_local_peers_connect_on_loopback_directly_and_through_coturn() {
    if !isolation::inside() {
        let _alone = heavy().await;
        return isolation::rerun_isolated(
            "calls_media::two_local_peers_connect_on_loopback_directly_and_through_coturn",
        )
        .await;
    }

    let direct = run_script("calls-peers-local.mjs", json!({})).await;
    assert_media_flowed(&direct, &["caller", "callee"]);
    for peer in ["caller", "callee"] {
        assert_eq!(direct[peer]["selectedPair"]["local"], "host", "{direct}");
        assert_eq!(direct[peer]["gathered"], json!(["host"]), "{direct}");
    }

    let turn = Turn::start();
    let relayed = run_script(
        "calls-peers-local.mjs",
        json!({ "relayOnly": true, "turn": { "urls": turn.urls(), "secret": turn.secret } }),
    )
    .await;
    assert_media_flowed(&relayed, &["caller", "callee"]);
    for peer in ["caller", "callee"] {
        assert_eq!(
            relayed[peer]["selectedPair"],
            json!({ "local": "relay", "remote": "relay" }),
            "{relayed}"
        );
    }

    let tampered = run_script(
        "calls-peers-local.mjs",
        json!({
            "relayOnly": true,
            "connectMs": 4000,
            "turn": { "urls": turn.urls(), "secret": turn.secret, "tamper": true },
        }),
    )
    .await;
    assert!(
        tampered["failure"]
            .as_str()
            .unwrap_or_default()
            .contains("ICE connected"),
        "{tampered}"
    );
    for peer in ["caller", "callee"] {
        assert_eq!(
            tampered[peer]["gathered"],
            json!([]),
            "no relay without a valid credential: {tampered}"
        );
        assert_eq!(tampered[peer]["framesDecoded"], 0, "{tampered}");
    }
    assert!(
        turn.log().contains("Cannot find credentials of user"),
        "coturn refused the tampered credential: {}",
        turn.log()
    );
}

/// Scenarios 1 to 3 of issue 17 through the real edge, calls-svc and coturn: a call answered
/// on one of two devices with media both ways; the same relay-only with issued TURN
/// credentials; a tampered credential that coturn refuses.
#[tokio::test]
async fn real_peers_call_through_the_edge_directly_relayed_and_with_a_tampered_credential() {
    if !isolation::inside() {
        let _alone = heavy().await;
        return isolation::rerun_isolated(
            "calls_media::real_peers_call_through_the_edge_directly_relayed_and_with_a_tampered_credential",
        )
        .await;
    }
    let turn = Turn::start();
    let stack = Stack::start(Settings {
        edges: 1,
        turn: Some(&turn),
    })
    .await;
    let (report, pairs) = run_flow(&stack, &["two-devices", "relay", "tampered"]).await;

    // 1. Both of bob's devices rang; the laptop answered and the phone was dismissed.
    let direct = &report["two-devices"];
    let (alice, bob) = &pairs[0];
    assert_eq!(direct["invite"]["state"], "RINGING", "{direct:#}");
    for incoming in direct["incoming"].as_array().unwrap() {
        assert_eq!(incoming["call"]["state"], "RINGING", "{direct:#}");
        assert_eq!(incoming["hasOffer"], true, "{direct:#}");
        let left = incoming["ringRemainingMs"].as_u64().unwrap();
        assert!(left > 50_000 && left <= 60_000, "{direct:#}");
    }
    assert_eq!(
        direct["dismissed"]["reason"], "ANSWERED_ELSEWHERE",
        "{direct:#}"
    );
    assert_eq!(
        direct["answeredBy"],
        json!({ "userId": bob.id, "deviceId": "b-laptop" }),
        "{direct:#}"
    );
    assert_eq!(
        direct["invite"]["caller"]["userId"],
        alice.id.to_string(),
        "{direct:#}"
    );
    // The caller's candidates sent while it rang came back in the accept's ack, and they
    // alone got ICE going on the answering device.
    let sent = direct["callerCandidatesSent"].as_u64().unwrap();
    assert!(sent >= 1, "{direct:#}");
    assert_eq!(direct["accept"]["candidates"], sent, "{direct:#}");
    assert_eq!(
        direct["accept"]["call"]["state"], "CONNECTING",
        "{direct:#}"
    );
    assert_eq!(direct["connected"]["state"], "ACTIVE", "{direct:#}");
    assert_eq!(direct["updatedOnCallee"]["state"], "ACTIVE", "{direct:#}");
    assert_media_flowed(direct, &["caller", "callee"]);
    for peer in ["caller", "callee"] {
        assert_eq!(direct[peer]["selectedPair"]["local"], "host", "{direct:#}");
    }
    assert_eq!(direct["hangup"]["state"], "ENDED", "{direct:#}");
    assert_eq!(direct["hangup"]["endReason"], "HANGUP", "{direct:#}");
    assert_eq!(direct["endedOnCallee"]["endReason"], "HANGUP", "{direct:#}");
    let call = assert_one_call_message(direct, "ANSWERED");
    assert!(call["durationMs"].as_u64().unwrap() > 0, "{direct:#}");
    assert_eq!(call["callId"], direct["invite"]["id"], "{direct:#}");

    // 2. Relay-only through coturn, with the credentials get-ice-servers issued.
    let relayed = &report["relay"];
    let (alice, _) = &pairs[1];
    let servers = relayed["iceServers"].as_array().unwrap();
    let turn_server = servers
        .iter()
        .find(|server| server["hasCredential"] == true)
        .unwrap_or_else(|| panic!("a TURN server with credentials: {relayed:#}"));
    let username = turn_server["username"].as_str().unwrap();
    assert!(
        username.ends_with(&format!(":{}", alice.id)),
        "a TURN REST username `<expiry>:<userId>`: {username}"
    );
    assert_media_flowed(relayed, &["caller", "callee"]);
    for peer in ["caller", "callee"] {
        assert_eq!(
            relayed[peer]["selectedPair"],
            json!({ "local": "relay", "remote": "relay" }),
            "{relayed:#}"
        );
        assert_eq!(relayed[peer]["gathered"], json!(["relay"]), "{relayed:#}");
    }
    assert_one_call_message(relayed, "ANSWERED");

    // 3. A tampered credential: coturn allocates nothing, ICE never connects, the caller
    // hangs up ICE_FAILED.
    let tampered = &report["tampered"];
    assert!(
        tampered["tamperedServers"].as_u64().unwrap() >= 1,
        "{tampered:#}"
    );
    assert_eq!(tampered["connected"], false, "{tampered:#}");
    assert_eq!(
        tampered["caller"]["gathered"],
        json!([]),
        "no relay candidate: {tampered:#}"
    );
    assert_ne!(
        tampered["caller"]["connectionState"], "connected",
        "{tampered:#}"
    );
    assert_eq!(tampered["caller"]["framesDecoded"], 0, "{tampered:#}");
    assert_eq!(tampered["callee"]["framesDecoded"], 0, "{tampered:#}");
    assert_eq!(
        tampered["hangup"]["endReason"], "ICE_FAILED",
        "{tampered:#}"
    );
    assert_eq!(
        tampered["endedOnCallee"]["endReason"], "ICE_FAILED",
        "{tampered:#}"
    );
    let call = assert_one_call_message(tampered, "FAILED");
    assert_eq!(call["endReason"], "ICE_FAILED", "{tampered:#}");
    assert!(
        turn.log().contains("Cannot find credentials of user"),
        "coturn refused the tampered credential: {}",
        turn.log()
    );

    assert_no_signaling_logged(&stack);
}

/// Scenarios 4 and 5 of issue 17, faults of real processes: the ringing caller's Node
/// process is killed with SIGKILL; the callee's edge is killed with SIGKILL mid-call and the
/// callee resumes on another edge while the media keeps flowing.
#[tokio::test]
async fn calls_survive_a_killed_caller_and_a_killed_edge() {
    if !isolation::inside() {
        let _alone = heavy().await;
        return isolation::rerun_isolated(
            "calls_media::calls_survive_a_killed_caller_and_a_killed_edge",
        )
        .await;
    }
    let turn = Turn::start();
    let stack = Stack::start(Settings {
        edges: 3,
        turn: Some(&turn),
    })
    .await;
    let (report, _pairs) = run_flow(&stack, &["caller-killed", "edge-killed"]).await;

    // 4. Both ringing devices hear CANCELED within the caller grace (10 s) and a sweep.
    let killed = &report["caller-killed"];
    assert_eq!(
        killed["ringing"],
        json!(["RINGING", "RINGING"]),
        "{killed:#}"
    );
    for (after, ended) in killed["endedAfterMs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(killed["ended"].as_array().unwrap())
    {
        assert_eq!(ended["endReason"], "CANCELED", "{killed:#}");
        assert!(
            after.as_u64().unwrap() <= 12_000,
            "CANCELED at the 10 s caller grace (2 s slack for a loaded machine): {killed:#}"
        );
    }
    assert_one_call_message(killed, "CANCELED");
    assert_eq!(
        killed["unreadForCallee"], 1,
        "a missed call is unread: {killed:#}"
    );

    // 5. Frames kept coming while bob's edge was dead; bob resumed on another edge.
    let edge = &report["edge-killed"];
    let (at_kill, later) = (
        edge["framesAtKill"].as_u64().unwrap(),
        edge["framesTwoSecondsLater"].as_u64().unwrap(),
    );
    assert!(
        later >= at_kill + 20,
        "media flows without signaling: {edge:#}"
    );
    assert!(
        edge["resumedAfterMs"].as_u64().unwrap() <= 30_000,
        "{edge:#}"
    );
    assert_eq!(edge["resumed"]["call"]["state"], "ACTIVE", "{edge:#}");
    for side in ["caller", "callee"] {
        let calls = edge["afterResume"][side].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{edge:#}");
        assert_eq!(calls[0]["state"], "ACTIVE", "{edge:#}");
    }
    assert_media_flowed(edge, &["caller", "callee"]);
    assert_eq!(edge["hangup"]["endReason"], "HANGUP", "{edge:#}");
    assert_eq!(edge["endedOnCallee"]["endReason"], "HANGUP", "{edge:#}");
    assert_one_call_message(edge, "ANSWERED");

    assert_no_signaling_logged(&stack);
}
