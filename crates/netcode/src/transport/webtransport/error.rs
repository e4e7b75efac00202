//! Why an HTTP/3 connection is closed, with the error code (RFC 9114 section
//! 8.1, RFC 9204 section 6) the client hears.

use thiserror::Error;

/// HTTP/3 and QPACK error codes sent in the QUIC connection close.
pub mod code {
    /// H3_GENERAL_PROTOCOL_ERROR.
    pub const GENERAL_PROTOCOL_ERROR: u32 = 0x0101;
    /// H3_STREAM_CREATION_ERROR.
    pub const STREAM_CREATION_ERROR: u32 = 0x0103;
    /// H3_CLOSED_CRITICAL_STREAM.
    pub const CLOSED_CRITICAL_STREAM: u32 = 0x0104;
    /// H3_FRAME_UNEXPECTED.
    pub const FRAME_UNEXPECTED: u32 = 0x0105;
    /// H3_FRAME_ERROR.
    pub const FRAME_ERROR: u32 = 0x0106;
    /// H3_EXCESSIVE_LOAD.
    pub const EXCESSIVE_LOAD: u32 = 0x0107;
    /// H3_SETTINGS_ERROR.
    pub const SETTINGS_ERROR: u32 = 0x0109;
    /// H3_MISSING_SETTINGS.
    pub const MISSING_SETTINGS: u32 = 0x010a;
    /// H3_MESSAGE_ERROR.
    pub const MESSAGE_ERROR: u32 = 0x010e;
    /// QPACK_DECOMPRESSION_FAILED.
    pub const QPACK_DECOMPRESSION_FAILED: u32 = 0x0200;
}

/// Why a QPACK field section could not be decoded.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QpackError {
    /// The section ends inside a field line.
    #[error("the field section is truncated")]
    Truncated,
    /// An integer does not fit in 32 bits.
    #[error("an integer in the field section is too large")]
    IntegerOverflow,
    /// The section refers to the dynamic table, which this decoder never
    /// allows (its capacity is announced as 0).
    #[error("the field section uses the dynamic table")]
    DynamicTable,
    /// A static table index past its 99 entries.
    #[error("static table index {0} does not exist")]
    StaticIndex(u64),
    /// A Huffman-coded string is invalid (EOS, bad padding).
    #[error("a Huffman-coded string is invalid")]
    Huffman,
    /// More fields or longer strings than a session request needs.
    #[error("the field section exceeds its limits")]
    TooLarge,
}

/// Why an HTTP/3 connection must be closed.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum H3Error {
    /// A frame or stream header is malformed.
    #[error("a frame is malformed")]
    Frame,
    /// A frame declares more bytes than this server buffers.
    #[error("a frame is larger than {0} bytes")]
    FrameTooLarge(usize),
    /// A frame arrived on a stream or at a time where it is not allowed.
    #[error("frame type {0:#x} is not allowed here")]
    FrameUnexpected(u64),
    /// The client's control stream did not start with SETTINGS.
    #[error("the control stream did not start with SETTINGS")]
    MissingSettings,
    /// A setting is repeated or reserved.
    #[error("the SETTINGS frame is invalid")]
    Settings,
    /// A second control stream, or a push stream from the client.
    #[error("stream type {0:#x} may not be opened by the client (again)")]
    StreamCreation(u64),
    /// The client closed its control stream.
    #[error("the client closed its control stream")]
    ClosedCriticalStream,
    /// A request without `:method` or `:path`, or with a field section
    /// that is not valid.
    #[error("the request is malformed")]
    Message,
    /// A field section could not be decoded.
    #[error("QPACK: {0}")]
    Qpack(#[from] QpackError),
}

impl H3Error {
    /// The code the connection is closed with.
    pub fn code(self) -> u32 {
        match self {
            Self::Frame => code::FRAME_ERROR,
            Self::FrameTooLarge(_) => code::EXCESSIVE_LOAD,
            Self::FrameUnexpected(_) => code::FRAME_UNEXPECTED,
            Self::MissingSettings => code::MISSING_SETTINGS,
            Self::Settings => code::SETTINGS_ERROR,
            Self::StreamCreation(_) => code::STREAM_CREATION_ERROR,
            Self::ClosedCriticalStream => code::CLOSED_CRITICAL_STREAM,
            Self::Message => code::MESSAGE_ERROR,
            Self::Qpack(_) => code::QPACK_DECOMPRESSION_FAILED,
        }
    }

    /// A short reason for the connection close.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Frame => "malformed frame",
            Self::FrameTooLarge(_) => "frame too large",
            Self::FrameUnexpected(_) => "unexpected frame",
            Self::MissingSettings => "missing settings",
            Self::Settings => "invalid settings",
            Self::StreamCreation(_) => "stream not allowed",
            Self::ClosedCriticalStream => "control stream closed",
            Self::Message => "malformed request",
            Self::Qpack(_) => "header decoding failed",
        }
    }
}
