//! `renkei` — one binary for the whole platform.

mod admin;
mod audit;
mod collect;
mod config;
mod demo_icu;
mod icu_config;
mod mllp;
mod mllp_icu;
mod mllp_tls;
mod serve;
mod simulate;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "renkei",
    version,
    about = "Regional medical–care information network and Tele-ICU platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (HTTP; TLS when a certificate and key are given).
    Serve(config::ServeArgs),
    /// Run the server with a synthetic demo network (same as `serve --demo`).
    Demo(config::ServeArgs),
    /// Administrative tasks on the database.
    Admin {
        #[command(flatten)]
        db: config::DbArgs,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Collect clinical data from hospital systems (SS-MIX2 standardized storage).
    Collect {
        #[command(subcommand)]
        command: collect::CollectCommand,
    },
    /// Check or export the tamper-evident audit trail.
    Audit {
        #[command(flatten)]
        db: config::DbArgs,
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Simulators for connection tests, the demo and benchmarks.
    Simulate {
        #[command(subcommand)]
        command: simulate::SimulateCommand,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("renkei: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args, false).await,
            Command::Demo(args) => serve::run(args, true).await,
            Command::Admin { db, command } => admin::run(db, command).await,
            Command::Audit { db, command } => audit::run(db, command).await,
            Command::Collect { command } => collect::run(command).await,
            Command::Simulate { command } => simulate::run(command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("renkei: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
