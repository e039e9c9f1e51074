use clap::Parser;
use parley_calls_svc::{config::Config, startup::Application};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let _telemetry = parley_common::telemetry::init("calls-svc");
    let _metrics = match config.metrics_addr {
        Some(addr) => Some(
            parley_common::metrics::serve(addr, "PARLEY_CALLS_METRICS_ADDR")
                .await?
                .1,
        ),
        None => None,
    };
    let app = Application::build(&config).await?;
    app.run_until_stopped(parley_common::shutdown::signal())
        .await?;
    Ok(())
}
