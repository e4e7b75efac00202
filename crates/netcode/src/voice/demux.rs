//! Which session a datagram on the shared voice port belongs to.
//!
//! All sessions share one UDP port, so each datagram is classified by its
//! first byte (RFC 7983: STUN, DTLS, RTP/RTCP) before any session sees it.
//! A STUN binding request names its session in the USERNAME attribute
//! (`server-ufrag:client-ufrag`, RFC 8445 §7.2.2), which is how a session's
//! first datagram is recognised; everything else is matched by its source
//! address, learned when the session answered that address.

/// Largest datagram accepted on the voice port; WebRTC stays under 1,500.
pub const MAX_DATAGRAM: usize = 2_000;

/// Why a datagram on the voice port was dropped before reaching a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// Empty or longer than [`MAX_DATAGRAM`].
    Size,
    /// Its first byte is none of STUN, DTLS, RTP or RTCP.
    NotWebRtc,
    /// STUN without a readable USERNAME, or bytes str0m cannot parse.
    Malformed,
    /// STUN whose USERNAME names no session of this server.
    UnknownUfrag,
    /// DTLS, RTP or RTCP from an address no session has answered.
    UnknownAddress,
    /// Its session sent more than its rate allows.
    RateLimited,
    /// Its session's `Rtc` did not accept it (no ICE pair for that address).
    NotAccepted,
    /// Its session's `Rtc` returned an error on it.
    Rejected,
}

/// The kind of a datagram on a WebRTC port, by its first byte (RFC 7983 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramClass {
    /// 0..=3: STUN.
    Stun,
    /// 20..=63: DTLS.
    Dtls,
    /// 128..=191: RTP or RTCP.
    Rtp,
}

/// Classifies `datagram`, or says why it is refused.
pub fn classify(datagram: &[u8]) -> Result<DatagramClass, Refusal> {
    if datagram.is_empty() || datagram.len() > MAX_DATAGRAM {
        return Err(Refusal::Size);
    }
    match datagram[0] {
        0..=3 => Ok(DatagramClass::Stun),
        20..=63 => Ok(DatagramClass::Dtls),
        128..=191 => Ok(DatagramClass::Rtp),
        _ => Err(Refusal::NotWebRtc),
    }
}

const STUN_HEADER: usize = 20;
const STUN_MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const STUN_USERNAME: u16 = 0x0006;

/// The local (server) ufrag of a STUN message's USERNAME
/// (`local:remote`), or `None` when the message has no well-formed one.
///
/// Reads only what it needs and never trusts a length: every attribute is
/// checked against the message's end.
pub fn stun_local_ufrag(message: &[u8]) -> Option<&str> {
    if message.len() < STUN_HEADER || message[4..8] != STUN_MAGIC_COOKIE {
        return None;
    }
    let body_length = usize::from(u16::from_be_bytes([message[2], message[3]]));
    let end = STUN_HEADER.checked_add(body_length)?;
    let body = message.get(STUN_HEADER..end)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let length = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + length)?;
        if kind == STUN_USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            let (local, _remote) = username.split_once(':')?;
            return (!local.is_empty()).then_some(local);
        }
        // Attributes are padded to four bytes.
        at += 4 + length.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn binding_request(username: &[u8]) -> Vec<u8> {
        let padded = username.len().div_ceil(4) * 4;
        let mut message = vec![0x00, 0x01];
        // An unrelated attribute first (PRIORITY), then USERNAME.
        let body_length = 8 + 4 + padded;
        message.extend_from_slice(&u16::try_from(body_length).unwrap().to_be_bytes());
        message.extend_from_slice(&STUN_MAGIC_COOKIE);
        message.extend_from_slice(&[7; 12]);
        message.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        message.extend_from_slice(&STUN_USERNAME.to_be_bytes());
        message.extend_from_slice(&u16::try_from(username.len()).unwrap().to_be_bytes());
        message.extend_from_slice(username);
        message.resize(STUN_HEADER + body_length, 0);
        message
    }

    #[test]
    fn the_local_ufrag_is_read_from_username() {
        assert_eq!(
            stun_local_ufrag(&binding_request(b"srv1:cli")),
            Some("srv1")
        );
        assert_eq!(stun_local_ufrag(&binding_request(b"abc:de")), Some("abc"));
        assert_eq!(stun_local_ufrag(&binding_request(b"nocolon")), None);
        assert_eq!(stun_local_ufrag(&binding_request(b":cli")), None);
        let mut wrong_cookie = binding_request(b"srv1:cli");
        wrong_cookie[4] = 0;
        assert_eq!(stun_local_ufrag(&wrong_cookie), None);
    }

    #[test]
    fn a_length_beyond_the_message_is_refused() {
        let mut message = binding_request(b"srv1:cli");
        message[2] = 0xff;
        assert_eq!(stun_local_ufrag(&message), None);
        let mut message = binding_request(b"srv1:cli");
        let last_attribute_length = STUN_HEADER + 8 + 2;
        message[last_attribute_length] = 0xff;
        assert_eq!(stun_local_ufrag(&message), None);
    }

    #[test]
    fn first_bytes_classify_as_rfc_7983_says() {
        assert_eq!(classify(&[0, 1]), Ok(DatagramClass::Stun));
        assert_eq!(classify(&[22, 254, 253]), Ok(DatagramClass::Dtls));
        assert_eq!(classify(&[0x80, 111]), Ok(DatagramClass::Rtp));
        assert_eq!(classify(&[4]), Err(Refusal::NotWebRtc));
        assert_eq!(classify(&[200]), Err(Refusal::NotWebRtc));
        assert_eq!(classify(&[]), Err(Refusal::Size));
        assert_eq!(classify(&[0; MAX_DATAGRAM + 1]), Err(Refusal::Size));
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = classify(&bytes);
            if let Some(ufrag) = stun_local_ufrag(&bytes) {
                prop_assert!(!ufrag.is_empty());
            }
        }
    }
}
