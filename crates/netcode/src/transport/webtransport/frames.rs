//! HTTP/3 frames (RFC 9114 section 7) and the identifiers a WebTransport
//! server needs: stream types, frame types, settings. A frame is a type and
//! a length (both variable-length integers) followed by that many bytes.

use super::error::H3Error;
use super::varint;

/// Types of unidirectional streams (their first integer).
pub mod stream_type {
    /// The control stream (one per side).
    pub const CONTROL: u64 = 0x00;
    /// A server push stream (never from a client).
    pub const PUSH: u64 = 0x01;
    /// The QPACK encoder stream.
    pub const QPACK_ENCODER: u64 = 0x02;
    /// The QPACK decoder stream.
    pub const QPACK_DECODER: u64 = 0x03;
}

/// The first integer of a bidirectional WebTransport stream, followed by its
/// session id.
pub const WEBTRANSPORT_STREAM: u64 = 0x41;

/// Frame types.
pub mod frame_type {
    /// DATA.
    pub const DATA: u64 = 0x00;
    /// HEADERS.
    pub const HEADERS: u64 = 0x01;
    /// CANCEL_PUSH.
    pub const CANCEL_PUSH: u64 = 0x03;
    /// SETTINGS.
    pub const SETTINGS: u64 = 0x04;
    /// PUSH_PROMISE.
    pub const PUSH_PROMISE: u64 = 0x05;
    /// GOAWAY.
    pub const GOAWAY: u64 = 0x07;
    /// MAX_PUSH_ID.
    pub const MAX_PUSH_ID: u64 = 0x0d;
}

/// Setting identifiers.
pub mod setting {
    /// SETTINGS_QPACK_MAX_TABLE_CAPACITY (RFC 9204).
    pub const QPACK_MAX_TABLE_CAPACITY: u64 = 0x01;
    /// SETTINGS_MAX_FIELD_SECTION_SIZE.
    pub const MAX_FIELD_SECTION_SIZE: u64 = 0x06;
    /// SETTINGS_QPACK_BLOCKED_STREAMS (RFC 9204).
    pub const QPACK_BLOCKED_STREAMS: u64 = 0x07;
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 9220): extended CONNECT.
    pub const ENABLE_CONNECT_PROTOCOL: u64 = 0x08;
    /// SETTINGS_H3_DATAGRAM (RFC 9297).
    pub const H3_DATAGRAM: u64 = 0x33;
    /// SETTINGS_ENABLE_WEBTRANSPORT (WebTransport over HTTP/3, draft 02).
    pub const ENABLE_WEBTRANSPORT: u64 = 0x2b60_3742;
    /// SETTINGS_WEBTRANSPORT_MAX_SESSIONS (drafts 07 and later).
    pub const WEBTRANSPORT_MAX_SESSIONS: u64 = 0xc671_706a;
}

/// One whole frame at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Its type.
    pub kind: u64,
    /// Its payload.
    pub payload: &'a [u8],
    /// Bytes it took in the buffer (header and payload).
    pub length: usize,
}

/// Reads the frame at the start of `bytes`: `Ok(None)` if more bytes are
/// needed, an error if it declares a payload over `max_payload` (nothing
/// this server reads is that large, so it is never buffered).
pub fn parse_frame(bytes: &[u8], max_payload: usize) -> Result<Option<Frame<'_>>, H3Error> {
    let Some((kind, kind_length)) = varint::decode(bytes) else {
        return Ok(None);
    };
    let Some((payload_length, length_length)) = varint::decode(&bytes[kind_length..]) else {
        return Ok(None);
    };
    let payload_length =
        usize::try_from(payload_length).map_err(|_| H3Error::FrameTooLarge(max_payload))?;
    if payload_length > max_payload {
        return Err(H3Error::FrameTooLarge(max_payload));
    }
    let start = kind_length + length_length;
    Ok(bytes
        .get(start..start + payload_length)
        .map(|payload| Frame {
            kind,
            payload,
            length: start + payload_length,
        }))
}

/// Appends a frame.
pub fn write_frame(kind: u64, payload: &[u8], out: &mut Vec<u8>) {
    varint::encode(kind, out);
    varint::encode(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Whether frames of this type are HTTP/2 ones HTTP/3 forbids (0x02, 0x06,
/// 0x08, 0x09): receiving one is a connection error.
pub fn is_http2_frame(kind: u64) -> bool {
    matches!(kind, 0x02 | 0x06 | 0x08 | 0x09)
}

/// A SETTINGS payload's pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pairs: Vec<(u64, u64)>,
}

/// At most this many settings are kept (unknown ones count too).
const MAX_SETTINGS: usize = 64;

impl Settings {
    /// Settings from pairs.
    pub fn new(pairs: &[(u64, u64)]) -> Self {
        Self {
            pairs: pairs.to_vec(),
        }
    }

    /// What a WebTransport server announces: extended CONNECT, HTTP
    /// datagrams, WebTransport (draft 02's switch and later drafts' session
    /// count, one session), and no QPACK dynamic table.
    pub fn webtransport_server() -> Self {
        Self::new(&[
            (setting::QPACK_MAX_TABLE_CAPACITY, 0),
            (setting::QPACK_BLOCKED_STREAMS, 0),
            (setting::ENABLE_CONNECT_PROTOCOL, 1),
            (setting::H3_DATAGRAM, 1),
            (setting::ENABLE_WEBTRANSPORT, 1),
            (setting::WEBTRANSPORT_MAX_SESSIONS, 1),
        ])
    }

    /// Parses a SETTINGS payload: an identifier seen twice, an HTTP/2
    /// identifier (0x02 to 0x05) or more than 64 pairs are refused.
    pub fn decode(mut payload: &[u8]) -> Result<Self, H3Error> {
        let mut pairs = Vec::new();
        while !payload.is_empty() {
            let (id, id_length) = varint::decode(payload).ok_or(H3Error::Frame)?;
            let (value, value_length) =
                varint::decode(&payload[id_length..]).ok_or(H3Error::Frame)?;
            payload = &payload[id_length + value_length..];
            if (0x02..=0x05).contains(&id)
                || pairs.iter().any(|(seen, _)| *seen == id)
                || pairs.len() == MAX_SETTINGS
            {
                return Err(H3Error::Settings);
            }
            pairs.push((id, value));
        }
        Ok(Self { pairs })
    }

    /// Appends the SETTINGS frame.
    pub fn write_frame(&self, out: &mut Vec<u8>) {
        let mut payload = Vec::new();
        for (id, value) in &self.pairs {
            varint::encode(*id, &mut payload);
            varint::encode(*value, &mut payload);
        }
        write_frame(frame_type::SETTINGS, &payload, out);
    }

    /// The value of a setting, if sent.
    pub fn get(&self, id: u64) -> Option<u64> {
        self.pairs
            .iter()
            .find(|(seen, _)| *seen == id)
            .map(|(_, value)| *value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_frame_needs_all_its_bytes() {
        let mut out = Vec::new();
        write_frame(frame_type::HEADERS, b"abc", &mut out);
        assert_eq!(out, [0x01, 0x03, b'a', b'b', b'c']);
        for cut in 0..out.len() {
            assert_eq!(parse_frame(&out[..cut], 16), Ok(None), "cut at {cut}");
        }
        let frame = parse_frame(&out, 16).expect("valid").expect("whole");
        assert_eq!(
            (frame.kind, frame.payload, frame.length),
            (1, &b"abc"[..], 5)
        );
    }

    #[test]
    fn an_oversized_frame_is_refused_before_its_payload_arrives() {
        let header = [0x01, 0x80, 0x01, 0x00, 0x00]; // HEADERS of 65,536 bytes
        assert_eq!(
            parse_frame(&header, 16 * 1024),
            Err(H3Error::FrameTooLarge(16 * 1024))
        );
        let huge = [0x21, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(parse_frame(&huge, 16).is_err());
    }

    #[test]
    fn server_settings_round_trip() {
        let settings = Settings::webtransport_server();
        let mut out = Vec::new();
        settings.write_frame(&mut out);
        let frame = parse_frame(&out, 1024).expect("valid").expect("whole");
        assert_eq!(frame.kind, frame_type::SETTINGS);
        let decoded = Settings::decode(frame.payload).expect("valid");
        assert_eq!(decoded, settings);
        assert_eq!(decoded.get(setting::H3_DATAGRAM), Some(1));
        assert_eq!(decoded.get(setting::WEBTRANSPORT_MAX_SESSIONS), Some(1));
        assert_eq!(decoded.get(setting::MAX_FIELD_SECTION_SIZE), None);
    }

    #[test]
    fn bad_settings_are_refused() {
        // Repeated identifier.
        assert_eq!(
            Settings::decode(&[0x33, 0x01, 0x33, 0x01]),
            Err(H3Error::Settings)
        );
        // HTTP/2's SETTINGS_ENABLE_PUSH.
        assert_eq!(Settings::decode(&[0x02, 0x00]), Err(H3Error::Settings));
        // A value missing.
        assert_eq!(Settings::decode(&[0x33]), Err(H3Error::Frame));
        // Unknown (greased) identifiers are kept and ignored.
        let greased = Settings::decode(&[0x40, 0x21, 0x07]).expect("valid");
        assert_eq!(greased.get(0x21), Some(7));
    }

    proptest! {
        #[test]
        fn frames_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_frame(&bytes, 32);
            let _ = Settings::decode(&bytes);
        }
    }
}
