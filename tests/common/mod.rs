//! Starting the real `meridian serve` binary on ephemeral loopback ports.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The server process; killed if a test fails half-way.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh SQLite database path in the temporary folder.
pub(crate) fn temporary_database() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "meridian_serve_test_{}_{}.db",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    format!("sqlite://{}", path.display())
}

/// Starts `meridian serve` with a small zone on ephemeral loopback ports and a
/// fresh database, and returns it with its HTTP address.
pub(crate) fn start_server() -> (Server, SocketAddr) {
    start_server_on(&temporary_database())
}

/// Starts `meridian serve` on the database `database_url` (read from its
/// start-up lines: the HTTP address).
pub(crate) fn start_server_on(database_url: &str) -> (Server, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args([
            "serve",
            "--game-address",
            "127.0.0.1:0",
            "--http-address",
            "127.0.0.1:0",
            "--world-size",
            "60",
            "--database-url",
            database_url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut http_address = None;
    for line in lines.by_ref() {
        let line = line.expect("utf-8 output");
        if let Some(rest) = line.trim().strip_prefix("http on http://") {
            let address = rest.split_whitespace().next().expect("an address");
            http_address = Some(address.parse().expect("a socket address"));
        }
        if line.contains("stop with") {
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (
        Server(child),
        http_address.expect("the server printed its HTTP address"),
    )
}
