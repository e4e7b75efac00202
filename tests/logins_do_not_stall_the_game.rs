//! Password hashing does not run on the workers that carry the game and the
//! API: with two dozen wrong-password logins in flight (each an argon2 check),
//! `/health` answers before most of them.
//!
//! Logins past the hashing pool's queue are answered 429 at once rather than
//! queued without bound. Ordering, not durations: every login request is sent,
//! and two answered, before the health request, and the test checks
//! which answers come back first. (Hashing on the async worker, the health
//! connection is not even accepted until the queued hashes are done.)

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{config_file, start_server_with, temporary_database};

const LOGINS: usize = 24;

fn send(address: SocketAddr, method: &str, path: &str, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("sets a deadline");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("sends");
    stream
}

fn status(stream: &mut TcpStream) -> u16 {
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer, got {text:?}"))
}

#[test]
fn health_answers_while_logins_hash() {
    let config = config_file(
        "[serve]\nlogin_attempts_per_account_per_minute = 1000\n\
         login_attempts_per_address_per_minute = 1000\n",
    );
    let config_path = config.display().to_string();
    let (_server, http_address) =
        start_server_with(&temporary_database(), &["--config", &config_path]);

    let mut signup = send(
        http_address,
        "POST",
        "/api/v1/signup",
        r#"{"username":"victim","password":"the right password"}"#,
    );
    assert_eq!(status(&mut signup), 200);

    // Every login is on the wire, and the server is answering them (two
    // answers are back, so it has read them all), before /health is asked.
    let logins: Vec<TcpStream> = (0..LOGINS)
        .map(|_| {
            send(
                http_address,
                "POST",
                "/api/v1/login",
                r#"{"username":"victim","password":"a wrong password"}"#,
            )
        })
        .collect();
    let finished = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = logins
        .into_iter()
        .map(|mut stream| {
            let finished = finished.clone();
            std::thread::spawn(move || {
                let code = status(&mut stream);
                (code, finished.fetch_add(1, Ordering::SeqCst))
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while finished.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "no login was answered");
        std::thread::sleep(Duration::from_millis(1));
    }
    let health_reader = {
        let finished = finished.clone();
        let mut stream = send(http_address, "GET", "/health", "");
        std::thread::spawn(move || {
            let code = status(&mut stream);
            (code, finished.fetch_add(1, Ordering::SeqCst))
        })
    };
    let (health_status, health_place) = health_reader.join().expect("health answers");
    let mut checked = 0;
    let mut checked_before_health = 0;
    for reader in readers {
        let (code, place) = reader.join().expect("login answers");
        // 403: checked and wrong; 429: the hashing queue was full (bounded).
        assert!(code == 403 || code == 429, "a wrong password: {code}");
        if code == 403 {
            checked += 1;
            if place < health_place {
                checked_before_health += 1;
            }
        }
    }
    assert_eq!(health_status, 200);
    // Hashing on the async worker, /health waits behind the queued hashes;
    // on the pool it is answered at once.
    assert!(
        checked_before_health * 2 < checked,
        "{checked_before_health} of {checked} checked logins were answered before /health: \
         hashing holds up the workers"
    );
    let _ = std::fs::remove_file(config);
}
