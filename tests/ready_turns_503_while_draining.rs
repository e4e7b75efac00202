//! `/ready` is what a load balancer asks: 200 (`running`) once the server
//! serves players, and 503 (`draining`) from the moment SIGTERM arrives,
//! while, during `[serve] drain_ms`, the server keeps running (`/health`
//! stays 200); a second SIGTERM ends the drain at once.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::config_file;
use common::logs::{get, start_logging_to_file};

#[test]
fn ready_is_200_running_then_503_draining_after_sigterm() {
    // A drain far longer than the test waits: the 503 is seen inside it,
    // and the second signal is what stops the server.
    let config = config_file("[serve]\ndrain_ms = 120000\n");
    let config_path = config.display().to_string();
    let running = start_logging_to_file(&["--config", &config_path], &[]);

    // `/health` answers before the last listener is bound: until then
    // `/ready` says 503 `starting`, and then turns 200 by itself.
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        let answer = get(running.http_address, "/ready");
        if answer.starts_with("HTTP/1.1 200") || Instant::now() > deadline {
            break answer;
        }
        assert!(answer.contains("\"phase\":\"starting\""), "{answer}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.contains("\"phase\":\"running\""), "{ready}");
    assert!(ready.contains("\"ready\":true"), "{ready}");

    let pid = running.server.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    let draining = loop {
        let answer = get(running.http_address, "/ready");
        if answer.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(draining.starts_with("HTTP/1.1 503"), "{draining}");
    assert!(draining.contains("\"phase\":\"draining\""), "{draining}");
    assert!(draining.contains("\"ready\":false"), "{draining}");
    // Still serving while it drains.
    let health = get(running.http_address, "/health");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    // The second SIGTERM (sent by stop, which waits at most 15 s) ends it.
    let lines = running.stop();
    assert!(
        lines.iter().any(|line| line.contains("draining")),
        "{}",
        lines.join("\n")
    );
    let _ = std::fs::remove_file(config);
}
