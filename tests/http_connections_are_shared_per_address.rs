//! One client address cannot hold more than its share of the HTTP server's
//! connections (`[serve] http_max_connections_per_address`): past it, its next
//! connection is closed unanswered at once and counted, while a connection
//! from another address (127.0.0.2, also loopback on Linux) is still served.

mod common;
#[path = "common/raw_http.rs"]
mod raw_http;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use common::{config_file, remove_database, start_server_with, temporary_database};
use raw_http::{Ending, READ_DEADLINE, connect, read_until_closed, request};

/// A connection to `server` from `source` (any port), with the read deadline set.
fn connect_from(source: [u8; 4], server: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind(SocketAddr::from((source, 0)))
            .expect("binds the source address");
        socket.connect(server).await.expect("connects")
    });
    let stream = stream.into_std().expect("a std stream");
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(READ_DEADLINE))
        .expect("read timeout");
    stream
}

/// Sends a whole request on `stream` and reads the answer (empty: closed
/// unanswered).
fn ask(mut stream: TcpStream, path: &str) -> Vec<u8> {
    stream
        .write_all(request("GET", path, &[], b"").as_bytes())
        .expect("sends");
    match read_until_closed(&mut stream) {
        Ending::Closed(bytes) => bytes,
        Ending::StillOpen => panic!("GET {path} was held open"),
    }
}

#[test]
fn one_address_holds_at_most_its_share_and_others_are_still_served() {
    let database = temporary_database();
    let config = config_file(
        "[serve]\nhttp_max_connections_per_address = 3\nhttp_header_timeout_ms = 60000\n",
    );
    let config_path = config.display().to_string();
    let (_server, http_address) = start_server_with(&database, &["--config", &config_path]);

    // 127.0.0.1 holds three connections with requests it never finishes; the
    // server accepts connections in order, so they are counted first.
    let mut holders = Vec::new();
    for _ in 0..3 {
        let mut holder = connect(http_address);
        holder
            .write_all(b"GET /health HTTP/1.1\r\nHost: test.local\r\n")
            .expect("sends");
        holders.push(holder);
    }
    // A fourth, complete request from the same address is closed unanswered
    // (the global cap of 512 is far away).
    let fourth = ask(connect(http_address), "/health");
    assert!(
        fourth.is_empty(),
        "served past the address's share: {}",
        String::from_utf8_lossy(&fourth)
    );

    // Another address is served meanwhile, and the refusal was counted.
    let health = raw_http::parse(&ask(connect_from([127, 0, 0, 2], http_address), "/health"));
    assert_eq!(health.status, 200, "{health:?}");
    let metrics = raw_http::parse(&ask(connect_from([127, 0, 0, 2], http_address), "/metrics"));
    assert_eq!(metrics.status, 200);
    assert!(
        counter(
            &metrics.body,
            "meridian_http_connections_refused_per_address_total"
        ) >= 1,
        "{}",
        metrics.body
    );
    drop(holders);
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
