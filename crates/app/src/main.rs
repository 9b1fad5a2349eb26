//! The `switchboard` binary: parse the command line, load settings, start telemetry, then serve
//! or migrate. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use switchboard::cli::{Cli, Command};
use switchboard::settings::Settings;
use switchboard::startup::{Application, Overrides, open_database};
use switchboard::telemetry;

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A missing .env is normal; the environment wins over the file.
    let dotenv = dotenvy::dotenv();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = match telemetry::init(&settings.telemetry) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("configuration error: telemetry: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(dotenvy::Error::LineParse(line, index)) = dotenv {
        tracing::warn!(".env has an unreadable line at character {index}: {line:?}");
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(&settings).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let database = open_database(settings).await?;
    tracing::info!(
        database.backend = database.backend().name(),
        "migrations are up to date"
    );
    database.close().await?;
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let host = settings.host;
    let providers = settings.providers();
    let backend = if settings.database_url.starts_with("sqlite:") {
        format!("sqlite in {}", settings.data_dir.display())
    } else {
        "postgresql".to_owned()
    };
    let application = Application::build(settings, Overrides::default()).await?;
    let url = format!("http://{host}:{}", application.port());
    tracing::info!(
        "Switchboard is listening on {url} (database: {backend}; API reference at {url}/docs)"
    );
    for provider in providers {
        if provider.configured {
            tracing::info!("provider {}: configured", provider.name);
        } else {
            tracing::info!(
                "provider {}: not configured (set {})",
                provider.name,
                provider.setting
            );
        }
    }
    application.run_until_stopped().await?;
    tracing::info!("Switchboard stopped");
    Ok(())
}
