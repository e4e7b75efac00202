//! QPACK field sections (RFC 9204) with the static table only: this server
//! announces a dynamic table capacity of 0, so a valid client never refers
//! to one, and a section that does is refused. Decoding takes indexed
//! fields, literals with a static name and literals with a literal name,
//! plain or Huffman-coded; encoding writes static matches and plain
//! literals.

use super::error::QpackError;
use super::huffman;

/// Fields a section may hold (a browser's CONNECT has about a dozen).
pub const MAX_FIELDS: usize = 64;

/// Bytes a decoded name or value may hold.
pub const MAX_STRING: usize = 4096;

/// One decoded field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Its name (lowercase, pseudo-headers start with ':').
    pub name: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
}

/// The static table (RFC 9204 appendix A).
const STATIC_TABLE: [(&[u8], &[u8]); 99] = [
    (b":authority", b""),
    (b":path", b"/"),
    (b"age", b"0"),
    (b"content-disposition", b""),
    (b"content-length", b"0"),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"referer", b""),
    (b"set-cookie", b""),
    (b":method", b"CONNECT"),
    (b":method", b"DELETE"),
    (b":method", b"GET"),
    (b":method", b"HEAD"),
    (b":method", b"OPTIONS"),
    (b":method", b"POST"),
    (b":method", b"PUT"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"103"),
    (b":status", b"200"),
    (b":status", b"304"),
    (b":status", b"404"),
    (b":status", b"503"),
    (b"accept", b"*/*"),
    (b"accept", b"application/dns-message"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"accept-ranges", b"bytes"),
    (b"access-control-allow-headers", b"cache-control"),
    (b"access-control-allow-headers", b"content-type"),
    (b"access-control-allow-origin", b"*"),
    (b"cache-control", b"max-age=0"),
    (b"cache-control", b"max-age=2592000"),
    (b"cache-control", b"max-age=604800"),
    (b"cache-control", b"no-cache"),
    (b"cache-control", b"no-store"),
    (b"cache-control", b"public, max-age=31536000"),
    (b"content-encoding", b"br"),
    (b"content-encoding", b"gzip"),
    (b"content-type", b"application/dns-message"),
    (b"content-type", b"application/javascript"),
    (b"content-type", b"application/json"),
    (b"content-type", b"application/x-www-form-urlencoded"),
    (b"content-type", b"image/gif"),
    (b"content-type", b"image/jpeg"),
    (b"content-type", b"image/png"),
    (b"content-type", b"text/css"),
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-type", b"text/plain"),
    (b"content-type", b"text/plain;charset=utf-8"),
    (b"range", b"bytes=0-"),
    (b"strict-transport-security", b"max-age=31536000"),
    (
        b"strict-transport-security",
        b"max-age=31536000; includesubdomains",
    ),
    (
        b"strict-transport-security",
        b"max-age=31536000; includesubdomains; preload",
    ),
    (b"vary", b"accept-encoding"),
    (b"vary", b"origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-xss-protection", b"1; mode=block"),
    (b":status", b"100"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"302"),
    (b":status", b"400"),
    (b":status", b"403"),
    (b":status", b"421"),
    (b":status", b"425"),
    (b":status", b"500"),
    (b"accept-language", b""),
    (b"access-control-allow-credentials", b"FALSE"),
    (b"access-control-allow-credentials", b"TRUE"),
    (b"access-control-allow-headers", b"*"),
    (b"access-control-allow-methods", b"get"),
    (b"access-control-allow-methods", b"get, post, options"),
    (b"access-control-allow-methods", b"options"),
    (b"access-control-expose-headers", b"content-length"),
    (b"access-control-request-headers", b"content-type"),
    (b"access-control-request-method", b"get"),
    (b"access-control-request-method", b"post"),
    (b"alt-svc", b"clear"),
    (b"authorization", b""),
    (
        b"content-security-policy",
        b"script-src 'none'; object-src 'none'; base-uri 'none'",
    ),
    (b"early-data", b"1"),
    (b"expect-ct", b""),
    (b"forwarded", b""),
    (b"if-range", b""),
    (b"origin", b""),
    (b"purpose", b"prefetch"),
    (b"server", b""),
    (b"timing-allow-origin", b"*"),
    (b"upgrade-insecure-requests", b"1"),
    (b"user-agent", b""),
    (b"x-forwarded-for", b""),
    (b"x-frame-options", b"deny"),
    (b"x-frame-options", b"sameorigin"),
];

/// Decodes a field section (a HEADERS frame's payload).
pub fn decode_field_section(section: &[u8]) -> Result<Vec<Field>, QpackError> {
    let mut reader = Reader {
        bytes: section,
        position: 0,
    };
    // Required Insert Count: anything but 0 needs the dynamic table.
    let first = reader.peek()?;
    if reader.integer(first, 8)? != 0 {
        return Err(QpackError::DynamicTable);
    }
    // Delta Base (sign bit and 7-bit integer): meaningless without a table.
    let base = reader.peek()?;
    reader.integer(base, 7)?;
    let mut fields = Vec::new();
    while !reader.at_end() {
        if fields.len() == MAX_FIELDS {
            return Err(QpackError::TooLarge);
        }
        let first = reader.peek()?;
        let field = if first & 0x80 != 0 {
            // Indexed field line: 1 T index(6).
            if first & 0x40 == 0 {
                return Err(QpackError::DynamicTable);
            }
            let (name, value) = static_entry(reader.integer(first, 6)?)?;
            Field {
                name: name.to_vec(),
                value: value.to_vec(),
            }
        } else if first & 0x40 != 0 {
            // Literal with name reference: 0 1 N T index(4).
            if first & 0x10 == 0 {
                return Err(QpackError::DynamicTable);
            }
            let (name, _) = static_entry(reader.integer(first, 4)?)?;
            Field {
                name: name.to_vec(),
                value: reader.string(7)?,
            }
        } else if first & 0x20 != 0 {
            // Literal with literal name: 0 0 1 N H length(3).
            let name = reader.string(3)?;
            Field {
                name,
                value: reader.string(7)?,
            }
        } else {
            // Post-base forms refer to the dynamic table.
            return Err(QpackError::DynamicTable);
        };
        fields.push(field);
    }
    Ok(fields)
}

/// Appends a field section holding `fields`: an exact static match as an
/// indexed line, a static name with a literal value, else literal name and
/// value (never Huffman-coded, never indexed in a dynamic table).
pub fn encode_field_section(fields: &[(&[u8], &[u8])], out: &mut Vec<u8>) {
    // Required Insert Count 0, Delta Base 0.
    out.extend_from_slice(&[0x00, 0x00]);
    for (name, value) in fields {
        if let Some(index) = STATIC_TABLE
            .iter()
            .position(|entry| entry == &(*name, *value))
        {
            write_integer(0xc0, 6, index as u64, out);
        } else if let Some(index) = STATIC_TABLE.iter().position(|entry| entry.0 == *name) {
            write_integer(0x50, 4, index as u64, out);
            write_integer(0x00, 7, value.len() as u64, out);
            out.extend_from_slice(value);
        } else {
            write_integer(0x20, 3, name.len() as u64, out);
            out.extend_from_slice(name);
            write_integer(0x00, 7, value.len() as u64, out);
            out.extend_from_slice(value);
        }
    }
}

fn static_entry(index: u64) -> Result<(&'static [u8], &'static [u8]), QpackError> {
    usize::try_from(index)
        .ok()
        .and_then(|index| STATIC_TABLE.get(index))
        .copied()
        .ok_or(QpackError::StaticIndex(index))
}

/// Appends an integer with an N-bit prefix (RFC 7541 section 5.1) into a
/// first byte whose other bits are `flags`.
fn write_integer(flags: u8, prefix_bits: u32, value: u64, out: &mut Vec<u8>) {
    let max_prefix = (1u64 << prefix_bits) - 1;
    if value < max_prefix {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// A cursor over a field section.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Reader<'_> {
    fn at_end(&self) -> bool {
        self.position >= self.bytes.len()
    }

    fn peek(&self) -> Result<u8, QpackError> {
        self.bytes
            .get(self.position)
            .copied()
            .ok_or(QpackError::Truncated)
    }

    fn next(&mut self) -> Result<u8, QpackError> {
        let byte = self.peek()?;
        self.position += 1;
        Ok(byte)
    }

    /// Reads an integer whose prefix is the low `prefix_bits` of the current
    /// byte (`first`, already peeked); values past 2^32 are refused.
    fn integer(&mut self, first: u8, prefix_bits: u32) -> Result<u64, QpackError> {
        self.next()?;
        let max_prefix = (1u64 << prefix_bits) - 1;
        let mut value = u64::from(first) & max_prefix;
        if value < max_prefix {
            return Ok(value);
        }
        let mut shift = 0;
        loop {
            let byte = self.next()?;
            value += u64::from(byte & 0x7f) << shift;
            if value > u64::from(u32::MAX) {
                return Err(QpackError::IntegerOverflow);
            }
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// Reads a string whose length has a `prefix_bits` prefix, with the
    /// Huffman flag just above it.
    fn string(&mut self, prefix_bits: u32) -> Result<Vec<u8>, QpackError> {
        let first = self.peek()?;
        let huffman_coded = first & (1 << prefix_bits) != 0;
        let length = usize::try_from(self.integer(first, prefix_bits)?)
            .map_err(|_| QpackError::IntegerOverflow)?;
        if length > MAX_STRING {
            return Err(QpackError::TooLarge);
        }
        let end = self.position + length;
        let raw = self
            .bytes
            .get(self.position..end)
            .ok_or(QpackError::Truncated)?;
        self.position = end;
        if !huffman_coded {
            return Ok(raw.to_vec());
        }
        let mut out = Vec::with_capacity(length * 2);
        huffman::decode(raw, &mut out, MAX_STRING).map_err(|_| QpackError::Huffman)?;
        Ok(out)
    }
}

/// The field section of Chromium 156's CONNECT for a WebTransport
/// session (captured from the end-to-end test on 2026-12-06): static
/// references and Huffman-coded literals.
#[cfg(test)]
pub(crate) const CHROMIUM_CONNECT: [u8; 89] = [
    0x00, 0x00, 0xd7, 0xcf, 0x50, 0x8b, 0x08, 0x9d, 0x5c, 0x0b, 0x81, 0x70, 0xdc, 0x6d, 0xa7, 0x9c,
    0x6b, 0x51, 0x87, 0x62, 0x92, 0xd8, 0x69, 0x0c, 0x3a, 0xbf, 0x2f, 0x00, 0xb9, 0x5d, 0x87, 0x49,
    0xc8, 0x7a, 0x3f, 0x89, 0xf0, 0x58, 0xd3, 0x60, 0xea, 0x45, 0x67, 0xb1, 0x3f, 0x2f, 0x0e, 0x41,
    0x48, 0xb7, 0x82, 0xc6, 0x9b, 0x07, 0x52, 0x2b, 0x3d, 0x89, 0x5a, 0x74, 0xa6, 0xb6, 0x56, 0x92,
    0xc1, 0xca, 0x90, 0x0b, 0x01, 0x31, 0x5f, 0x4b, 0x90, 0x9d, 0x29, 0xae, 0xe3, 0x0c, 0x04, 0x4e,
    0xae, 0x05, 0xc0, 0xb8, 0x6e, 0x34, 0xcb, 0x2f, 0xb7,
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn field(name: &str, value: &str) -> Field {
        Field {
            name: name.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_static_table_has_rfc_9204_landmarks() {
        assert_eq!(STATIC_TABLE[0], (&b":authority"[..], &b""[..]));
        assert_eq!(STATIC_TABLE[15], (&b":method"[..], &b"CONNECT"[..]));
        assert_eq!(STATIC_TABLE[25], (&b":status"[..], &b"200"[..]));
        assert_eq!(STATIC_TABLE[27], (&b":status"[..], &b"404"[..]));
        assert_eq!(STATIC_TABLE[90], (&b"origin"[..], &b""[..]));
        assert_eq!(
            STATIC_TABLE[98],
            (&b"x-frame-options"[..], &b"sameorigin"[..])
        );
    }

    #[test]
    fn statuses_encode_as_one_indexed_line() {
        let mut out = Vec::new();
        encode_field_section(&[(b":status", b"200")], &mut out);
        assert_eq!(out, [0x00, 0x00, 0xd9]);
        out.clear();
        encode_field_section(&[(b":status", b"404")], &mut out);
        assert_eq!(out, [0x00, 0x00, 0xdb]);
    }

    #[test]
    fn a_session_request_round_trips() {
        let fields: [(&[u8], &[u8]); 6] = [
            (b":method", b"CONNECT"),
            (b":protocol", b"webtransport"),
            (b":scheme", b"https"),
            (b":authority", b"127.0.0.1:4433"),
            (b":path", b"/meridian"),
            (b"sec-webtransport-http3-draft02", b"1"),
        ];
        let mut out = Vec::new();
        encode_field_section(&fields, &mut out);
        let decoded = decode_field_section(&out).expect("valid");
        let expected: Vec<Field> = fields
            .iter()
            .map(|(name, value)| Field {
                name: name.to_vec(),
                value: value.to_vec(),
            })
            .collect();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn huffman_coded_literals_decode() {
        // RFC 7541's coded "www.example.com", "custom-key", "custom-value".
        let www = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        let key = [0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f];
        let value = [0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xb8, 0xe8, 0xb4, 0xbf];
        // `:authority` by static name, its value coded (H, length 12).
        let mut section = vec![0x00, 0x00, 0x50, 0x80 | 12];
        section.extend_from_slice(&www);
        // A literal name, coded (H, length 8 over a 3-bit prefix: 7 + 1).
        section.extend_from_slice(&[0x28 | 7, 0x01]);
        section.extend_from_slice(&key);
        section.push(0x80 | 9);
        section.extend_from_slice(&value);
        assert_eq!(
            decode_field_section(&section),
            Ok(vec![
                field(":authority", "www.example.com"),
                field("custom-key", "custom-value"),
            ])
        );
        // The same with broken padding is refused.
        let last = section.len() - 1;
        section[last] &= 0xf0;
        assert_eq!(decode_field_section(&section), Err(QpackError::Huffman));
    }

    #[test]
    fn chromium_s_session_request_decodes() {
        let fields = decode_field_section(&CHROMIUM_CONNECT).expect("Chromium's CONNECT");
        assert_eq!(
            fields,
            [
                field(":scheme", "https"),
                field(":method", "CONNECT"),
                field(":authority", "127.0.0.1:54864"),
                field(":path", "/meridian"),
                field(":protocol", "webtransport"),
                field("sec-webtransport-http3-draft02", "1"),
                field("origin", "http://127.0.0.1:43395"),
            ]
        );
        // Cut anywhere, it is refused cleanly.
        for cut in 0..CHROMIUM_CONNECT.len() {
            if let Ok(partial) = decode_field_section(&CHROMIUM_CONNECT[..cut]) {
                assert!(partial.len() < fields.len(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn dynamic_table_references_are_refused() {
        // Required Insert Count 1.
        assert_eq!(
            decode_field_section(&[0x01, 0x00, 0xd9]),
            Err(QpackError::DynamicTable)
        );
        // Indexed dynamic (T = 0), literal with dynamic name, post-base.
        for line in [0x80, 0x40, 0x10, 0x00] {
            assert_eq!(
                decode_field_section(&[0x00, 0x00, line]),
                Err(QpackError::DynamicTable),
                "line {line:#x}"
            );
        }
    }

    #[test]
    fn malformed_sections_are_refused() {
        assert_eq!(decode_field_section(&[]), Err(QpackError::Truncated));
        assert_eq!(decode_field_section(&[0x00]), Err(QpackError::Truncated));
        // Static index 99 does not exist (6-bit prefix full, then 36).
        assert_eq!(
            decode_field_section(&[0x00, 0x00, 0xff, 36]),
            Err(QpackError::StaticIndex(99))
        );
        // A value longer than the section.
        assert_eq!(
            decode_field_section(&[0x00, 0x00, 0x51, 0x05, b'a']),
            Err(QpackError::Truncated)
        );
        // An integer that never ends, and one past 2^32.
        assert_eq!(
            decode_field_section(&[0x00, 0x00, 0xff, 0xff, 0xff]),
            Err(QpackError::Truncated)
        );
        assert_eq!(
            decode_field_section(&[0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(QpackError::IntegerOverflow)
        );
        // A string over the limit.
        let mut long = vec![0x00, 0x00, 0x51];
        write_integer(0x00, 7, MAX_STRING as u64 + 1, &mut long);
        long.resize(long.len() + MAX_STRING + 1, b'a');
        assert_eq!(decode_field_section(&long), Err(QpackError::TooLarge));
        // Too many fields.
        let mut many = vec![0x00, 0x00];
        many.resize(2 + MAX_FIELDS + 1, 0xd9);
        assert_eq!(decode_field_section(&many), Err(QpackError::TooLarge));
    }

    proptest! {
        #[test]
        fn any_section_decodes_or_fails_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = decode_field_section(&bytes);
        }

        #[test]
        fn literal_fields_round_trip(
            name in "[a-z-]{1,20}",
            value in "[ -~]{0,40}",
        ) {
            let mut out = Vec::new();
            encode_field_section(&[(name.as_bytes(), value.as_bytes())], &mut out);
            prop_assert_eq!(
                decode_field_section(&out),
                Ok(vec![field(&name, &value)])
            );
        }
    }
}
