//! The SDK's own tests (`npm test --prefix clients/js`: node --test against the built dist,
//! with the official socket.io-client) against a real Parley: the stack of built binaries
//! with its control endpoint (support/suite.rs), which kills the edge or chat-svc and mints
//! tokens, and coturn for calls. Re-run in a network namespace with only `lo`
//! (support/isolation.rs), since the SDK's call tests may run real WebRTC peers.
//!
//! Needs root, coturn, and clients/js installed and built (`npm ci && npm run build` there;
//! scripts/test.sh does all of it).

use crate::support::{
    heavy, isolation,
    suite::{Suite, assert_present},
    turn::Turn,
};

#[tokio::test]
async fn the_sdk_suite_passes_against_a_real_parley() {
    if !isolation::inside() {
        assert_present(
            &["clients/js/node_modules", "clients/js/dist"],
            "run `npm ci && npm run build` in clients/js (scripts/test.sh does)",
        );
        let _alone = heavy().await;
        return isolation::rerun_isolated("sdk_client::the_sdk_suite_passes_against_a_real_parley")
            .await;
    }
    let turn = Turn::start();
    let suite = Suite::start(Some(&turn)).await;
    suite
        .run(
            &suite.plan(),
            "npm",
            &["test", "--prefix", "clients/js"],
            // npm would look for a newer npm on the registry, which no test may reach.
            &[("npm_config_update_notifier", "false".to_owned())],
        )
        .await;
}
