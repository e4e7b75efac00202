//! `meridian`: the Meridian server binary.
//!
//! Today it offers `meridian simulate`, a headless run of one zone with wandering
//! agents that prints tick times, interest set sizes and snapshot sizes: the
//! designer's offline tuner. `meridian serve` arrives with the netcode issue.

mod config;
mod simulate;
mod stats;

use clap::{Parser, Subcommand};

/// Meridian: an authoritative server for shared, persistent virtual worlds.
#[derive(Debug, Parser)]
#[command(name = "meridian", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one zone headless with wandering agents and print its statistics.
    Simulate(simulate::SimulateArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => simulate::run(&args),
    }
}
