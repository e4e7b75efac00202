//! HTTP/1.1 spoken byte by byte over a plain TCP socket, for tests that need
//! to send what no well-behaved client would (half a request, a stalled body)
//! or to read the exact response headers.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Longest any read in these tests waits: far beyond the limits the tests
/// configure, so a read that hits it means "held open", not "slow machine".
pub(crate) const READ_DEADLINE: Duration = Duration::from_secs(20);

/// A parsed answer.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    /// Header names lower-cased, in the order received.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl RawResponse {
    /// The first header `name` (lower case), if any.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Opens a connection with the read deadline set.
pub(crate) fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connects");
    stream
        .set_read_timeout(Some(READ_DEADLINE))
        .expect("read timeout");
    stream
}

/// How a connection's reading ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The server closed (end of file or reset), after sending these bytes.
    Closed(Vec<u8>),
    /// Nothing ended it within [`READ_DEADLINE`].
    StillOpen,
}

/// Reads until the server closes the connection or the deadline passes.
pub(crate) fn read_until_closed(stream: &mut TcpStream) -> Ending {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Ending::Closed(received),
            Ok(count) => received.extend_from_slice(&buffer[..count]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ending::StillOpen;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Ending::Closed(received),
        }
    }
}

/// Sends `raw` (a whole request, with `Connection: close`) and reads the
/// answer to the end.
pub(crate) fn exchange(address: SocketAddr, raw: &[u8]) -> RawResponse {
    let mut stream = connect(address);
    stream.write_all(raw).expect("sends the request");
    match read_until_closed(&mut stream) {
        Ending::Closed(bytes) => parse(&bytes),
        Ending::StillOpen => panic!("no complete answer within {READ_DEADLINE:?}"),
    }
}

/// `GET path` with `Connection: close` and extra header lines.
pub(crate) fn get(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    exchange(address, request("GET", path, headers, b"").as_bytes())
}

/// The text of a request with a `Content-Length` body.
pub(crate) fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(&String::from_utf8_lossy(body));
    text
}

/// Parses a response (a chunked body is left as it came).
pub(crate) fn parse(bytes: &[u8]) -> RawResponse {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP response, got {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line in {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A loopback port free a moment ago (for an address the server must be
/// told in advance).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
