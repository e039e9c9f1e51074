//! The official socket.io-client (npm, v4) against the edge: what real apps use.
//!
//! Needs Node.js and `npm ci --prefix edge/tests/js` (the README's test command does it).

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
};

use parley_edge::NAMESPACES;
use serde_json::{Value, json};

use crate::support::{
    TestSystem,
    acks::befriend,
    tokens::{Person, bad_tokens, claims, hs256},
};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Runs `script` (in edge/tests/js) with `plan` on stdin; returns its report.
pub async fn run_script(script: &'static str, plan: Value) -> Value {
    assert!(
        js_dir().join("node_modules/socket.io-client").exists(),
        "socket.io-client is not installed: run `npm ci --prefix edge/tests/js`"
    );
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new("node")
            .arg(js_dir().join(script))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node is installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(plan.to_string().as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{script} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("a JSON report")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_official_client_connects_with_a_valid_token_and_is_refused_with_a_bad_one() {
    let system = TestSystem::spawn().await;
    let bad: Vec<Value> = bad_tokens()
        .into_iter()
        .map(|(reason, token)| json!({ "reason": reason, "token": token }))
        .collect();
    let plan = json!({
        "url": system.edge_url(),
        "namespaces": NAMESPACES,
        "validToken": hs256(&claims("alice")),
        "badTokens": bad,
    });

    let report = run_script("conformance.mjs", plan).await;

    let valid = report["valid"].as_array().unwrap();
    assert_eq!(valid.len(), NAMESPACES.len() * 2, "{report}");
    for connection in valid {
        assert_eq!(connection["outcome"], "connected", "{connection}");
        assert_eq!(connection["ack"]["ok"], json!(false), "{connection}");
        assert_eq!(
            connection["ack"]["error"]["code"], "INVALID_ARGUMENT",
            "{connection}"
        );
        assert_eq!(
            connection["errorEvent"]["event"], "no-such-event",
            "{connection}"
        );
        assert_eq!(
            connection["errorEvent"]["code"], "INVALID_ARGUMENT",
            "{connection}"
        );
        assert_eq!(connection["stillConnected"], json!(true), "{connection}");
    }
    let refused = report["refused"].as_array().unwrap();
    assert_eq!(refused.len(), NAMESPACES.len() * bad_tokens().len());
    for connection in refused {
        assert_eq!(
            connection["outcome"], "connect_error:UNAUTHENTICATED",
            "{connection}"
        );
    }
}

#[tokio::test]
async fn two_people_on_the_official_client_become_friends_then_block_and_unblock() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let plan = json!({
        "url": system.edge_url(),
        "alice": { "id": alice.id, "token": alice.token },
        "bob": { "id": bob.id, "token": bob.token },
    });

    let report = run_script("friends-flow.mjs", plan).await;

    let ok = |name: &str| {
        assert_eq!(report[name]["ok"], json!(true), "{name}: {}", report[name]);
        report[name]["data"].clone()
    };
    assert_eq!(ok("search")["users"][0]["id"], json!(bob.id));
    let request_id = ok("sent")["request"]["id"].clone();
    assert_eq!(report["received"]["request"]["id"], request_id);
    assert_eq!(ok("accept")["friend"]["user"]["id"], json!(alice.id));
    assert_eq!(
        report["acceptedEvent"]["friend"]["user"]["id"],
        json!(bob.id)
    );
    assert_eq!(ok("aliceFriends")["friends"][0]["user"]["username"], "bob");
    assert_eq!(ok("bobFriends")["friends"][0]["user"]["username"], "alice");
    ok("block");
    assert_eq!(report["removedEvent"]["userId"], json!(alice.id));
    assert_eq!(
        report["blockedRequest"]["error"]["code"],
        "PERMISSION_DENIED"
    );
    assert_eq!(ok("blockedSearch")["users"], json!([]));
    assert_eq!(ok("listBlocked")["users"][0]["id"], json!(bob.id));
    ok("unblock");
    assert_eq!(ok("friendsAfterUnblock")["friends"], json!([]));
}

#[tokio::test]
async fn on_the_official_client_friends_see_each_status_change_once_and_strangers_nothing() {
    let system = TestSystem::spawn().await;
    let (alice, bob, carol) = (
        Person::new("alice"),
        Person::new("bob"),
        Person::new("carol"),
    );
    befriend(&system, &alice, &bob).await;
    let plan = json!({
        "url": system.edge_url(),
        "alice": { "token": alice.token },
        "bob": { "token": bob.token },
        "carol": { "token": carol.token },
        // Longer than the test system's grace period (300 ms).
        "settleMs": 400,
    });

    let report = run_script("status-flow.mjs", plan).await;

    let seen: Vec<(&str, &str)> = report["seenByBob"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            (
                event["userId"].as_str().unwrap(),
                event["status"].as_str().unwrap(),
            )
        })
        .collect();
    let alice_id = alice.id.to_string();
    let expected: Vec<(&str, &str)> = ["ONLINE", "AWAY", "OFFLINE", "ONLINE", "OFFLINE"]
        .into_iter()
        .map(|status| (alice_id.as_str(), status))
        .collect();
    assert_eq!(
        seen, expected,
        "two devices, one event per change: {report}"
    );
    let last = report["seenByBob"].as_array().unwrap().last().unwrap();
    assert!(last["lastSeen"].as_str().unwrap().ends_with('Z'));
    for ack in report["acks"].as_array().unwrap() {
        assert_eq!(ack["ok"], json!(true), "{ack}");
    }
    assert_eq!(report["bobList"]["data"][0]["status"], "OFFLINE");
    assert_eq!(report["seenByCarol"], json!([]), "the stranger saw nothing");
    assert_eq!(report["carolList"]["data"], json!([]));
}

#[tokio::test]
async fn three_people_on_the_official_client_chat_in_a_group_and_directly() {
    let system = TestSystem::spawn().await;
    let people: Vec<Person> = ["alice", "bob", "carol", "eve"].map(Person::new).into();
    let mut plan = json!({ "url": system.edge_url() });
    for person in &people {
        plan[person.name.as_str()] = json!({ "id": person.id, "token": person.token });
    }

    let report = run_script("chat-flow.mjs", plan).await;

    let ok = |name: &str| {
        assert_eq!(report[name]["ok"], json!(true), "{name}: {}", report[name]);
        report[name]["data"].clone()
    };
    let room = ok("create")["room"].clone();
    assert_eq!(report["created"]["room"]["id"], room["id"]);
    let seqs: Vec<u64> = report["sends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ack| ack["data"]["message"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    assert_eq!(report["received"]["bob"], json!([1, 2, 3, 4]));
    assert_eq!(report["received"]["carol"], json!([1, 2, 3, 4]));
    let page = |name: &str| -> Vec<u64> {
        ok(name)["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(page("history"), vec![4, 3]);
    assert_eq!(page("older"), vec![2, 1]);
    // Bob's own message (seq 2) moved his read pointer there: 3 and 4 are unread.
    assert_eq!(report["unreadBefore"], json!(2));
    assert_eq!(ok("markRead")["unreadCount"], json!(0));
    assert_eq!(report["readEvent"]["userId"], json!(people[1].id));
    assert_eq!(report["unreadAfter"], json!(0));
    assert_eq!(report["typing"]["userId"], json!(people[2].id));
    assert_eq!(report["typing"]["isTyping"], json!(true));
    assert_eq!(ok("edit")["message"]["content"], "hi everyone");
    assert_eq!(report["updated"]["message"]["content"], "hi everyone");
    ok("delete");
    assert_eq!(report["deleted"]["roomId"], room["id"]);
    let dm = ok("dm")["message"].clone();
    assert_eq!(report["dmReceived"]["id"], dm["id"]);
    assert_eq!(report["dmOtherDevice"]["id"], dm["id"]);
    let synced = &ok("sync")["rooms"][0];
    let missed: Vec<&str> = synced["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    // The deleted fourth message is a tombstone (no content); then what came while away.
    assert_eq!(missed, vec!["", "while you were away"]);
    assert_eq!(report["eveSend"]["error"]["code"], "PERMISSION_DENIED");
    assert_eq!(report["eveHistory"]["error"]["code"], "PERMISSION_DENIED");
}
