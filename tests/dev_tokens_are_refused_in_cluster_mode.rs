//! A shard never offers development tokens: `--dev` (or `[serve] dev_tokens =
//! true`) with `--shard-id` is refused at start-up with a message that says
//! why, before anything is reached.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::config_file;

/// Runs `meridian serve` with `extra` as shard 1 of 1 and returns its exit
/// status and standard error; killed if it is still running after a minute.
fn start_shard(extra: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .env(
            "MERIDIAN_TOKEN_SECRET",
            "a cluster secret of at least 32 bytes!",
        )
        .args([
            "serve",
            "--game-address",
            "127.0.0.1:0",
            "--http-address",
            "127.0.0.1:0",
            "--shard-id",
            "1",
            "--shards",
            "1",
            "--redis-url",
            "redis://127.0.0.1:6379/",
            "--database-url",
            "postgres://postgres@127.0.0.1:5432/test",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a shard with development tokens kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("reads");
    (status, stderr)
}

#[test]
fn a_shard_with_dev_tokens_refuses_to_start() {
    let (status, stderr) = start_shard(&["--dev"]);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("cluster mode"), "{stderr}");

    let config = config_file("[serve]\ndev_tokens = true\n");
    let (status, stderr) = start_shard(&["--config", config.to_str().expect("utf-8")]);
    let _ = std::fs::remove_file(&config);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("cluster mode"), "{stderr}");
}
