//! Any byte stream, fed in any chunks, splits into frames or stops at a typed error.
//! The first byte picks the chunk size; every frame is at most the stream limit, and
//! its bytes are also decoded as client and server stream messages.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meridian_protocol::framing::FrameDecoder;
use meridian_protocol::limits::MAX_STREAM_MESSAGE;
use meridian_protocol::messages::Channel;
use meridian_protocol::{ClientMessage, ServerMessage};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(selector) + 1;
    let mut decoder = FrameDecoder::new();
    for piece in stream.chunks(chunk) {
        if decoder.feed(piece).is_err() {
            return;
        }
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= MAX_STREAM_MESSAGE);
                    let _ = ClientMessage::decode(frame, Channel::Stream);
                    let _ = ServerMessage::decode(frame, Channel::Stream);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
