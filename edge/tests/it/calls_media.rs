//! Calls with real WebRTC peers (libwebrtc through npm's @roamhq/wrtc, driven by
//! edge/tests/js/calls-*.mjs) and a real TURN server (coturn), on loopback only: each test
//! re-runs itself in a network namespace whose only interface is `lo` (calls_media/isolation.rs).
//!
//! Needs root (for `unshare -n`), Node.js, `npm ci --prefix edge/tests/js` and coturn's
//! `turnserver` (scripts/test.sh installs them).

mod isolation;
mod turn;

use serde_json::{Value, json};

use crate::{official_client::run_script, support::heavy};
use turn::Turn;

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
