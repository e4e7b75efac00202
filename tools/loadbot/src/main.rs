//! `loadbot`: swarms of headless Meridian bots for load tests.
//!
//! Not built yet: bots need the QUIC transport of the netcode issue (#3). Until then
//! this binary says so and exits with status 2 instead of pretending to run.

fn main() {
    eprintln!(
        "loadbot: not built yet. Bots need the QUIC transport (netcode issue #3).\n\
         For an offline load figure of one zone today, run:\n    \
         cargo run --release -- simulate --entities 10000 --ticks 300"
    );
    std::process::exit(2);
}
