//! `stripe-graphql`: see the README. Parses the configuration and hands over to
//! [`stripe_graphql::startup`].

use std::process::ExitCode;

use stripe_graphql::{
    config::{Action, Cli, Parsed},
    graphql, startup, telemetry,
};

/// mimalloc instead of the system allocator: a warm query allocates many small objects (the
/// document copy, resolver futures, the response tree), and glibc's malloc cost a warm seed
/// query about a tenth of its time (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::parse_from_env() {
        Ok(Parsed::Cli(cli)) => cli,
        Ok(Parsed::Print(help_or_version)) => {
            print!("{help_or_version}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(e),
    };
    match cli.into_action() {
        Err(e) => fail(e),
        Ok(Action::PrintSchema) => {
            print!("{}", graphql::sdl());
            ExitCode::SUCCESS
        }
        Ok(Action::Healthcheck(addr)) => match startup::healthcheck(addr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(reason) => {
                eprintln!("healthcheck: {reason}");
                ExitCode::FAILURE
            }
        },
        Ok(Action::Serve(config)) => {
            telemetry::init(config.log_format);
            let app = match startup::Application::build(*config).await {
                Ok(app) => app,
                Err(e) => return fail(e),
            };
            match app.run_until_stopped().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}
