//! Length-prefixed framing for the reliable stream.
//!
//! A frame is the message's length as an unsigned LEB128 varint (postcard's `u32`
//! encoding: 7 bits per byte, least significant first, high bit set on every byte but
//! the last; at most 5 bytes), followed by that many bytes of one encoded message.
//! A length above [`MAX_STREAM_MESSAGE`] is refused as soon as the prefix is read.

use crate::limits::MAX_STREAM_MESSAGE;
use crate::{DecodeError, EncodeError};

/// The most bytes a length prefix takes.
const MAX_PREFIX_BYTES: usize = 5;

/// Appends `message` to `out` as one frame.
pub fn write_frame(message: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if message.len() > MAX_STREAM_MESSAGE {
        return Err(EncodeError::TooLarge {
            len: message.len(),
            max: MAX_STREAM_MESSAGE,
        });
    }
    let mut len = message.len();
    loop {
        // Low seven bits; the cast keeps them.
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(message);
    Ok(())
}

/// Splits a byte stream into frames. Holds at most one partial frame plus the
/// chunk being fed, so a peer cannot make it grow without bound.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream. Refuses them if more than two whole
    /// frames are waiting undrained (the caller must call [`Self::next_frame`]).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        let limit = 2 * (MAX_STREAM_MESSAGE + MAX_PREFIX_BYTES);
        if self.buffer.len() + bytes.len() > limit {
            return Err(DecodeError::TooLarge {
                len: self.buffer.len() + bytes.len(),
                max: limit,
            });
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }

    /// The next whole frame's message bytes, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, DecodeError> {
        let pending = &self.buffer[self.start..];
        let mut len = 0usize;
        let mut prefix = 0usize;
        loop {
            let Some(&byte) = pending.get(prefix) else {
                return Ok(None);
            };
            if prefix == MAX_PREFIX_BYTES {
                return Err(DecodeError::BadVarint);
            }
            len |= usize::from(byte & 0x7f) << (7 * prefix);
            prefix += 1;
            if len > MAX_STREAM_MESSAGE {
                return Err(DecodeError::TooLarge {
                    len,
                    max: MAX_STREAM_MESSAGE,
                });
            }
            if byte & 0x80 == 0 {
                break;
            }
        }
        if pending.len() < prefix + len {
            return Ok(None);
        }
        let begin = self.start + prefix;
        self.start = begin + len;
        Ok(Some(&self.buffer[begin..begin + len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_split_of_the_stream() {
        let messages: Vec<Vec<u8>> = vec![vec![], vec![7; 3], vec![9; 200], vec![1; 300]];
        let mut stream = Vec::new();
        for message in &messages {
            write_frame(message, &mut stream).unwrap();
        }
        for chunk in [1, 2, 7, 128, stream.len()] {
            let mut decoder = FrameDecoder::new();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                decoder.feed(piece).unwrap();
                while let Some(frame) = decoder.next_frame().unwrap() {
                    got.push(frame.to_vec());
                }
            }
            assert_eq!(got, messages, "chunk size {chunk}");
        }
    }

    #[test]
    fn an_oversized_length_is_refused_from_its_prefix() {
        let mut decoder = FrameDecoder::new();
        decoder.feed(&[0xff, 0xff, 0x01]).unwrap();
        assert!(matches!(
            decoder.next_frame(),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn an_undrained_decoder_refuses_more_bytes() {
        let mut decoder = FrameDecoder::new();
        let chunk = vec![0u8; MAX_STREAM_MESSAGE];
        decoder.feed(&chunk).unwrap();
        decoder.feed(&chunk).unwrap();
        assert!(decoder.feed(&chunk).is_err());
    }
}
