//! The WebSocket fallback for browsers without WebTransport: `GET /meridian/ws`
//! on the HTTP port carries the same messages as a game connection.
//!
//! Each binary WebSocket message is one channel byte (0 = stream, 1 = datagram)
//! and one encoded message without a length prefix. The socket becomes one more
//! connection of the zone thread, exactly like a QUIC one: stream messages are
//! re-framed for the server's frame decoder, datagram-class messages go through
//! the same drop-when-full queue. Text messages, an unknown channel byte or a
//! message over its channel's limit end the connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use bytes::Bytes;
use crossbeam_channel::{Sender, TrySendError};
use meridian_netcode::driver::admission::{Admission, AdmissionRefusal, AdmissionTicket};
use meridian_netcode::driver::server::{
    ConnectionIds, DriverCounters, NetEvent, OUTBOX_CAPACITY, push_reliably,
};
use meridian_netcode::{ConnectionId, Payload};
use meridian_protocol::framing::{FrameDecoder, write_frame};
use meridian_protocol::messages::Channel;
use tokio::sync::mpsc;

/// The path of the fallback.
pub(crate) const WEBSOCKET_PATH: &str = "/meridian/ws";

/// How long one send may wait for a peer that does not read.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The channel byte of a stream message.
const STREAM: u8 = 0;
/// The channel byte of a datagram message.
const DATAGRAM: u8 = 1;

/// What the fallback needs from `meridian serve`.
#[derive(Clone)]
pub(crate) struct Fallback {
    pub(crate) inbound: Sender<NetEvent>,
    pub(crate) ids: Arc<ConnectionIds>,
    pub(crate) counters: Arc<DriverCounters>,
    /// The pending-connection caps, shared with the QUIC endpoint.
    pub(crate) admission: Arc<Admission>,
}

/// `GET /meridian/ws`: upgrades and joins the socket to the zone.
pub(crate) async fn upgrade(
    State(fallback): State<Fallback>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Both limits: tungstenite reads a whole frame before it checks the message.
    let upgrade = upgrade
        .max_message_size(1 + Channel::Stream.max_message_bytes())
        .max_frame_size(1 + Channel::Stream.max_message_bytes());
    // Put to the pending caps before a task is spent on it; over a cap the
    // socket is closed at once with the reason (counted by the admission).
    match fallback.admission.admit(fallback.ids.next(), remote.ip()) {
        Ok(ticket) => upgrade.on_upgrade(move |socket| run(socket, remote, fallback, ticket)),
        Err(refusal) => upgrade.on_upgrade(move |socket| refuse(socket, refusal)),
    }
}

/// Closes a socket the pending caps refused: 1013, "try again later".
async fn refuse(mut socket: WebSocket, refusal: AdmissionRefusal) {
    let close = Message::Close(Some(CloseFrame {
        code: 1013,
        reason: refusal.label().into(),
    }));
    let _ = write(&mut socket, close).await;
}

/// Why a socket is closed by us.
fn violation() -> Message {
    Message::Close(Some(CloseFrame {
        code: 1002,
        reason: "protocol violation".into(),
    }))
}

/// One inbound WebSocket message as a zone event, or `None` if it breaks the
/// fallback's rules.
fn event_of(connection: ConnectionId, message: &[u8]) -> Option<NetEvent> {
    let (&channel, body) = message.split_first()?;
    match channel {
        STREAM if body.len() <= Channel::Stream.max_message_bytes() => {
            let mut framed = Vec::with_capacity(body.len() + 3);
            write_frame(body, &mut framed).ok()?;
            Some(NetEvent::Stream {
                connection,
                bytes: Bytes::from(framed),
            })
        }
        DATAGRAM if body.len() <= Channel::Datagram.max_message_bytes() => {
            Some(NetEvent::Datagram {
                connection,
                bytes: Bytes::copy_from_slice(body),
            })
        }
        _ => None,
    }
}

/// One socket's life; `ticket` (dropped with it) keeps it counted as pending
/// until the zone thread verifies its hello.
async fn run(
    mut socket: WebSocket,
    remote: SocketAddr,
    fallback: Fallback,
    ticket: AdmissionTicket,
) {
    let connection = ticket.connection();
    let (outbox, mut outgoing) = mpsc::channel::<Payload>(OUTBOX_CAPACITY);
    let opened = NetEvent::Opened {
        connection,
        outbox,
        remote,
    };
    if !push_reliably(&fallback.inbound, opened).await {
        let _ = socket.send(Message::Close(None)).await;
        return;
    }
    // The server writes framed stream bytes; the socket carries bare messages.
    let mut frames = FrameDecoder::new();
    loop {
        tokio::select! {
            received = socket.recv() => {
                let Some(Ok(message)) = received else { break };
                let event = match message {
                    Message::Binary(data) => event_of(connection, &data),
                    Message::Ping(_) | Message::Pong(_) => continue,
                    Message::Close(_) => break,
                    Message::Text(_) => None,
                };
                let Some(event) = event else {
                    let _ = socket.send(violation()).await;
                    break;
                };
                if !deliver(&fallback, event).await {
                    break;
                }
            }
            payload = outgoing.recv() => {
                let Some(payload) = payload else { break };
                if !send(&mut socket, &mut frames, payload).await {
                    break;
                }
            }
        }
    }
    let _ = push_reliably(&fallback.inbound, NetEvent::Closed { connection }).await;
}

/// Hands an inbound event to the zone: stream events wait for room, datagram
/// ones are dropped (and counted) when the queue is full.
async fn deliver(fallback: &Fallback, event: NetEvent) -> bool {
    match event {
        NetEvent::Datagram { .. } => match fallback.inbound.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                fallback
                    .counters
                    .inbound_dropped
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        },
        other => push_reliably(&fallback.inbound, other).await,
    }
}

/// Writes one payload of the zone thread; `false` once the socket is done.
async fn send(socket: &mut WebSocket, frames: &mut FrameDecoder, payload: Payload) -> bool {
    match payload {
        Payload::Datagram(bytes) => write(socket, tagged(DATAGRAM, &bytes)).await,
        Payload::Stream(bytes) => {
            if frames.feed(&bytes).is_err() {
                return false;
            }
            loop {
                let message = match frames.next_frame() {
                    Ok(Some(message)) => tagged(STREAM, message),
                    Ok(None) => return true,
                    Err(_) => return false,
                };
                if !write(socket, message).await {
                    return false;
                }
            }
        }
        Payload::Close(reason) => {
            let label = meridian_netcode::metrics::disconnect_label(reason);
            let close = Message::Close(Some(CloseFrame {
                code: 1000,
                reason: label.into(),
            }));
            let _ = write(socket, close).await;
            false
        }
    }
}

/// Sends one message; `false` if the socket failed or the peer stopped reading
/// for [`SEND_TIMEOUT`].
async fn write(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

fn tagged(channel: u8, body: &[u8]) -> Message {
    let mut data = Vec::with_capacity(body.len() + 1);
    data.push(channel);
    data.extend_from_slice(body);
    Message::Binary(data.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_bytes(event: Option<NetEvent>) -> Option<Vec<u8>> {
        match event? {
            NetEvent::Stream { bytes, .. } => Some(bytes.to_vec()),
            _ => None,
        }
    }

    #[test]
    fn stream_messages_are_framed_for_the_server() {
        let id = ConnectionId(3);
        // Channel 0, then a Disconnect (4, 0): the server sees one frame of 2 bytes.
        assert_eq!(stream_bytes(event_of(id, &[0, 4, 0])), Some(vec![2, 4, 0]));
        let largest = vec![0u8; 1 + Channel::Stream.max_message_bytes()];
        let framed = stream_bytes(event_of(id, &largest)).expect("the largest fits");
        assert_eq!(framed.len(), 3 + Channel::Stream.max_message_bytes());
    }

    #[test]
    fn datagram_messages_pass_as_they_are() {
        match event_of(ConnectionId(1), &[1, 2, 5]) {
            Some(NetEvent::Datagram { bytes, .. }) => assert_eq!(bytes.to_vec(), [2, 5]),
            other => panic!("expected a datagram, got {other:?}"),
        }
    }

    #[test]
    fn anything_else_breaks_the_rules() {
        let id = ConnectionId(1);
        assert!(event_of(id, &[]).is_none(), "no channel byte");
        assert!(event_of(id, &[2, 0]).is_none(), "unknown channel");
        let mut too_big = vec![1u8];
        too_big.resize(2 + Channel::Datagram.max_message_bytes(), 0);
        assert!(event_of(id, &too_big).is_none(), "over the datagram limit");
        let mut too_long = vec![0u8];
        too_long.resize(2 + Channel::Stream.max_message_bytes(), 0);
        assert!(event_of(id, &too_long).is_none(), "over the stream limit");
    }
}
