//! The test helper that starts `meridian serve` waits for its start-up lines
//! with a deadline: a process that logs part of them and then says nothing
//! more is killed and the test fails with what it logged, instead of hanging
//! the whole test run.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Server, read_start_up};

#[test]
fn a_server_that_never_finishes_starting_is_killed_and_fails_the_test() {
    // Says where it listens, never that it is ready, and stays up.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "echo 'INFO meridian::serve: HTTP listening http=http://127.0.0.1:1' >&2; \
             exec sleep 600",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh starts");
    let logs = child.stderr.take().expect("piped");
    let pid = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut server = Server(child);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_start_up(&mut server, logs, Duration::from_secs(1))
        }));
        let message = match outcome {
            Ok(address) => format!("returned {address}"),
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "a panic without a message".to_owned()),
        };
        // Killed: it is gone within moments.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut exited = server.0.try_wait().expect("waits");
        while exited.is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            exited = server.0.try_wait().expect("waits");
        }
        let _ = sender.send((message, exited));
    });
    // Far more than the helper's limit: only a helper without one gets here.
    let (message, exited) = receiver
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the start-up wait has no deadline: still waiting after 30 s")
        });
    assert!(
        message.contains("did not finish starting within 1s"),
        "{message}"
    );
    assert!(message.contains("http=http://127.0.0.1:1"), "{message}");
    assert!(exited.is_some(), "the silent process was killed");
}
