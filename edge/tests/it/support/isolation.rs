//! A network namespace whose only interface is loopback, for the tests with real WebRTC
//! peers: libwebrtc gathers candidates on every interface it sees, and no test may send
//! traffic beyond loopback. Such a test re-executes its own test binary, filtered to itself,
//! under `unshare -n` (which needs root, as CI has) with `lo` brought up; everything it starts
//! there (services, edges, coturn, Node peers, browsers) inherits the namespace. It fails when it
//! cannot isolate itself: it never passes without having run.
//!
//! PostgreSQL is reached from inside through a Unix socket, which a network namespace does
//! not cut off: a bridge in the outer test process accepts on a socket in a temporary folder
//! and forwards each connection to the server the other tests use, whatever its address
//! (the machine's, or scripts/lib/postgres.sh's private cluster that has no socket of its own).

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpStream},
    os::unix::net::{UnixListener, UnixStream},
    path::PathBuf,
    process::Command,
    str::FromStr,
};

use sqlx::postgres::PgConnectOptions;

/// Set in the environment of the re-executed test: it is inside the namespace.
const MARKER: &str = "PARLEY_TEST_LOOPBACK_ONLY";

/// True in the re-executed test, inside the namespace, once it is checked that only `lo`
/// is there.
pub fn inside() -> bool {
    if std::env::var_os(MARKER).is_none() {
        return false;
    }
    assert_only_loopback();
    true
}

/// The network interfaces of this process's namespace (/proc/self/net/dev; /sys/class/net
/// would show the namespace that mounted sysfs).
fn interfaces() -> Vec<String> {
    let dev = std::fs::read_to_string("/proc/self/net/dev").unwrap();
    dev.lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .collect()
}

fn assert_only_loopback() {
    assert_eq!(
        interfaces(),
        ["lo"],
        "the real-peer tests must see loopback only"
    );
    // lo is up: something can listen on it and be reached.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    TcpStream::connect(listener.local_addr().unwrap()).expect("lo is up");
}

/// Runs the test `name` (its path in this binary, e.g. `calls_media::some_test`) again inside
/// a new network namespace, and fails as it fails there.
pub async fn rerun_isolated(name: &'static str) {
    let bridge = PostgresBridge::start(&parley_common::testing::admin_url());
    let exe = std::env::current_exe().unwrap();
    let url = bridge.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("unshare")
            .args(["-n", "sh", "-c", r#"ip link set lo up && exec "$@""#, "sh"])
            .arg(exe)
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(MARKER, "1")
            .env("PARLEY_TEST_ADMIN_DATABASE_URL", url)
            // NATS listens on TCP only, which the namespace cuts off: these tests of calls'
            // media take the Postgres bus (the NATS one is tested outside).
            .env("PARLEY_TEST_BUS", "postgres")
            .output()
            .expect("unshare runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown by the test harness when this test fails.
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        !stderr.contains("unshare failed") && !stderr.contains("Operation not permitted"),
        "cannot make a network namespace (the real-peer tests need root, as CI has): {stderr}"
    );
    assert!(
        output.status.success(),
        "{name} failed inside its network namespace"
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{name} did not run inside its network namespace"
    );
    drop(bridge);
}

/// Forwards connections from a Unix socket to the tests' PostgreSQL server.
struct PostgresBridge {
    dir: PathBuf,
    /// The admin URL for use inside the namespace, through the bridge's socket.
    url: String,
}

impl PostgresBridge {
    fn start(admin_url: &str) -> Self {
        let options = PgConnectOptions::from_str(admin_url).expect("a PostgreSQL URL");
        let dir = std::env::temp_dir().join(format!(
            "parley-pg-bridge-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = options.get_port();
        // libpq's socket name, which sqlx looks for in the folder that `host` names.
        let listener = UnixListener::bind(dir.join(format!(".s.PGSQL.{port}"))).unwrap();
        let server = match options.get_socket() {
            Some(socket) => Upstream::Unix(socket.join(format!(".s.PGSQL.{port}"))),
            None => Upstream::Tcp(format!("{}:{port}", options.get_host())),
        };
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.forward(client));
            }
        });
        // sqlx wants a host in the URL; `host` names the socket's folder and wins.
        let url = format!(
            "postgres://{}@localhost/{}?host={}&port={port}",
            options.get_username(),
            options.get_database().unwrap_or("postgres"),
            dir.display()
        );
        Self { dir, url }
    }
}

impl Drop for PostgresBridge {
    fn drop(&mut self) {
        // The accepting thread ends with the process; the socket's folder goes now.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Clone)]
enum Upstream {
    Tcp(String),
    Unix(PathBuf),
}

impl Upstream {
    fn forward(&self, client: UnixStream) {
        match self {
            Self::Tcp(addr) => {
                if let Ok(server) = TcpStream::connect(addr) {
                    let _ = server.set_nodelay(true);
                    pump(
                        client,
                        server,
                        |s| s.try_clone(),
                        |s| s.shutdown(Shutdown::Write),
                    );
                }
            }
            Self::Unix(path) => {
                if let Ok(server) = UnixStream::connect(path) {
                    pump(
                        client,
                        server,
                        |s| s.try_clone(),
                        |s| s.shutdown(Shutdown::Write),
                    );
                }
            }
        }
    }
}

/// Copies bytes both ways until each side has closed.
fn pump<S: Read + Write + Send + 'static>(
    client: UnixStream,
    server: S,
    clone: impl Fn(&S) -> std::io::Result<S>,
    close: impl Fn(&S) -> std::io::Result<()> + Send + 'static,
) {
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), clone(&server)) else {
        return;
    };
    let upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = close(&server_write);
    });
    let (mut server_read, mut client_write) = (server, client);
    let _ = std::io::copy(&mut server_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = upstream.join();
}
