//! Connections that never say hello: raw WebSockets to the fallback (an HTTP
//! upgrade by hand, nothing sent after it), a player that waits for its
//! welcome, (small caps come from `super::config_file`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use meridian_netcode::driver::client::Behaviour;
use meridian_netcode::{Client, ClientEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What became of a WebSocket upgrade.
pub(crate) enum Upgrade {
    /// Upgraded and open.
    Open(TcpStream),
    /// Upgraded, then closed at once by the server with this code and reason.
    Closed(u16, String),
}

/// Opens a WebSocket to `/meridian/ws` and sends nothing more. A socket the
/// server closes at once (within a second) comes back as [`Upgrade::Closed`].
pub(crate) async fn silent_websocket(http: SocketAddr) -> Upgrade {
    let mut stream = TcpStream::connect(http).await.expect("connects");
    let request = format!(
        "GET /meridian/ws HTTP/1.1\r\nHost: {http}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("sends the upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("the upgrade is answered in time")
            .expect("reads");
        assert_eq!(read, 1, "the server hung up during the upgrade");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    match close_frame(&mut stream, Duration::from_secs(1)).await {
        Some((code, reason)) => Upgrade::Closed(code, reason),
        None => Upgrade::Open(stream),
    }
}

/// Waits up to `wait` for the server's close frame; its code and reason, or
/// `None` if none came in time. Other frames are skipped.
pub(crate) async fn close_frame(stream: &mut TcpStream, wait: Duration) -> Option<(u16, String)> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let mut header = [0u8; 2];
        match tokio::time::timeout_at(deadline, stream.read_exact(&mut header)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Some((1006, "closed without a close frame".to_owned())),
            Err(_) => return None,
        }
        let length = match header[1] & 0x7f {
            126 => {
                let mut extended = [0u8; 2];
                stream.read_exact(&mut extended).await.ok()?;
                usize::from(u16::from_be_bytes(extended))
            }
            127 => {
                let mut extended = [0u8; 8];
                stream.read_exact(&mut extended).await.ok()?;
                usize::try_from(u64::from_be_bytes(extended)).ok()?
            }
            short => usize::from(short),
        };
        let mut payload = vec![0u8; length];
        stream.read_exact(&mut payload).await.ok()?;
        if header[0] & 0x0f == 8 {
            let code = payload
                .get(..2)
                .map_or(1005, |code| u16::from_be_bytes([code[0], code[1]]));
            let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default()).into_owned();
            return Some((code, reason));
        }
    }
}

/// Plays until welcomed (then leaves) or refused.
#[derive(Default)]
pub(crate) struct UntilWelcomed {
    pub(crate) welcomed: bool,
    pub(crate) refused: Option<meridian_protocol::messages::Refusal>,
}

impl Behaviour for UntilWelcomed {
    fn on_tick(&mut self, client: &mut Client, _now: Instant) {
        if self.welcomed {
            client.disconnect();
        }
    }

    fn on_event(&mut self, _client: &mut Client, event: ClientEvent, _now: Instant) {
        match event {
            ClientEvent::Welcomed(_) => self.welcomed = true,
            ClientEvent::Refused(refusal) => self.refused = Some(refusal),
            _ => {}
        }
    }
}

/// Joins as `name` through the account path, connects over QUIC and waits
/// (at most 20 seconds) for the welcome.
pub(crate) async fn join_and_wait_for_welcome(http: SocketAddr, name: &str) -> UntilWelcomed {
    let joined = super::account_join(http, name).await;
    let (endpoint, connection, mut client) = joined.connect().await;
    let mut player = UntilWelcomed::default();
    connection
        .drive(
            &mut client,
            &mut player,
            Duration::from_millis(50),
            Instant::now() + Duration::from_secs(20),
        )
        .await;
    endpoint.wait_idle().await;
    player
}

/// One value of the server's `/metrics`.
pub(crate) async fn metric(http: SocketAddr, series: &str) -> Option<f64> {
    let metrics = loadbot::http::get(http, "/metrics")
        .await
        .expect("metrics answer");
    loadbot::http::prometheus_value(&metrics, series)
}
