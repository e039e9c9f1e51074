//! One Parley binary as a child process that can be killed with SIGKILL and started again at
//! once on the same address with the same settings, as a supervisor would restart it.

use std::{
    io::Write,
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use super::processes::binary;

/// How to start it, kept for every restart.
pub struct Spec {
    /// The binary's name in the workspace (`edge`, `chat-svc`, ...).
    pub binary: &'static str,
    /// Its settings, on top of the test's environment.
    pub env: Vec<(&'static str, String)>,
    /// Where it listens: it serves once this accepts connections.
    pub addr: SocketAddr,
    /// Every start appends to it, so the log of a killed process is kept.
    pub log: PathBuf,
}

pub struct Supervised {
    spec: Spec,
    child: Child,
    /// Every start of it but the first, by [`Supervised::restart`].
    pub restarts: u32,
    /// Why the last restart failed, if it did.
    failure: Option<String>,
}

impl Supervised {
    pub fn start(spec: Spec) -> Self {
        let child = spawn(&spec);
        Self {
            spec,
            child,
            restarts: 0,
            failure: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it with SIGKILL and returns its PID once it is gone (its sockets closed).
    pub fn kill(&mut self) -> u32 {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        note(
            &self.spec,
            &format!("--- killed with SIGKILL (pid {pid}) ---"),
        );
        pid
    }

    /// Starts it again after [`Supervised::kill`] and returns once it listens. A start that
    /// exits before it listens (its port not free yet) is tried again, as a supervisor would;
    /// one that neither listens nor exits within 10 s is a fault ([`Supervised::fault`]).
    pub async fn restart(&mut self) {
        self.restarts += 1;
        for _ in 0..100 {
            self.child = spawn(&self.spec);
            for _ in 0..100 {
                if TcpStream::connect(self.spec.addr).is_ok() {
                    return;
                }
                if !matches!(self.child.try_wait(), Ok(None)) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            note(
                &self.spec,
                "--- exited before it listened; starting it again ---",
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.failure = Some(format!(
            "does not listen on {} again after a restart",
            self.spec.addr
        ));
    }

    /// What went wrong with it: it exited by itself (a killed one has been started again), or
    /// it did not come back after a restart.
    pub fn fault(&mut self) -> Option<String> {
        if let Some(failure) = &self.failure {
            return Some(failure.clone());
        }
        let status: Option<ExitStatus> = self.child.try_wait().ok().flatten();
        status.map(|status| format!("exited by itself ({status})"))
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(spec: &Spec) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .unwrap();
    Command::new(binary(spec.binary))
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|error| panic!("{} starts: {error}", spec.binary))
}

/// A line of the harness's own in the process's log, between two of its lives.
fn note(spec: &Spec, line: &str) {
    if let Ok(mut log) = std::fs::OpenOptions::new().append(true).open(&spec.log) {
        let _ = writeln!(log, "{line}");
    }
}
