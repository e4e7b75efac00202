//! Password hashing does not run on the workers that carry the game and the
//! API: with a dozen wrong-password logins in flight (each an argon2 check),
//! `/health` still answers before the last of them.
//!
//! Logins past the hashing pool's queue are answered 429 at once rather than
//! queued without bound. Ordering, not durations: every login request is fully sent before the
//! health request, and the test checks which answers come back first.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{start_server_with, temporary_database};

const LOGINS: usize = 12;

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
    let config = std::env::temp_dir().join(format!(
        "meridian_logins_do_not_stall_{}.toml",
        std::process::id()
    ));
    std::fs::write(
        &config,
        "[serve]\nlogin_attempts_per_account_per_minute = 1000\n\
         login_attempts_per_address_per_minute = 1000\n",
    )
    .expect("writes the config");
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

    // Every login is on the wire before /health is asked.
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
    let health = send(http_address, "GET", "/health", "");

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
    let health_reader = {
        let finished = finished.clone();
        let mut stream = health;
        std::thread::spawn(move || {
            let code = status(&mut stream);
            (code, finished.fetch_add(1, Ordering::SeqCst))
        })
    };
    let (health_status, health_place) = health_reader.join().expect("health answers");
    let mut last_login = 0;
    for reader in readers {
        let (code, place) = reader.join().expect("login answers");
        // 403: checked and wrong; 429: the hashing queue was full (bounded).
        assert!(code == 403 || code == 429, "a wrong password: {code}");
        last_login = last_login.max(place);
    }
    assert_eq!(health_status, 200);
    assert!(
        health_place < last_login,
        "/health answered {}th of {}, after every login: hashing blocks the workers",
        health_place + 1,
        LOGINS + 1
    );
    let _ = std::fs::remove_file(config);
}
