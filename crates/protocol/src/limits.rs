//! Hard size limits. Decoders check these before they allocate anything.

/// The most payload bytes one datagram may carry. Chromium reports a maximum
/// datagram size of 1,295–1,358 bytes; 1,150 leaves room for QUIC and HTTP/3
/// framing on every path we have measured, so a datagram is never fragmented.
pub const MAX_DATAGRAM_PAYLOAD: usize = 1_150;

/// The most bytes one message on the reliable stream may take (after its length
/// prefix). Larger states are split by the sender.
pub const MAX_STREAM_MESSAGE: usize = 16 * 1024;

/// The longest auth token a hello may carry, in bytes.
pub const MAX_AUTH_TOKEN_BYTES: usize = 2_048;

/// The longest chat text, in bytes of UTF-8.
pub const MAX_CHAT_BYTES: usize = 512;

/// The longest free-text detail of a refusal, in bytes of UTF-8.
pub const MAX_DETAIL_BYTES: usize = 256;

/// The most entities one client's view (and so one snapshot) may hold.
pub const MAX_VISIBLE_ENTITIES: usize = 1_024;

/// The longest inventory item id, in bytes of UTF-8.
pub const MAX_ITEM_BYTES: usize = 64;

/// The largest change one inventory request may make, either way.
pub const MAX_INVENTORY_DELTA: i32 = 1_000;

/// The longest display name a presence message carries, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 64;

/// The longest SDP text of a voice offer or answer, in bytes of UTF-8. An
/// offer with one sending and eight receiving Opus lines from a browser takes
/// about 6 KiB; the limit leaves room for more codecs and candidates and stays
/// under [`MAX_STREAM_MESSAGE`] with the message's own bytes.
pub const MAX_SDP_BYTES: usize = 12 * 1024;

/// The most voice lines one [`VoiceLines`](crate::VoiceLines) message
/// describes. A server sends a listener's changes in as many messages as it
/// takes.
pub const MAX_VOICE_LINES: usize = 16;

/// The longest voice line name (the SDP `mid` of a media line), in bytes.
pub const MAX_VOICE_SLOT_BYTES: usize = 32;
