use clap::Parser;
use parley_presence_svc::{config::Config, startup::Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let _telemetry = parley_common::telemetry::init("presence-svc");
    let app = Application::build(&config).await?;
    app.run_until_stopped(parley_common::shutdown::signal())
        .await?;
    Ok(())
}
