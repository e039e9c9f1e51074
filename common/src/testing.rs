//! Test support shared by the crates' integration tests (feature `testing`): a fresh Postgres
//! database per test, dropped afterwards, and the bus its services use: Postgres, or NATS
//! with `PARLEY_TEST_BUS=nats` (scripts/test.sh runs the suites that matter both ways).

use std::time::Duration;

// Database names are generated here (a UUID), never input: formatting them into SQL is safe.
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use crate::config::{BusArgs, BusKind, DatabaseArgs};

/// Where tests create and drop their databases: `PARLEY_TEST_ADMIN_DATABASE_URL`, by default
/// the `postgres` database of the local server.
pub fn admin_url() -> String {
    std::env::var("PARLEY_TEST_ADMIN_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test. Dropping it drops the database, ending the
/// connections that still use it.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// Creates an empty database; panics with a hint when Postgres is not reachable.
    pub async fn create() -> Self {
        let name = format!("parley_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "tests need PostgreSQL at {} ({error}); see README",
                    admin_url()
                )
            });
        if let Err(error) = admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
        {
            panic!("cannot create the test database {name}: {error}");
        }
        let url = with_database(&admin_url(), &name);
        Self { name, url }
    }

    /// Connection settings for a service under test.
    pub fn args(&self) -> DatabaseArgs {
        DatabaseArgs {
            url: self.url.clone(),
            max_connections: 5,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl TestDatabase {
    /// The bus of this test's services: `PARLEY_TEST_BUS` (`postgres`, the default, or
    /// `nats`), NATS at `PARLEY_TEST_NATS_URL` (by default the local server), with streams
    /// named after this database so that tests running at once share no stream.
    pub fn bus(&self) -> BusArgs {
        BusArgs {
            kind: test_bus(),
            nats_url: std::env::var("PARLEY_TEST_NATS_URL")
                .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned()),
            nats_prefix: self.name.clone(),
            nats_replicas: 1,
        }
    }
}

impl BusArgs {
    /// The environment that gives a service process these settings.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let kind = match self.kind {
            BusKind::Postgres => "postgres",
            BusKind::Nats => "nats",
        };
        vec![
            ("PARLEY_BUS", kind.to_owned()),
            ("PARLEY_NATS_URL", self.nats_url.clone()),
            ("PARLEY_NATS_PREFIX", self.nats_prefix.clone()),
            ("PARLEY_NATS_REPLICAS", self.nats_replicas.to_string()),
        ]
    }
}

/// The bus `PARLEY_TEST_BUS` names; panics on any other value, so that a typo never runs the
/// suite on the wrong bus.
pub fn test_bus() -> BusKind {
    match std::env::var("PARLEY_TEST_BUS").as_deref() {
        Err(_) | Ok("") | Ok("postgres") => BusKind::Postgres,
        Ok("nats") => BusKind::Nats,
        Ok(other) => panic!("PARLEY_TEST_BUS must be postgres or nats, not `{other}`"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside the test's runtime, which cannot block on itself: a thread of
        // its own does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = admin.execute(AssertSqlSafe(drop)).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// The same server URL with another database name.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_options_kept() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "t1"),
            "postgres://u@h:5432/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres", "t2"),
            "postgres://u@h/t2"
        );
    }
}
