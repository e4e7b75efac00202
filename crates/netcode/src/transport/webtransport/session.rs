//! The server side of one HTTP/3 connection carrying one WebTransport
//! session, without sockets or quinn: it is fed each stream's bytes and says
//! what to answer.
//!
//! - Its own unidirectional streams are the control stream (SETTINGS) and the
//!   QPACK encoder and decoder streams ([`server_streams`]).
//! - Of the client's unidirectional streams, the control stream must begin
//!   with SETTINGS; the QPACK streams and types this server does not know
//!   (WebTransport's own, greased ones) are read and ignored.
//! - A client bidirectional stream either begins with a frame (a request:
//!   the extended CONNECT) or with the WebTransport signal `0x41` and a
//!   session id (a stream of that session). A CONNECT with `:protocol
//!   webtransport` at the configured path opens the session (`:status 200`);
//!   any other request gets `:status 404`.
//! - A datagram of the session begins with its quarter stream id.
//!
//! Buffers are bounded: frames over [`MAX_FRAME`] bytes close the
//! connection, and bytes this server ignores are never kept.

use std::collections::HashMap;

use super::error::H3Error;
use super::frames::{
    Settings, WEBTRANSPORT_STREAM, frame_type, is_http2_frame, parse_frame, stream_type,
    write_frame,
};
use super::qpack::{decode_field_section, encode_field_section};
use super::varint;

/// The largest frame read from the client (a CONNECT's field section, a
/// SETTINGS, an ignored control frame).
pub const MAX_FRAME: usize = 16 * 1024;

/// The three unidirectional streams a server opens, each with its type:
/// control (with SETTINGS), QPACK encoder, QPACK decoder.
pub fn server_streams() -> [Vec<u8>; 3] {
    let mut control = Vec::new();
    varint::encode(stream_type::CONTROL, &mut control);
    Settings::webtransport_server().write_frame(&mut control);
    [
        control,
        vec![stream_type::QPACK_ENCODER as u8],
        vec![stream_type::QPACK_DECODER as u8],
    ]
}

/// What the connection must do after bytes on a bidirectional stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Nothing yet.
    Nothing,
    /// Write `response` (a HEADERS frame) on the stream; if `accepted`, the
    /// session is open, else the stream is to be finished.
    Answer {
        /// The HEADERS frame.
        response: Vec<u8>,
        /// Whether the session is now open.
        accepted: bool,
    },
    /// The stream belongs to the session; its payload starts `offset` bytes
    /// into the bytes just given.
    SessionStream {
        /// Where the payload starts in the bytes just given.
        offset: usize,
    },
    /// The session's CONNECT stream ended: the session is over.
    SessionEnded,
}

/// A client unidirectional stream.
#[derive(Debug)]
enum UniStream {
    /// Its type is not complete yet.
    Typing(Vec<u8>),
    /// The client's control stream; `settings` once they arrived.
    Control { buffer: Vec<u8>, settings: bool },
    /// Read and dropped.
    Ignored,
}

/// A client bidirectional stream.
#[derive(Debug)]
enum BidiStream {
    /// Its first integer is not complete yet.
    Starting(Vec<u8>),
    /// A request: frames until the HEADERS.
    Request(Vec<u8>),
    /// A WebTransport stream whose session id is not complete yet.
    Signalled(Vec<u8>),
    /// The session's CONNECT stream after its answer: capsules, ignored.
    Session,
    /// Answered with an error, a stream of another session, or the rest of
    /// a stream handed over: read and dropped.
    Ignored,
}

/// One HTTP/3 connection's WebTransport state.
#[derive(Debug)]
pub struct Session {
    path: &'static [u8],
    uni: HashMap<u64, UniStream>,
    bidi: HashMap<u64, BidiStream>,
    control_opened: bool,
    peer_settings: Option<Settings>,
    /// The CONNECT stream's id once the session is open.
    session_id: Option<u64>,
}

impl Session {
    /// A connection whose session is served at `path` (`/meridian`).
    pub fn new(path: &'static [u8]) -> Self {
        Self {
            path,
            uni: HashMap::new(),
            bidi: HashMap::new(),
            control_opened: false,
            peer_settings: None,
            session_id: None,
        }
    }

    /// The session's id (its CONNECT stream's id) once it is open.
    pub fn session_id(&self) -> Option<u64> {
        self.session_id
    }

    /// The client's SETTINGS, once they arrived.
    pub fn peer_settings(&self) -> Option<&Settings> {
        self.peer_settings.as_ref()
    }

    /// Bytes of the client's unidirectional stream `stream`; `fin` if it ended.
    pub fn receive_uni(&mut self, stream: u64, data: &[u8], fin: bool) -> Result<(), H3Error> {
        let state = self
            .uni
            .entry(stream)
            .or_insert_with(|| UniStream::Typing(Vec::new()));
        let mut data = data;
        if let UniStream::Typing(buffer) = state {
            let taken = data.len().min(8);
            buffer.extend_from_slice(&data[..taken]);
            match varint::decode(buffer) {
                None => {
                    if fin {
                        self.uni.remove(&stream);
                    }
                    return Ok(());
                }
                Some((kind, length)) => {
                    // What of the buffer was not the type comes from `data`.
                    let rest = &data[taken - (buffer.len() - length)..];
                    data = rest;
                    *state = match kind {
                        stream_type::CONTROL if self.control_opened => {
                            return Err(H3Error::StreamCreation(kind));
                        }
                        stream_type::CONTROL => {
                            self.control_opened = true;
                            UniStream::Control {
                                buffer: Vec::new(),
                                settings: false,
                            }
                        }
                        stream_type::PUSH => return Err(H3Error::StreamCreation(kind)),
                        _ => UniStream::Ignored,
                    };
                }
            }
        }
        match state {
            UniStream::Control { buffer, settings } => {
                buffer.extend_from_slice(data);
                let mut consumed = 0;
                while let Some(frame) = parse_frame(&buffer[consumed..], MAX_FRAME)? {
                    consumed += frame.length;
                    match frame.kind {
                        frame_type::SETTINGS if !*settings => {
                            *settings = true;
                            self.peer_settings = Some(Settings::decode(frame.payload)?);
                        }
                        _ if !*settings => return Err(H3Error::MissingSettings),
                        frame_type::SETTINGS
                        | frame_type::DATA
                        | frame_type::HEADERS
                        | frame_type::PUSH_PROMISE => {
                            return Err(H3Error::FrameUnexpected(frame.kind));
                        }
                        kind if is_http2_frame(kind) => {
                            return Err(H3Error::FrameUnexpected(kind));
                        }
                        // GOAWAY, MAX_PUSH_ID, CANCEL_PUSH, unknown: nothing to do.
                        _ => {}
                    }
                }
                buffer.drain(..consumed);
                if fin {
                    return Err(H3Error::ClosedCriticalStream);
                }
            }
            UniStream::Typing(_) | UniStream::Ignored => {
                if fin {
                    self.uni.remove(&stream);
                }
            }
        }
        Ok(())
    }

    /// Bytes of the client's bidirectional stream `stream`; `fin` if it
    /// ended (or was reset).
    pub fn receive_bidi(
        &mut self,
        stream: u64,
        data: &[u8],
        fin: bool,
    ) -> Result<Received, H3Error> {
        let state = self
            .bidi
            .entry(stream)
            .or_insert_with(|| BidiStream::Starting(Vec::new()));
        // Bytes of `data` already accounted for by the state's buffer.
        let mut used = 0;
        if let BidiStream::Starting(buffer) = state {
            let taken = data.len().min(8);
            buffer.extend_from_slice(&data[..taken]);
            used = taken;
            match varint::decode(buffer) {
                None => {}
                Some((WEBTRANSPORT_STREAM, length)) => {
                    let rest = buffer.split_off(length);
                    *state = BidiStream::Signalled(rest);
                }
                Some(_) => *state = BidiStream::Request(std::mem::take(buffer)),
            }
        }
        let received = match state {
            BidiStream::Starting(_) | BidiStream::Ignored => Received::Nothing,
            BidiStream::Signalled(buffer) => {
                buffer.extend_from_slice(&data[used..(used + 8).min(data.len())]);
                let appended = (used + 8).min(data.len()) - used;
                match varint::decode(buffer) {
                    None => Received::Nothing,
                    Some((session, length)) => {
                        // The payload starts after the id, which ends `extra`
                        // bytes before the end of the buffer.
                        let extra = buffer.len() - length;
                        let offset = used + appended - extra;
                        *state = BidiStream::Ignored;
                        if Some(session) == self.session_id {
                            Received::SessionStream { offset }
                        } else {
                            // Another session's (none exists): dropped.
                            Received::Nothing
                        }
                    }
                }
            }
            BidiStream::Request(buffer) => {
                buffer.extend_from_slice(&data[used..]);
                match read_request(buffer)? {
                    None if fin => {
                        // Ended before its HEADERS: nothing to answer.
                        *state = BidiStream::Ignored;
                        Received::Nothing
                    }
                    None => Received::Nothing,
                    Some(request) => {
                        let accepted = self.session_id.is_none()
                            && request.method == b"CONNECT"
                            && request.protocol.as_deref() == Some(b"webtransport")
                            && request.path == self.path;
                        let status: &[u8] = if accepted { b"200" } else { b"404" };
                        let mut section = Vec::new();
                        encode_field_section(&[(b":status", status)], &mut section);
                        let mut response = Vec::new();
                        write_frame(frame_type::HEADERS, &section, &mut response);
                        if accepted {
                            self.session_id = Some(stream);
                            *state = BidiStream::Session;
                        } else {
                            *state = BidiStream::Ignored;
                        }
                        return Ok(Received::Answer { response, accepted });
                    }
                }
            }
            BidiStream::Session if fin => Received::SessionEnded,
            BidiStream::Session => Received::Nothing,
        };
        if fin {
            self.bidi.remove(&stream);
        }
        Ok(received)
    }

    /// Where a datagram's payload starts, if it belongs to the open session
    /// (its quarter stream id matches).
    pub fn datagram_payload_offset(&self, datagram: &[u8]) -> Option<usize> {
        let session = self.session_id?;
        match varint::decode(datagram)? {
            (quarter, length) if quarter == session / 4 => Some(length),
            _ => None,
        }
    }

    /// Appends the prefix of the session's datagrams (nothing before it opens).
    pub fn write_datagram_prefix(&self, out: &mut Vec<u8>) {
        if let Some(session) = self.session_id {
            varint::encode(session / 4, out);
        }
    }
}

/// The pseudo-headers a session request is judged by.
#[derive(Debug)]
struct Request {
    method: Vec<u8>,
    protocol: Option<Vec<u8>>,
    path: Vec<u8>,
}

/// Reads a request's frames up to its HEADERS: `None` until it is whole.
/// Unknown frames before it are skipped; DATA or a control frame is
/// unexpected; a request without `:method` or `:path` is malformed.
fn read_request(buffer: &mut Vec<u8>) -> Result<Option<Request>, H3Error> {
    let mut consumed = 0;
    let mut request = None;
    while let Some(frame) = parse_frame(&buffer[consumed..], MAX_FRAME)? {
        consumed += frame.length;
        match frame.kind {
            frame_type::HEADERS => {
                let mut method = None;
                let mut protocol = None;
                let mut path = None;
                for field in decode_field_section(frame.payload)? {
                    match field.name.as_slice() {
                        b":method" => method = Some(field.value),
                        b":protocol" => protocol = Some(field.value),
                        b":path" => path = Some(field.value),
                        _ => {}
                    }
                }
                let (Some(method), Some(path)) = (method, path) else {
                    return Err(H3Error::Message);
                };
                request = Some(Request {
                    method,
                    protocol,
                    path,
                });
                break;
            }
            frame_type::DATA
            | frame_type::SETTINGS
            | frame_type::GOAWAY
            | frame_type::MAX_PUSH_ID
            | frame_type::CANCEL_PUSH
            | frame_type::PUSH_PROMISE => return Err(H3Error::FrameUnexpected(frame.kind)),
            kind if is_http2_frame(kind) => return Err(H3Error::FrameUnexpected(kind)),
            _ => {}
        }
    }
    buffer.drain(..consumed);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::webtransport::qpack::Field;

    const PATH: &[u8] = b"/meridian";

    fn client_control() -> Vec<u8> {
        let mut out = vec![stream_type::CONTROL as u8];
        Settings::new(&[(0x33, 1), (0x2b60_3742, 1), (0x21, 0)]).write_frame(&mut out);
        // A greased frame after SETTINGS is ignored.
        write_frame(0x21, b"grease", &mut out);
        out
    }

    fn request(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut section = Vec::new();
        encode_field_section(fields, &mut section);
        let mut out = Vec::new();
        write_frame(frame_type::HEADERS, &section, &mut out);
        out
    }

    fn connect(path: &[u8]) -> Vec<u8> {
        request(&[
            (b":method", b"CONNECT"),
            (b":protocol", b"webtransport"),
            (b":scheme", b"https"),
            (b":authority", b"127.0.0.1:4433"),
            (b":path", path),
            (b"origin", b"http://127.0.0.1:8080"),
        ])
    }

    fn status(received: &Received) -> Vec<Field> {
        let Received::Answer { response, .. } = received else {
            panic!("no answer: {received:?}");
        };
        let frame = parse_frame(response, MAX_FRAME).unwrap().unwrap();
        assert_eq!(frame.kind, frame_type::HEADERS);
        decode_field_section(frame.payload).unwrap()
    }

    /// Feeds `bytes` one byte at a time and returns every non-empty answer.
    fn trickle(session: &mut Session, stream: u64, bytes: &[u8]) -> Vec<(usize, Received)> {
        let mut out = Vec::new();
        for (at, byte) in bytes.iter().enumerate() {
            let received = session.receive_bidi(stream, &[*byte], false).unwrap();
            if received != Received::Nothing {
                out.push((at, received));
            }
        }
        out
    }

    /// Feeds `bytes` in pieces cut at `cuts` and returns the answers with
    /// where they came (for a stream, the offset within all of `bytes`).
    fn in_pieces(
        session: &mut Session,
        stream: u64,
        bytes: &[u8],
        cuts: &[usize],
    ) -> Vec<(usize, bool)> {
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let mut out = Vec::new();
        for piece in cuts.windows(2) {
            match session.receive_bidi(stream, &bytes[piece[0]..piece[1]], false) {
                Ok(Received::Answer { accepted, .. }) => out.push((piece[1], accepted)),
                Ok(Received::SessionStream { offset }) => out.push((piece[0] + offset, true)),
                Ok(Received::Nothing) => {}
                other => panic!("{other:?}"),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn any_cut_of_a_session_gives_the_same_answers(
            connect_cuts in proptest::collection::vec(0usize..512, 0..6),
            stream_cuts in proptest::collection::vec(0usize..512, 0..6),
        ) {
            let mut session = Session::new(PATH);
            let request = connect(PATH);
            let answers = in_pieces(&mut session, 0, &request, &connect_cuts);
            proptest::prop_assert_eq!(answers, vec![(request.len(), true)]);
            let stream = [0x40, 0x41, 0x00, b'h', b'i'];
            let opened = in_pieces(&mut session, 4, &stream, &stream_cuts);
            // Reported once, pointing at the first payload byte.
            proptest::prop_assert_eq!(opened.len(), 1);
            proptest::prop_assert_eq!(opened[0].0, 3);
        }

        #[test]
        fn any_bytes_on_any_stream_fail_cleanly(
            uni in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            bidi in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            fin in proptest::prelude::any::<bool>(),
        ) {
            let mut session = Session::new(PATH);
            let _ = session.receive_uni(2, &uni, fin);
            let _ = session.receive_bidi(0, &bidi, fin);
            let _ = session.datagram_payload_offset(&bidi);
        }
    }

    #[test]
    fn server_streams_carry_types_and_settings() {
        let [control, encoder, decoder] = server_streams();
        assert_eq!(control[0], 0x00);
        let frame = parse_frame(&control[1..], MAX_FRAME).unwrap().unwrap();
        let settings = Settings::decode(frame.payload).unwrap();
        assert_eq!(settings.get(0x08), Some(1), "extended CONNECT");
        assert_eq!(settings.get(0x33), Some(1), "HTTP datagrams");
        assert_eq!(settings.get(0x2b60_3742), Some(1), "WebTransport");
        assert_eq!(settings.get(0x01), Some(0), "no dynamic table");
        assert_eq!((encoder, decoder), (vec![0x02], vec![0x03]));
    }

    #[test]
    fn a_session_opens_and_its_stream_and_datagrams_are_recognised() {
        let mut session = Session::new(PATH);
        for byte in client_control() {
            session.receive_uni(2, &[byte], false).unwrap();
        }
        assert_eq!(session.peer_settings().unwrap().get(0x33), Some(1));
        // QPACK streams and an unknown type are read and ignored.
        session.receive_uni(6, &[0x02, 0x3f, 0xe1], false).unwrap();
        session.receive_uni(10, &[0x03], false).unwrap();
        session
            .receive_uni(14, &[0x40, 0x54, 1, 2, 3], true)
            .unwrap();

        let answers = trickle(&mut session, 0, &connect(PATH));
        assert_eq!(answers.len(), 1);
        assert!(matches!(
            answers[0].1,
            Received::Answer { accepted: true, .. }
        ));
        assert_eq!(
            status(&answers[0].1),
            [Field {
                name: b":status".to_vec(),
                value: b"200".to_vec()
            }]
        );
        assert_eq!(session.session_id(), Some(0));

        // The game stream: signal, session id, payload; whole or trickled.
        let stream = [0x40, 0x41, 0x00, b'h', b'i'];
        assert_eq!(
            session.receive_bidi(4, &stream, false),
            Ok(Received::SessionStream { offset: 3 })
        );
        assert_eq!(
            trickle(&mut session, 8, &stream),
            [(2, Received::SessionStream { offset: 1 })]
        );
        assert_eq!(
            session.receive_bidi(12, &stream[..1], false),
            Ok(Received::Nothing)
        );
        assert_eq!(
            session.receive_bidi(12, &stream[1..], false),
            Ok(Received::SessionStream { offset: 2 })
        );
        // A stream of another session is dropped.
        assert_eq!(
            session.receive_bidi(16, &[0x40, 0x41, 0x04, b'x'], false),
            Ok(Received::Nothing)
        );

        // Datagrams carry the quarter stream id (0 for stream 0).
        assert_eq!(session.datagram_payload_offset(&[0x00, b'd']), Some(1));
        assert_eq!(session.datagram_payload_offset(&[0x01, b'd']), None);
        assert_eq!(session.datagram_payload_offset(&[]), None);
        let mut prefix = Vec::new();
        session.write_datagram_prefix(&mut prefix);
        assert_eq!(prefix, [0x00]);

        // Capsules on the CONNECT stream are ignored; its end ends the session.
        assert_eq!(
            session.receive_bidi(0, &[0x68, 0x43, 0x00], false),
            Ok(Received::Nothing)
        );
        assert_eq!(
            session.receive_bidi(0, &[], true),
            Ok(Received::SessionEnded)
        );
    }

    #[test]
    fn chromium_s_request_opens_the_session() {
        let mut headers = Vec::new();
        write_frame(
            frame_type::HEADERS,
            &crate::transport::webtransport::qpack::CHROMIUM_CONNECT,
            &mut headers,
        );
        let mut session = Session::new(PATH);
        let answers = trickle(&mut session, 0, &headers);
        assert_eq!(answers.len(), 1);
        assert!(matches!(
            answers[0].1,
            Received::Answer { accepted: true, .. }
        ));
        assert_eq!(answers[0].0, headers.len() - 1, "answered at the last byte");
    }

    #[test]
    fn other_requests_get_404() {
        let mut session = Session::new(PATH);
        let elsewhere = session
            .receive_bidi(0, &connect(b"/elsewhere"), false)
            .unwrap();
        assert!(matches!(
            elsewhere,
            Received::Answer {
                accepted: false,
                ..
            }
        ));
        assert_eq!(status(&elsewhere)[0].value, b"404");
        let get = request(&[(b":method", b"GET"), (b":path", PATH)]);
        let get = session.receive_bidi(4, &get, true).unwrap();
        assert!(matches!(
            get,
            Received::Answer {
                accepted: false,
                ..
            }
        ));
        // Without a session, a WebTransport stream and datagrams are dropped.
        assert_eq!(
            session.receive_bidi(8, &[0x40, 0x41, 0x00, 1], false),
            Ok(Received::Nothing)
        );
        assert_eq!(session.datagram_payload_offset(&[0x00, 1]), None);
        // One session per connection: a second CONNECT is turned away.
        let first = session.receive_bidi(12, &connect(PATH), false).unwrap();
        assert!(matches!(first, Received::Answer { accepted: true, .. }));
        let second = session.receive_bidi(16, &connect(PATH), false).unwrap();
        assert!(matches!(
            second,
            Received::Answer {
                accepted: false,
                ..
            }
        ));
        assert_eq!(session.session_id(), Some(12));
    }

    #[test]
    fn a_request_that_ends_early_is_forgotten() {
        let mut session = Session::new(PATH);
        let connect = connect(PATH);
        assert_eq!(
            session.receive_bidi(0, &connect[..4], true),
            Ok(Received::Nothing)
        );
        assert_eq!(session.session_id(), None);
        assert!(session.bidi.is_empty());
    }

    #[test]
    fn broken_control_streams_close_the_connection() {
        let cases: [(&[&[u8]], H3Error); 5] = [
            // A frame before SETTINGS.
            (&[&[0x00, 0x07, 0x01, 0x00]], H3Error::MissingSettings),
            // SETTINGS twice.
            (
                &[&[0x00, 0x04, 0x00, 0x04, 0x00]],
                H3Error::FrameUnexpected(4),
            ),
            // DATA on the control stream.
            (
                &[&[0x00, 0x04, 0x00, 0x00, 0x00]],
                H3Error::FrameUnexpected(0),
            ),
            // HTTP/2's PRIORITY.
            (
                &[&[0x00, 0x04, 0x00, 0x02, 0x00]],
                H3Error::FrameUnexpected(2),
            ),
            // A frame larger than the server reads.
            (
                &[&[0x00, 0x04, 0x00, 0x21, 0x80, 0x01, 0x00, 0x00]],
                H3Error::FrameTooLarge(MAX_FRAME),
            ),
        ];
        for (chunks, error) in cases {
            let mut session = Session::new(PATH);
            let mut result = Ok(());
            for chunk in chunks {
                result = result.and(session.receive_uni(2, chunk, false));
            }
            assert_eq!(result, Err(error));
        }
        let mut session = Session::new(PATH);
        session.receive_uni(2, &client_control(), false).unwrap();
        assert_eq!(
            session.receive_uni(6, &[0x00], false),
            Err(H3Error::StreamCreation(0)),
            "a second control stream"
        );
        assert_eq!(
            session.receive_uni(10, &[0x01], false),
            Err(H3Error::StreamCreation(1)),
            "a push stream"
        );
        assert_eq!(
            session.receive_uni(2, &[], true),
            Err(H3Error::ClosedCriticalStream)
        );
    }

    #[test]
    fn broken_requests_close_the_connection() {
        let mut session = Session::new(PATH);
        assert_eq!(
            session.receive_bidi(0, &[0x00, 0x01, 0x00], false),
            Err(H3Error::FrameUnexpected(0)),
            "DATA before HEADERS"
        );
        let no_path = request(&[(b":method", b"CONNECT"), (b":protocol", b"webtransport")]);
        assert_eq!(
            session.receive_bidi(4, &no_path, false),
            Err(H3Error::Message)
        );
        let mut dynamic = Vec::new();
        write_frame(frame_type::HEADERS, &[0x02, 0x00, 0x80], &mut dynamic);
        assert!(matches!(
            session.receive_bidi(8, &dynamic, false),
            Err(H3Error::Qpack(_))
        ));
        // An unknown frame before HEADERS is skipped.
        let mut greased = Vec::new();
        write_frame(0x21, b"x", &mut greased);
        greased.extend_from_slice(&connect(PATH));
        assert!(matches!(
            session.receive_bidi(12, &greased, false),
            Ok(Received::Answer { accepted: true, .. })
        ));
    }
}
