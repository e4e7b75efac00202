//! Starting the real `meridian serve` binary on ephemeral loopback ports.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// The server process; killed if a test fails half-way.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `meridian serve` with a small zone on ephemeral loopback ports and
/// returns it with its HTTP address, read from its start-up lines.
pub(crate) fn start_server() -> (Server, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args([
            "serve",
            "--game-address",
            "127.0.0.1:0",
            "--http-address",
            "127.0.0.1:0",
            "--world-size",
            "60",
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
