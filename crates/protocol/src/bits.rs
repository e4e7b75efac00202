//! Bit-level writer and reader for the snapshot format.
//!
//! Bits are packed least significant first: bit `i` of the stream is bit `i % 8` of
//! byte `i / 8`, and a multi-bit value is written starting from its least significant
//! bit. After the last value the stream is padded with zero bits to a whole byte.
//!
//! [`BitWriter::write_varuint`] writes an unsigned integer in 4-bit groups, least
//! significant group first, each followed by one continuation bit (1 = more groups
//! follow). 0..=15 costs 5 bits, 16..=255 costs 10, a full `u32` at most 40.

use crate::DecodeError;

/// The most 4-bit groups a varuint may have (8 × 4 = 32 bits).
const VARUINT_MAX_GROUPS: u32 = 8;

/// Appends bits to a byte vector that the caller owns and may reuse.
///
/// Bits gather in a 64-bit accumulator that is flushed to the vector a whole word
/// (eight bytes) at a time; [`BitWriter::append_bits`] appends bits packed earlier
/// a word at a time, with one shift and OR per word whatever the bit offset.
#[derive(Debug)]
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Bits not yet flushed, the first of them in bit 0.
    accumulator: u64,
    /// How many bits of `accumulator` are used (always < 64).
    pending_bits: u32,
    bits_written: usize,
}

impl<'a> BitWriter<'a> {
    /// Starts writing at the end of `out` (which is usually empty).
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            accumulator: 0,
            pending_bits: 0,
            bits_written: 0,
        }
    }

    /// Writes the low `count` bits of `value` (`count` ≤ 32); higher bits are ignored.
    #[inline]
    pub fn write_bits(&mut self, value: u32, count: u32) {
        debug_assert!(count <= 32, "at most 32 bits at a time");
        let count = count.min(32);
        let masked = u64::from(value) & ((1u64 << count) - 1);
        self.append_word(masked, count);
    }

    /// Appends the low `count` bits of `word` (`count` ≤ 64; higher bits must be
    /// zero): one shift and OR into the accumulator, and a whole-word flush when it
    /// fills.
    #[inline]
    fn append_word(&mut self, word: u64, count: u32) {
        debug_assert!(count <= 64 && (count == 64 || word >> count == 0));
        self.accumulator |= word << self.pending_bits;
        let total = self.pending_bits + count;
        self.bits_written += count as usize;
        if total >= 64 {
            self.out.extend_from_slice(&self.accumulator.to_le_bytes());
            // The bits of `word` that did not fit; none when the accumulator was
            // empty (a shift by 64 would overflow).
            self.accumulator = if self.pending_bits == 0 {
                0
            } else {
                word >> (64 - self.pending_bits)
            };
            self.pending_bits = total - 64;
        } else {
            self.pending_bits = total;
        }
    }

    /// Appends `bit_len` bits packed earlier into `words`, least significant bit of
    /// `words[0]` first (the layout this writer produces): equal to writing the
    /// same fields one by one, at any bit offset, but a word at a time. Bits of the
    /// last word beyond `bit_len` are ignored; `bit_len` beyond `64 × words.len()`
    /// is cut to it.
    #[inline]
    pub fn append_bits(&mut self, words: &[u64], bit_len: usize) {
        let mut remaining = bit_len.min(64 * words.len());
        for &word in words {
            if remaining == 0 {
                break;
            }
            if remaining >= 64 {
                self.append_word(word, 64);
                remaining -= 64;
            } else {
                // `remaining` < 64 here.
                let count = remaining as u32;
                self.append_word(word & ((1u64 << count) - 1), count);
                remaining = 0;
            }
        }
    }

    /// Appends `count` zero bits (runs of "unchanged" flags), a word at a time.
    #[inline]
    pub fn write_zeros(&mut self, mut count: usize) {
        while count >= 64 {
            self.append_word(0, 64);
            count -= 64;
        }
        // `count` < 64 here.
        self.append_word(0, count as u32);
    }

    /// Writes one bit.
    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        self.append_word(u64::from(bit), 1);
    }

    /// Writes an unsigned integer in 4-bit groups with continuation bits, all
    /// groups assembled into one word first and appended at once.
    #[inline]
    pub fn write_varuint(&mut self, value: u32) {
        let groups = (32 - value.leading_zeros()).div_ceil(4).max(1);
        let mut word = 0u64;
        for group in 0..groups {
            let nibble = u64::from(value >> (4 * group) & 0xf);
            let more = u64::from(group + 1 < groups);
            word |= (nibble | more << 4) << (5 * group);
        }
        self.append_word(word, 5 * groups);
    }

    /// Appends bits packed earlier (see [`PackedBits`]), a word at a time.
    #[inline]
    pub fn write_packed(&mut self, packed: &PackedBits) {
        let len = u32::from(packed.len);
        // Truncations to the low and high halves are the point.
        let low = packed.bits as u64;
        if len <= 64 {
            self.append_word(low, len);
        } else {
            self.append_word(low, 64);
            self.append_word((packed.bits >> 64) as u64, len - 64);
        }
    }

    /// Bits written so far, not counting padding.
    pub fn bits_written(&self) -> usize {
        self.bits_written
    }

    /// Pads to a whole byte with zero bits and returns the number of bytes this
    /// writer appended.
    pub fn finish(self) -> usize {
        let bytes = self.pending_bits.div_ceil(8) as usize;
        self.out
            .extend_from_slice(&self.accumulator.to_le_bytes()[..bytes]);
        self.bits_written.div_ceil(8)
    }
}

/// Something bits can be written to: a [`BitWriter`] or a [`PackedBits`].
pub trait BitSink {
    /// Writes the low `count` bits of `value` (`count` ≤ 32).
    fn write_bits(&mut self, value: u32, count: u32);

    /// Writes one bit.
    fn write_bit(&mut self, bit: bool) {
        self.write_bits(u32::from(bit), 1);
    }

    /// Writes an unsigned integer in 4-bit groups with continuation bits.
    fn write_varuint(&mut self, mut value: u32) {
        loop {
            self.write_bits(value & 0xf, 4);
            value >>= 4;
            let more = value != 0;
            self.write_bit(more);
            if !more {
                break;
            }
        }
    }
}

impl BitSink for BitWriter<'_> {
    #[inline]
    fn write_bits(&mut self, value: u32, count: u32) {
        BitWriter::write_bits(self, value, count);
    }

    #[inline]
    fn write_bit(&mut self, bit: bool) {
        BitWriter::write_bit(self, bit);
    }

    #[inline]
    fn write_varuint(&mut self, value: u32) {
        BitWriter::write_varuint(self, value);
    }
}

/// Up to 128 bits written once and appended to many streams later, without
/// allocating: the unit of shared snapshot encoding (one entity's update, encoded
/// once per tick for every client that needs it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PackedBits {
    bits: u128,
    len: u8,
}

impl PackedBits {
    /// The number of bits held.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True if no bits are held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bits as two words, first bit in bit 0 of the first (the layout
    /// [`BitWriter::append_bits`] takes).
    pub fn words(&self) -> [u64; 2] {
        // Truncations to the low and high halves are the point.
        [self.bits as u64, (self.bits >> 64) as u64]
    }
}

impl BitSink for PackedBits {
    /// Bits past the 128th are dropped; callers pack records known to be shorter
    /// (an entity record is at most 101 bits).
    fn write_bits(&mut self, value: u32, count: u32) {
        let count = count.min(32);
        let room = 128 - u32::from(self.len);
        if count > room {
            debug_assert!(false, "packed bits overflow");
            return;
        }
        let masked = u128::from(value) & ((1u128 << count) - 1);
        self.bits |= masked << self.len;
        // At most 128 by the check above.
        self.len += count as u8;
    }
}

/// The number of bits [`BitWriter::write_varuint`] spends on `value`.
pub fn varuint_bits(value: u32) -> usize {
    let significant = 32 - value.leading_zeros() as usize;
    significant.div_ceil(4).max(1) * 5
}

/// Reads bits from a byte slice, in the order [`BitWriter`] wrote them.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> BitReader<'a> {
    /// Reads from the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, position: 0 }
    }

    /// Bits not yet read, padding included.
    pub fn remaining_bits(&self) -> usize {
        self.data.len() * 8 - self.position
    }

    /// Reads `count` bits (`count` ≤ 32) as an unsigned integer.
    pub fn read_bits(&mut self, count: u32) -> Result<u32, DecodeError> {
        if count > 32 {
            return Err(DecodeError::Malformed);
        }
        if self.remaining_bits() < count as usize {
            return Err(DecodeError::UnexpectedEnd);
        }
        let mut value = 0u64;
        let mut have = 0u32;
        while have < count {
            let byte = self.data[self.position / 8];
            let offset = (self.position % 8) as u32;
            let take = (8 - offset).min(count - have);
            let bits = (u64::from(byte) >> offset) & ((1u64 << take) - 1);
            value |= bits << have;
            have += take;
            self.position += take as usize;
        }
        // `count` ≤ 32, so the value fits.
        Ok(value as u32)
    }

    /// Reads one bit.
    pub fn read_bit(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read_bits(1)? == 1)
    }

    /// Reads an unsigned integer written by [`BitWriter::write_varuint`].
    pub fn read_varuint(&mut self) -> Result<u32, DecodeError> {
        let mut value = 0u32;
        for group in 0..VARUINT_MAX_GROUPS {
            value |= self.read_bits(4)? << (4 * group);
            if !self.read_bit()? {
                return Ok(value);
            }
        }
        Err(DecodeError::BadVarint)
    }

    /// Checks that only zero padding (fewer than 8 bits) is left.
    pub fn finish(self) -> Result<(), DecodeError> {
        let remaining = self.remaining_bits();
        if remaining >= 8 {
            return Err(DecodeError::TrailingBytes {
                count: remaining / 8,
            });
        }
        let mut reader = self;
        if remaining > 0 && reader.read_bits(remaining as u32)? != 0 {
            return Err(DecodeError::NonZeroPadding);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bits_are_packed_least_significant_first() {
        let mut out = Vec::new();
        let mut writer = BitWriter::new(&mut out);
        writer.write_bit(true);
        writer.write_bits(0b10, 2);
        writer.write_bits(0x1ff, 9);
        assert_eq!(writer.finish(), 2);
        // bit0 = 1, bits1-2 = 0b10, bits 3-11 = 0x1ff
        assert_eq!(out, vec![0b1111_1101, 0b0000_1111]);
    }

    #[test]
    fn varuint_sizes_match_the_documented_cost() {
        for (value, bits) in [(0u32, 5usize), (15, 5), (16, 10), (255, 10), (u32::MAX, 40)] {
            let mut out = Vec::new();
            let mut writer = BitWriter::new(&mut out);
            writer.write_varuint(value);
            assert_eq!(writer.bits_written(), bits, "value {value}");
            assert_eq!(varuint_bits(value), bits);
            writer.finish();
            assert_eq!(BitReader::new(&out).read_varuint(), Ok(value));
        }
    }

    #[test]
    fn a_ninth_varuint_group_is_refused() {
        let mut out = Vec::new();
        let mut writer = BitWriter::new(&mut out);
        for _ in 0..9 {
            writer.write_bits(0xf, 4);
            writer.write_bit(true);
        }
        writer.finish();
        assert_eq!(
            BitReader::new(&out).read_varuint(),
            Err(DecodeError::BadVarint)
        );
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut reader = BitReader::new(&[0xff]);
        assert_eq!(reader.read_bits(7), Ok(0x7f));
        assert_eq!(reader.read_bits(2), Err(DecodeError::UnexpectedEnd));
    }

    #[test]
    fn padding_must_be_zero_and_short() {
        let mut reader = BitReader::new(&[0b0000_0011]);
        assert_eq!(reader.read_bits(1), Ok(1));
        assert_eq!(reader.finish(), Err(DecodeError::NonZeroPadding));
        let reader = BitReader::new(&[0, 0]);
        assert_eq!(
            reader.finish(),
            Err(DecodeError::TrailingBytes { count: 2 })
        );
    }

    /// Fields as (value, bit count ≤ 32).
    fn fields_strategy(max: usize) -> impl Strategy<Value = Vec<(u32, u32)>> {
        proptest::collection::vec((any::<u32>(), 0u32..=32), 0..max)
    }

    fn write_fields(writer: &mut BitWriter<'_>, fields: &[(u32, u32)]) {
        for &(value, count) in fields {
            writer.write_bits(value, count);
        }
    }

    /// Packs fields into little-endian words with the byte-at-a-time reference
    /// rule of the module docs (bit `i` is bit `i % 8` of byte `i / 8`), and sets
    /// every bit past the end of the last word to `junk` to show it is ignored.
    fn reference_words(fields: &[(u32, u32)], junk: u64) -> (Vec<u64>, usize) {
        let mut bytes = Vec::new();
        let mut length = 0usize;
        for &(value, count) in fields {
            for bit in 0..count {
                if length.is_multiple_of(8) {
                    bytes.push(0u8);
                }
                if value >> bit & 1 == 1 {
                    bytes[length / 8] |= 1 << (length % 8);
                }
                length += 1;
            }
        }
        bytes.resize(bytes.len().div_ceil(8) * 8, 0);
        let mut words: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|chunk| u64::from_le_bytes(chunk.try_into().expect("eight bytes")))
            .collect();
        if let Some(last) = words.last_mut() {
            let used = length - 64 * (length.saturating_sub(1) / 64);
            if used < 64 {
                *last |= junk << used;
            }
        }
        (words, length)
    }

    #[test]
    fn a_full_word_at_offset_zero_and_at_an_odd_offset() {
        for offset in [0u32, 1, 31, 32, 63] {
            let mut by_field = Vec::new();
            let mut writer = BitWriter::new(&mut by_field);
            writer.write_bits(0x5555_5555, offset.min(32));
            writer.write_bits(0, offset.saturating_sub(32));
            writer.write_bits(0xdead_beef, 32);
            writer.write_bits(0x0123_4567, 32);
            writer.finish();
            let mut by_word = Vec::new();
            let mut writer = BitWriter::new(&mut by_word);
            writer.write_bits(0x5555_5555, offset.min(32));
            writer.write_bits(0, offset.saturating_sub(32));
            writer.append_bits(&[0x0123_4567_dead_beef], 64);
            writer.finish();
            assert_eq!(by_field, by_word, "offset {offset}");
        }
    }

    proptest! {
        #[test]
        fn appending_prepacked_bits_equals_writing_the_fields(
            before in fields_strategy(12),
            packed in fields_strategy(24),
            after in fields_strategy(12),
            junk in any::<u64>(),
        ) {
            let mut by_field = Vec::new();
            let mut writer = BitWriter::new(&mut by_field);
            write_fields(&mut writer, &before);
            write_fields(&mut writer, &packed);
            write_fields(&mut writer, &after);
            let bits_by_field = writer.bits_written();
            writer.finish();

            let (words, length) = reference_words(&packed, junk);
            let mut by_word = Vec::new();
            let mut writer = BitWriter::new(&mut by_word);
            write_fields(&mut writer, &before);
            writer.append_bits(&words, length);
            write_fields(&mut writer, &after);
            prop_assert_eq!(writer.bits_written(), bits_by_field);
            writer.finish();
            prop_assert_eq!(by_field, by_word);
        }

        #[test]
        fn packed_records_append_as_their_fields(
            before in fields_strategy(12),
            packed in proptest::collection::vec((any::<u32>(), 0u32..=32), 0..5),
            zeros in 0usize..200,
        ) {
            let mut record = PackedBits::default();
            for &(value, count) in &packed {
                record.write_bits(value, count);
            }
            let mut by_field = Vec::new();
            let mut writer = BitWriter::new(&mut by_field);
            write_fields(&mut writer, &before);
            write_fields(&mut writer, &packed);
            for _ in 0..zeros {
                writer.write_bit(false);
            }
            writer.write_bit(true);
            writer.finish();

            let mut by_record = Vec::new();
            let mut writer = BitWriter::new(&mut by_record);
            write_fields(&mut writer, &before);
            writer.write_packed(&record);
            writer.write_zeros(zeros);
            writer.write_bit(true);
            writer.finish();
            prop_assert_eq!(&by_field, &by_record);

            let mut by_words = Vec::new();
            let mut writer = BitWriter::new(&mut by_words);
            write_fields(&mut writer, &before);
            writer.append_bits(&record.words(), record.len());
            writer.write_zeros(zeros);
            writer.write_bit(true);
            writer.finish();
            prop_assert_eq!(by_field, by_words);
        }
    }

    proptest! {
        #[test]
        fn any_sequence_of_fields_round_trips(fields in proptest::collection::vec((any::<u32>(), 0u32..=32, any::<bool>()), 0..64)) {
            let mut out = Vec::new();
            let mut writer = BitWriter::new(&mut out);
            for &(value, count, as_varuint) in &fields {
                if as_varuint { writer.write_varuint(value) } else { writer.write_bits(value, count) }
            }
            writer.finish();
            let mut reader = BitReader::new(&out);
            for &(value, count, as_varuint) in &fields {
                if as_varuint {
                    prop_assert_eq!(reader.read_varuint()?, value);
                } else {
                    let mask = if count == 32 { u32::MAX } else { (1u32 << count) - 1 };
                    prop_assert_eq!(reader.read_bits(count)?, value & mask);
                }
            }
            prop_assert_eq!(reader.finish(), Ok(()));
        }
    }
}
