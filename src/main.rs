//! `meridian`: the Meridian server binary.
//!
//! `meridian serve` runs a world (one zone on embedded defaults, QUIC for clients,
//! HTTP for metrics and development tokens). `meridian simulate` is a headless run
//! of one zone with wandering agents that prints tick times, interest set sizes
//! and snapshot sizes: the designer's offline tuner.

mod admin;
mod config;
mod drain_command;
mod http;
mod logging;
mod serve;
mod simulate;
mod stats;

use clap::{Parser, Subcommand};

/// mimalloc: a snapshot, frame or datagram is allocated and freed per client
/// per tick, and glibc's allocator showed as a tenth of the CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Meridian: an authoritative server for shared, persistent virtual worlds.
#[derive(Debug, Parser)]
#[command(name = "meridian", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an admin account (the password comes from MERIDIAN_ADMIN_PASSWORD or
    /// standard input).
    CreateAdmin(admin::CreateAdminArgs),
    /// Drain a running server, as SIGTERM does (its instances go on on the
    /// other shards, its players join again there), and wait until it exits.
    Drain(drain_command::DrainArgs),
    /// Run a world: one zone over QUIC, with metrics and development tokens.
    Serve(serve::ServeArgs),
    /// Run one zone headless with wandering agents and print its statistics.
    Simulate(simulate::SimulateArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::CreateAdmin(args) => {
            logging::init(logging::LogFormat::Text)?;
            admin::run(&args)
        }
        Command::Drain(args) => drain_command::run(&args),
        // Its format is a setting: it installs the logger once they are read.
        Command::Serve(args) => serve::run(&args),
        Command::Simulate(args) => {
            logging::init(logging::LogFormat::Text)?;
            simulate::run(&args)
        }
    }
}
