//! `RUST_LOG` filters the server's log: at `warn`, a start-up and requests
//! log no `INFO` line (nor anything below), and a filter that does not parse
//! stops the server before it starts, saying why. Text lines carry the level
//! after the timestamp.

mod common;

use std::process::{Command, Stdio};

use common::logs::{get, start_logging_to_file};

#[test]
fn warn_leaves_out_info_lines() {
    // Info first, to know what the same run logs unfiltered.
    let running = start_logging_to_file(&[], &[]);
    assert!(get(running.http_address, "/health").starts_with("HTTP/1.1 200"));
    let unfiltered = running.stop();
    assert!(
        unfiltered.iter().any(|line| level_of(line) == Some("INFO")),
        "the default filter logs info:\n{}",
        unfiltered.join("\n")
    );

    let running = start_logging_to_file(&[], &[("RUST_LOG", "warn")]);
    assert!(get(running.http_address, "/health").starts_with("HTTP/1.1 200"));
    assert!(get(running.http_address, "/nowhere").starts_with("HTTP/1.1 404"));
    let filtered = running.stop();
    for line in &filtered {
        assert!(
            matches!(level_of(line), Some("WARN" | "ERROR")),
            "a line below warn: {line}"
        );
    }
}

#[test]
fn a_filter_that_does_not_parse_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .env("RUST_LOG", "info,meridian=loud")
        .args([
            "serve",
            "--game-address",
            "127.0.0.1:0",
            "--http-address",
            "127.0.0.1:0",
        ])
        .args(["--database-url", &common::temporary_database()])
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("RUST_LOG"), "{stderr}");
}

/// The level of a text line: `TIMESTAMP  LEVEL ...`.
fn level_of(line: &str) -> Option<&str> {
    line.split_whitespace().nth(1)
}
