use clap::Parser;
use parley_edge::{
    auth,
    config::{Cli, Command},
    protocol_schema,
    startup::Application,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = match cli.command {
        Some(Command::Token(args)) => {
            println!(
                "{}",
                auth::dev_token(&args.jwt_secret, &args.user, args.ttl)?
            );
            return Ok(());
        }
        Some(Command::Schema) => {
            print!("{}", protocol_schema::render()?);
            return Ok(());
        }
        Some(Command::Serve(config)) => *config,
        None => cli.serve,
    };
    let _telemetry = parley_common::telemetry::init("edge");
    let app = Application::build(&config).await?;
    app.run_until_stopped(parley_common::shutdown::signal())
        .await?;
    Ok(())
}
