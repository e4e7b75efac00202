//! Decoding of Huffman-coded header strings (HPACK's code, RFC 7541
//! appendix B, which QPACK reuses). Chromium Huffman-codes its request's
//! literals whenever that is shorter.
//!
//! The code is canonical: codes of each length are consecutive and follow
//! symbol order, and each length's first code is the previous length's last
//! code plus one, shifted. So the table below holds only each symbol's code
//! length, and decoding compares the bits read so far with the first code of
//! their length.

/// Code length in bits of each symbol: bytes 0 to 255, then EOS (256).
const CODE_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

/// The end-of-string symbol, which must never appear in a string.
const EOS: u16 = 256;

/// The longest code.
const MAX_LENGTH: usize = 30;

/// The canonical code's tables, computed once at compile time.
struct Canonical {
    /// First code of each length.
    first_code: [u32; MAX_LENGTH + 1],
    /// How many codes each length has.
    count: [u32; MAX_LENGTH + 1],
    /// Where each length's symbols start in `symbols`.
    first_index: [u16; MAX_LENGTH + 1],
    /// Symbols ordered by (code length, symbol).
    symbols: [u16; 257],
}

const fn canonical() -> Canonical {
    let mut table = Canonical {
        first_code: [0; MAX_LENGTH + 1],
        count: [0; MAX_LENGTH + 1],
        first_index: [0; MAX_LENGTH + 1],
        symbols: [0; 257],
    };
    let mut next = 0usize;
    let mut code = 0u32;
    let mut length = 1;
    while length <= MAX_LENGTH {
        table.first_code[length] = code;
        table.first_index[length] = next as u16;
        let mut symbol = 0;
        while symbol < 257 {
            if CODE_LENGTHS[symbol] as usize == length {
                table.symbols[next] = symbol as u16;
                next += 1;
                table.count[length] += 1;
            }
            symbol += 1;
        }
        code = (code + table.count[length]) << 1;
        length += 1;
    }
    table
}

static CANONICAL: Canonical = canonical();

/// A Huffman-coded string that is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidHuffman;

/// Appends the decoding of `input` to `out`, refusing the EOS symbol,
/// padding longer than 7 bits or padding that is not all ones, and output
/// longer than `max_len` bytes.
pub fn decode(input: &[u8], out: &mut Vec<u8>, max_len: usize) -> Result<(), InvalidHuffman> {
    let table = &CANONICAL;
    let mut code = 0u32;
    let mut length = 0usize;
    for byte in input {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            length += 1;
            let offset = code.wrapping_sub(table.first_code[length]);
            if code >= table.first_code[length] && offset < table.count[length] {
                let symbol =
                    table.symbols[usize::from(table.first_index[length]) + offset as usize];
                if symbol == EOS || out.len() >= max_len {
                    return Err(InvalidHuffman);
                }
                out.push(symbol as u8);
                code = 0;
                length = 0;
            } else if length == MAX_LENGTH {
                return Err(InvalidHuffman);
            }
        }
    }
    // What is left is padding: at most 7 bits, all ones (a prefix of EOS).
    if length > 7 || code != (1 << length) - 1 {
        return Err(InvalidHuffman);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(input: &[u8]) -> Result<Vec<u8>, InvalidHuffman> {
        let mut out = Vec::new();
        decode(input, &mut out, 1024).map(|()| out)
    }

    #[test]
    fn the_code_is_complete_and_eos_is_thirty_ones() {
        // Kraft's sum of a complete prefix code is exactly 1.
        let sum: u64 = CODE_LENGTHS
            .iter()
            .map(|length| 1u64 << (MAX_LENGTH - usize::from(*length)))
            .sum();
        assert_eq!(sum, 1 << MAX_LENGTH);
        let table = &CANONICAL;
        let last = table.first_code[30] + table.count[30] - 1;
        assert_eq!(last, 0x3fff_ffff);
        assert_eq!(table.symbols[256], EOS);
    }

    #[test]
    fn rfc_7541_examples_decode() {
        let examples: [(&[u8], &[u8]); 6] = [
            (
                &[
                    0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
                ],
                b"www.example.com",
            ),
            (&[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf], b"no-cache"),
            (
                &[0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f],
                b"custom-key",
            ),
            (
                &[0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xb8, 0xe8, 0xb4, 0xbf],
                b"custom-value",
            ),
            (&[0x64, 0x02], b"302"),
            (&[0xae, 0xc3, 0x77, 0x1a, 0x4b], b"private"),
        ];
        for (input, text) in examples {
            assert_eq!(decoded(input).as_deref(), Ok(text));
        }
        assert_eq!(decoded(&[]), Ok(Vec::new()));
    }

    #[test]
    fn bad_padding_and_eos_are_refused() {
        // "0" is 00000: padded with zeros instead of ones.
        assert_eq!(decoded(&[0x00]), Err(InvalidHuffman));
        assert_eq!(decoded(&[0x07]), Ok(b"0".to_vec()));
        // Eleven bits of padding after "0".
        assert_eq!(decoded(&[0x07, 0xff]), Err(InvalidHuffman));
        // EOS itself (30 ones) then padding.
        assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xff]), Err(InvalidHuffman));
    }

    #[test]
    fn output_is_bounded() {
        let mut out = Vec::new();
        let www = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(decode(&www, &mut out, 4), Err(InvalidHuffman));
    }
}
