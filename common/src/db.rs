//! The Postgres pool and per-service schema migrations.

use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::DatabaseArgs;

/// Opens a pool. Connections are made lazily, so a service starts (and reports itself
/// not ready) while Postgres is still coming up, and reconnects by itself after an outage.
pub fn pool(args: &DatabaseArgs) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = args.url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(args.max_connections)
        .acquire_timeout(args.acquire_timeout)
        .connect_lazy_with(options))
}

/// Applies a service's migrations inside its own schema.
///
/// The schema is created first and the migrations table lives inside it, so services that
/// share a database never see each other's migration history. Concurrent replicas are safe:
/// sqlx takes an advisory lock for the duration.
pub async fn migrate(
    pool: &PgPool,
    schema: &'static str,
    mut migrator: Migrator,
) -> Result<(), sqlx::migrate::MigrateError> {
    migrator.create_schema(schema);
    migrator.dangerous_set_table_name(format!("{schema}._sqlx_migrations"));
    migrator.run(pool).await
}

/// The gRPC status for a database failure the caller cannot fix: `UNAVAILABLE` when Postgres
/// is unreachable or the pool is exhausted (retry later), `INTERNAL` otherwise. Details go to
/// the log, never to the caller.
pub fn status_from_sqlx(error: &sqlx::Error) -> tonic::Status {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => {
            tracing::warn!(%error, "database unavailable");
            tonic::Status::unavailable("database unavailable")
        }
        _ => {
            tracing::error!(%error, "database error");
            tonic::Status::internal("database error")
        }
    }
}

/// Whether `error` is a unique violation of the constraint or index named `constraint`.
pub fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}
