//! The HTTP server bounds what a client can hold: a request whose headers
//! stall is closed after the header deadline, connections over the cap are
//! not served alongside the others (they wait, then are closed and counted),
//! a body over the limit is refused with 413 JSON, whether it declares its
//! length or streams in chunks, and a body that stalls gets 408 JSON at the
//! request deadline, which does not cut a WebSocket once upgraded.

mod common;
#[path = "common/raw_http.rs"]
mod raw_http;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{config_file, remove_database, start_server_with, temporary_database};
use raw_http::{Ending, connect, exchange, get, read_until_closed, request};

#[test]
fn half_sent_headers_are_closed_after_the_header_deadline() {
    let database = temporary_database();
    let config = config_file("[serve]\nhttp_header_timeout_ms = 1000\n");
    let config_path = config.display().to_string();
    let (_server, http_address) = start_server_with(&database, &["--config", &config_path]);

    // Half a request line, then half the headers, then nothing.
    let mut stalled = connect(http_address);
    stalled.write_all(b"GET /health HT").expect("sends");
    stalled.flush().expect("flushes");
    let mut headers_stalled = connect(http_address);
    headers_stalled
        .write_all(b"GET /health HTTP/1.1\r\nHost: test.local\r\nX-Slow: ")
        .expect("sends");
    for stream in [&mut stalled, &mut headers_stalled] {
        let ending = read_until_closed(stream);
        assert!(
            matches!(ending, Ending::Closed(_)),
            "a stalled request is held open: {ending:?}"
        );
    }

    // A whole request is still served.
    let health = get(http_address, "/health", &[]);
    assert_eq!(health.status, 200);
    let metrics = get(http_address, "/metrics", &[]);
    assert!(
        counter(&metrics.body, "meridian_http_header_timeouts_total") >= 2,
        "{}",
        metrics.body
    );
    let _ = std::fs::remove_file(config);
    remove_database(&database);
}

#[test]
fn connections_over_the_cap_wait_then_are_closed_and_counted() {
    let database = temporary_database();
    let config = config_file(
        "[serve]\nhttp_max_connections = 2\nhttp_connection_wait_ms = 200\nhttp_header_timeout_ms = 60000\n",
    );
    let config_path = config.display().to_string();
    let (_server, http_address) = start_server_with(&database, &["--config", &config_path]);

    // Two connections hold both slots with requests they never finish; the
    // server accepts connections in order, so they are taken first.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut holder = connect(http_address);
        holder
            .write_all(b"GET /health HTTP/1.1\r\nHost: test.local\r\n")
            .expect("sends");
        holders.push(holder);
    }
    // A third, complete request finds no slot: it is closed unanswered rather
    // than served alongside them.
    let mut third = connect(http_address);
    third
        .write_all(request("GET", "/health", &[], b"").as_bytes())
        .expect("sends");
    assert_eq!(read_until_closed(&mut third), Ending::Closed(Vec::new()));

    // Once a holder leaves, requests are served again, and the refusal was
    // counted.
    drop(holders.pop());
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let mut stream = connect(http_address);
        stream
            .write_all(request("GET", "/metrics", &[], b"").as_bytes())
            .expect("sends");
        if let Ending::Closed(bytes) = read_until_closed(&mut stream)
            && !bytes.is_empty()
        {
            let metrics = raw_http::parse(&bytes);
            assert_eq!(metrics.status, 200);
            break counter(&metrics.body, "meridian_http_connections_refused_total");
        }
        assert!(
            Instant::now() < deadline,
            "no slot freed after a holder left"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(refused >= 1, "the refused connection is not counted");
    let _ = std::fs::remove_file(config);
    remove_database(&database);
}

#[test]
fn bodies_over_the_limit_get_413_json() {
    let database = temporary_database();
    let config = config_file("[serve]\nhttp_body_limit_bytes = 1024\n");
    let config_path = config.display().to_string();
    let (_server, http_address) = start_server_with(&database, &["--config", &config_path]);

    let big = format!(
        r#"{{"username":"someone","password":"{}"}}"#,
        "x".repeat(4_000)
    );
    let declared = exchange(
        http_address,
        request(
            "POST",
            "/api/v1/signup",
            &[("Content-Type", "application/json")],
            big.as_bytes(),
        )
        .as_bytes(),
    );
    assert_eq!(declared.status, 413, "{declared:?}");
    assert!(declared.body.contains("\"error\""), "{declared:?}");

    // The same body in chunks, with no length declared.
    let mut chunked = String::from(
        "POST /api/v1/signup HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for piece in big.as_bytes().chunks(500) {
        chunked.push_str(&format!(
            "{:x}\r\n{}\r\n",
            piece.len(),
            String::from_utf8_lossy(piece)
        ));
    }
    chunked.push_str("0\r\n\r\n");
    let streamed = exchange(http_address, chunked.as_bytes());
    assert_eq!(streamed.status, 413, "{streamed:?}");
    assert!(streamed.body.contains("\"error\""), "{streamed:?}");

    // A body within the limit goes through to the handler.
    let small = exchange(
        http_address,
        request(
            "POST",
            "/api/v1/signup",
            &[("Content-Type", "application/json")],
            br#"{"username":"x"}"#,
        )
        .as_bytes(),
    );
    assert_ne!(small.status, 413, "{small:?}");
    let _ = std::fs::remove_file(config);
    remove_database(&database);
}

#[test]
fn a_stalled_body_gets_408_and_an_upgraded_websocket_outlives_the_deadline() {
    let database = temporary_database();
    let config = config_file("[serve]\nhttp_request_timeout_ms = 300\n");
    let config_path = config.display().to_string();
    let (_server, http_address) = start_server_with(&database, &["--config", &config_path]);

    // Headers that promise 100 bytes, then 10 of them, then nothing.
    let mut stalled = connect(http_address);
    stalled
        .write_all(
            b"POST /api/v1/login HTTP/1.1\r\nHost: test.local\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"usernam",
        )
        .expect("sends");
    let Ending::Closed(bytes) = read_until_closed(&mut stalled) else {
        panic!("a stalled body is held open");
    };
    let answer = raw_http::parse(&bytes);
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(answer.body.contains("\"error\""), "{answer:?}");

    // A WebSocket upgrade answers at once; the socket then lives on past many
    // request deadlines and still answers a ping with a pong.
    let mut socket = connect(http_address);
    socket
        .write_all(
            b"GET /meridian/ws HTTP/1.1\r\nHost: test.local\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .expect("sends the upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = socket.read(&mut byte).expect("the upgrade is answered");
        assert_eq!(read, 1, "the server hung up during the upgrade");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // Three request deadlines (and well within the hello timeout of 5 s).
    std::thread::sleep(Duration::from_millis(900));
    // A masked, empty ping.
    socket
        .write_all(&[0x89, 0x80, 0, 0, 0, 0])
        .expect("the socket is still open");
    let mut pong = [0u8; 2];
    socket
        .read_exact(&mut pong)
        .expect("the socket answers after the request deadline");
    assert_eq!(pong, [0x8A, 0x00], "a pong");
    let _ = std::fs::remove_file(config);
    remove_database(&database);
}

/// A Prometheus counter's value in `/metrics` text (0 if absent).
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}
