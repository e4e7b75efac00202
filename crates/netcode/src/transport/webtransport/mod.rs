//! WebTransport over HTTP/3 for the event loop, server side and sans-IO:
//! just what a browser's session needs (docs/TRANSPORT.md, "WebTransport").
//!
//! - [`varint`]: QUIC variable-length integers.
//! - [`frames`]: HTTP/3 frames, stream types and SETTINGS.
//! - [`huffman`]: decoding of Huffman-coded header strings.
//! - [`qpack`]: field sections with the static table only.
//! - [`session`]: one connection's HTTP/3 and WebTransport state.
//! - [`error`]: why a connection is closed, with its HTTP/3 error code.

pub mod error;
pub mod frames;
pub mod huffman;
pub mod qpack;
pub mod session;
pub mod varint;

pub use error::{H3Error, QpackError};
pub use session::{Received, Session};
