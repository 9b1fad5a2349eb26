//! The command line: `switchboard [serve]`, `switchboard migrate`.

use clap::{Parser, Subcommand};

/// Switchboard: a self-hostable platform for AI voice agents.
///
/// Settings come from the environment and from `.env` in the working directory; see
/// `.env.example` for every one of them.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Migrate the database and serve the API (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn serve_is_the_default() {
        assert_eq!(Cli::try_parse_from(["switchboard"]).unwrap().command, None);
        assert_eq!(
            Cli::try_parse_from(["switchboard", "migrate"])
                .unwrap()
                .command,
            Some(Command::Migrate)
        );
        assert!(Cli::try_parse_from(["switchboard", "explode"]).is_err());
    }
}
