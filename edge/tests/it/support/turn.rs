//! A real coturn (Debian's `turnserver`) on loopback, checking TURN REST credentials made
//! from a shared secret; the flags are scripts/lib/coturn.sh's. Started inside the test's
//! network namespace, where a server outside could not be reached.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::support::processes::free_port;

pub struct Turn {
    pub secret: String,
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

impl Turn {
    pub fn start() -> Self {
        assert!(
            std::path::Path::new("/usr/bin/turnserver").exists(),
            "turnserver is missing: `scripts/test.sh --setup-only` installs coturn"
        );
        let secret = format!("turn-secret-{}", uuid::Uuid::new_v4().simple());
        let port = free_port();
        // Relay ports: a range of its own, above the listening port's neighbours.
        let relay = 40_000 + (port % 500) * 40;
        let dir = std::env::temp_dir().join(format!("parley-turn-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("turnserver.log")).unwrap();
        let child = Command::new("turnserver")
            .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
            .arg(format!("--listening-port={port}"))
            .arg(format!("--min-port={relay}"))
            .arg(format!("--max-port={}", relay + 39))
            .args(["--use-auth-secret", "--realm=parley.test"])
            .arg(format!("--static-auth-secret={secret}"))
            .args([
                "--allow-loopback-peers",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
            ])
            .arg(format!("--userdb={}", dir.join("turndb").display()))
            .arg(format!(
                "--pidfile={}",
                dir.join("turnserver.pid").display()
            ))
            .args(["--log-file=stdout", "--simple-log"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("turnserver starts");
        let turn = Self {
            secret,
            port,
            dir,
            child,
        };
        // It listens on TCP as on UDP: ready once TCP connects.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return turn;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("turnserver did not start: {}", turn.log());
    }

    /// What calls-svc's PARLEY_TURN_URLS takes.
    pub fn urls(&self) -> String {
        format!("turn:127.0.0.1:{}?transport=udp", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("turnserver.log")).unwrap_or_default()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
