//! QUIC variable-length integers (RFC 9000 section 16), as HTTP/3 frames,
//! stream types, settings and datagram prefixes use them: the two high bits
//! of the first byte give the length (1, 2, 4 or 8 bytes), the rest is the
//! value, big-endian.

/// The largest value a variable-length integer holds (2^62 - 1).
pub const MAX: u64 = (1 << 62) - 1;

/// Reads one integer from the start of `bytes`: the value and how many bytes
/// it took, or `None` if `bytes` ends before it does.
pub fn decode(bytes: &[u8]) -> Option<(u64, usize)> {
    let first = *bytes.first()?;
    let length = 1usize << (first >> 6);
    let encoded = bytes.get(..length)?;
    let mut value = u64::from(first & 0x3f);
    for byte in &encoded[1..] {
        value = (value << 8) | u64::from(*byte);
    }
    Some((value, length))
}

/// How many bytes `value` takes encoded (values above [`MAX`] are clamped).
pub fn encoded_len(value: u64) -> usize {
    match value {
        0..=0x3f => 1,
        0x40..=0x3fff => 2,
        0x4000..=0x3fff_ffff => 4,
        _ => 8,
    }
}

/// Appends `value` in its shortest encoding. Values above [`MAX`] are
/// clamped to it: every caller writes constants or stream ids, which QUIC
/// keeps below it.
pub fn encode(value: u64, out: &mut Vec<u8>) {
    let value = value.min(MAX);
    match encoded_len(value) {
        1 => out.push(value as u8),
        2 => out.extend_from_slice(&(value as u16 | 0x4000).to_be_bytes()),
        4 => out.extend_from_slice(&(value as u32 | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&(value | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_9000_examples_decode() {
        let examples: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, value) in examples {
            assert_eq!(decode(bytes), Some((value, bytes.len())));
        }
        // A longer encoding than needed is still valid.
        assert_eq!(decode(&[0x40, 0x25]), Some((37, 2)));
    }

    #[test]
    fn truncated_input_is_incomplete() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0x7b]), None);
        assert_eq!(decode(&[0xc2, 0x19, 0x7c]), None);
    }

    #[test]
    fn webtransport_constants_take_their_lengths() {
        let mut out = Vec::new();
        encode(0x41, &mut out);
        assert_eq!(out, [0x40, 0x41]);
        out.clear();
        encode(0x2b60_3742, &mut out);
        assert_eq!(out, [0xab, 0x60, 0x37, 0x42]);
        out.clear();
        encode(0xc671_706a, &mut out);
        assert_eq!(out.len(), 8);
        assert_eq!(decode(&out), Some((0xc671_706a, 8)));
    }

    proptest! {
        #[test]
        fn every_value_round_trips(value in 0..=MAX) {
            let mut out = Vec::new();
            encode(value, &mut out);
            prop_assert_eq!(out.len(), encoded_len(value));
            prop_assert_eq!(decode(&out), Some((value, out.len())));
        }
    }
}
