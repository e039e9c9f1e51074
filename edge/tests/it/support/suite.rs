//! JavaScript test suites that read a plan from `PARLEY_TEST_PLAN` (the SDK's, the demo's
//! browser test): what they run against (a stack with its control endpoint and the plan's
//! users), and running one as a child process that must exit 0.

use std::{
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use super::{
    control::Control,
    scratch::ScratchDir,
    stack::{Settings, Stack},
    tokens::Person,
    turn::Turn,
};

/// The users of every plan.
const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// Far beyond what a suite takes: it only ends a suite that hangs.
const SUITE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The repository's root.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Fails with `hint` unless every one of `paths` (relative to the repository) exists.
pub fn assert_present(paths: &[&str], hint: &str) {
    for path in paths {
        assert!(
            repository().join(path).exists(),
            "{path} is missing: {hint}"
        );
    }
}

pub struct Suite {
    pub stack: Arc<Stack>,
    pub control: Control,
    pub users: Vec<Person>,
    /// The plan file and the suite's output.
    dir: ScratchDir,
}

impl Suite {
    /// A stack with one edge (calls-svc minting credentials for `turn`, when given), its
    /// control endpoint, and the plan's users: development users, as `edge token` names them.
    pub async fn start(turn: Option<&Turn>) -> Self {
        let stack = Arc::new(Stack::start(Settings { edges: 1, turn }).await);
        let users: Vec<Person> = USERS.map(Person::dev).into();
        let control = Control::start(stack.clone(), users.clone()).await;
        Self {
            stack,
            control,
            users,
            dir: ScratchDir::new("suite"),
        }
    }

    /// `{ edgeUrl, mediaUrl, control, users: { <name>: { id, token } } }`
    pub fn plan(&self) -> Value {
        let users: serde_json::Map<String, Value> = self
            .users
            .iter()
            .map(|person| {
                (
                    person.name.clone(),
                    json!({ "id": person.id, "token": person.token }),
                )
            })
            .collect();
        json!({
            "edgeUrl": self.stack.edges[0],
            "mediaUrl": self.stack.media_url,
            "control": self.control.url,
            "users": users,
        })
    }

    /// Runs `program` with `args` in the repository's root, its environment `env` and
    /// `PARLEY_TEST_PLAN` naming a file that holds `plan`. Fails with what it printed unless
    /// it exits 0, and when a process of the stack exited by itself meanwhile.
    pub async fn run(&self, plan: &Value, program: &str, args: &[&str], env: &[(&str, String)]) {
        let plan_file = self.dir.path().join("plan.json");
        std::fs::write(&plan_file, plan.to_string()).unwrap();
        let (stdout, stderr) = (
            self.dir.path().join("stdout.log"),
            self.dir.path().join("stderr.log"),
        );
        let mut child = Command::new(program)
            .args(args)
            .current_dir(repository())
            .env("PARLEY_TEST_PLAN", &plan_file)
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            // A group of its own, so that what it starts (a server, a browser) ends with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("{program} starts: {error}"));
        let started = Instant::now();
        // Polled, not waited for: this runtime serves the control endpoint meanwhile.
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > SUITE_TIMEOUT {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = child.wait();
        let printed = format!(
            "stdout:\n{}\nstderr:\n{}",
            std::fs::read_to_string(&stdout).unwrap_or_default(),
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        let command = format!("{program} {}", args.join(" "));
        // Shown by the test harness when this test fails.
        println!("{command}\n{printed}");
        match status {
            None => panic!(
                "{command} did not end within {SUITE_TIMEOUT:?} (its output is above); {}",
                self.stack
            ),
            Some(status) => assert!(
                status.success(),
                "{command} failed ({status}; its output is above); {}",
                self.stack
            ),
        }
        let faults = self.stack.faults().await;
        assert!(
            faults.is_empty(),
            "processes of the stack failed: {faults:?}; {}",
            self.stack
        );
    }
}
