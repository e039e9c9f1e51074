//! The demo web app's browser test (`node examples/web/test/browser.mjs`: the demo's
//! `vite preview` and Debian's Chromium driven by playwright-core, two users who befriend,
//! chat, send an image and call each other) against a real Parley: the stack of built
//! binaries with its control endpoint (support/suite.rs) and coturn, in a network namespace
//! with only `lo` (support/isolation.rs), since Chromium runs real WebRTC.
//!
//! The screenshots of each step go to `target/web-demo-screenshots`, or to `docs/images`
//! with PARLEY_UPDATE_SCREENSHOTS=1.
//!
//! Needs root, coturn, Chromium, and clients/js and examples/web installed and built
//! (`npm ci && npm run build` in each; scripts/test.sh does all of it).

use std::{path::PathBuf, time::SystemTime};

use serde_json::json;

use crate::support::{
    heavy, isolation,
    processes::binary,
    scratch::ScratchDir,
    suite::{Suite, assert_present, repository},
    system::JWT_SECRET,
    turn::Turn,
};

/// Where the screenshots go.
fn screenshots() -> PathBuf {
    if std::env::var_os("PARLEY_UPDATE_SCREENSHOTS").is_some_and(|update| update == "1") {
        return repository().join("docs/images");
    }
    // The target folder of this build: beside the binaries' folder.
    let bin_dir = binary("edge").parent().unwrap().to_owned();
    bin_dir.parent().unwrap().join("web-demo-screenshots")
}

#[tokio::test]
async fn the_demo_works_in_a_real_browser() {
    if !isolation::inside() {
        assert_present(
            &[
                "clients/js/node_modules",
                "clients/js/dist",
                "examples/web/node_modules",
                "examples/web/dist",
            ],
            "run `npm ci && npm run build` in clients/js, then in examples/web (scripts/test.sh does)",
        );
        let _alone = heavy().await;
        return isolation::rerun_isolated("web_demo::the_demo_works_in_a_real_browser").await;
    }
    let turn = Turn::start();
    let suite = Suite::start(Some(&turn)).await;
    let bin_dir = binary("edge").parent().unwrap().display().to_string();
    let shots = screenshots();
    std::fs::create_dir_all(&shots).unwrap();
    let mut plan = suite.plan();
    plan["jwtSecret"] = json!(JWT_SECRET);
    plan["binDir"] = json!(bin_dir);
    plan["screenshots"] = json!(shots);
    // The demo's server mints tokens with `deploy/local.sh token`, which keeps its run folder
    // (and any secret it would make) here rather than in the checkout's deploy/.run.
    let run_dir = ScratchDir::new("web-demo-run");
    let started = SystemTime::now();
    suite
        .run(
            &plan,
            "node",
            &["examples/web/test/browser.mjs"],
            &[
                ("PARLEY_RUN_DIR", run_dir.path().display().to_string()),
                ("PARLEY_LOCAL_TURN", "0".to_owned()),
            ],
        )
        .await;

    let written = std::fs::read_dir(&shots)
        .unwrap()
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "png"))
        .filter(|entry| {
            entry
                .metadata()
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified >= started)
        })
        .count();
    assert!(written > 0, "no screenshot written to {}", shots.display());
}
