use thiserror::Error;

/// Every way received bytes can be wrong. Decoders return this; they never panic.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message is longer than its channel allows.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit that applies.
        max: usize,
    },
    /// The bytes ended in the middle of a value.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// A varint was longer than its type allows or overflowed it.
    #[error("malformed varint")]
    BadVarint,
    /// An enum tag names no known variant.
    #[error("unknown enum variant")]
    UnknownVariant,
    /// A bool or option tag was neither 0 nor 1.
    #[error("invalid bool or option tag")]
    BadTag,
    /// A string was not valid UTF-8.
    #[error("string is not valid UTF-8")]
    BadUtf8,
    /// The message decoded, but bytes were left over after it.
    #[error("{count} trailing bytes after the message")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
    /// A string or byte field is longer than its limit.
    #[error("field `{field}` is {len} bytes, the limit is {max}")]
    FieldTooLong {
        /// The field's name.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field holds a value outside its allowed range (a NaN or infinite float,
    /// an empty chat text, ...).
    #[error("field `{field}` holds a value outside its range")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
    },
    /// A message arrived on a channel it may not use (a snapshot on the stream, a
    /// hello in a datagram).
    #[error("message kind not allowed on this channel")]
    WrongChannel,
    /// A snapshot lists more entities than a view may hold.
    #[error("snapshot holds {count} entities, the limit is {max}")]
    TooManyEntities {
        /// How many it claims.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A snapshot's entity id gap runs past the largest id.
    #[error("entity id overflows u32")]
    IdOverflow,
    /// A snapshot enters an entity that is already in the view.
    #[error("entity {id} entered twice")]
    DuplicateEntity {
        /// The repeated id.
        id: u32,
    },
    /// A delta snapshot arrived without the baseline it is relative to.
    #[error("delta against tick {tick} but no such baseline is held")]
    MissingBaseline {
        /// The baseline tick the snapshot names.
        tick: u32,
    },
    /// The padding bits after a snapshot body were not zero.
    #[error("non-zero padding after the snapshot body")]
    NonZeroPadding,
    /// The bytes did not decode for a reason with no more specific variant.
    #[error("malformed message")]
    Malformed,
}

impl From<postcard::Error> for DecodeError {
    fn from(error: postcard::Error) -> Self {
        match error {
            postcard::Error::DeserializeUnexpectedEnd => Self::UnexpectedEnd,
            postcard::Error::DeserializeBadVarint => Self::BadVarint,
            // postcard reads an enum's variant index itself, but an index the type does
            // not have is refused by serde's derived visitor through `de::Error::custom`,
            // which postcard reports as `SerdeDeCustom` (it never raises
            // `DeserializeBadEnum`). No other value in these messages raises a custom
            // error: structs are fixed-length tuples to postcard.
            postcard::Error::DeserializeBadEnum | postcard::Error::SerdeDeCustom => {
                Self::UnknownVariant
            }
            postcard::Error::DeserializeBadBool | postcard::Error::DeserializeBadOption => {
                Self::BadTag
            }
            postcard::Error::DeserializeBadUtf8 | postcard::Error::DeserializeBadChar => {
                Self::BadUtf8
            }
            _ => Self::Malformed,
        }
    }
}

/// Why a message could not be encoded. Only a caller's mistake causes one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded message would exceed its channel's limit.
    #[error("encoded message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// The limit that applies.
        max: usize,
    },
    /// A field is invalid (too long, not finite); the same check a decoder makes.
    #[error("invalid field: {0}")]
    Invalid(DecodeError),
    /// The snapshot's entities were not sorted by id or repeated one.
    #[error("snapshot entities must be sorted by id without repeats")]
    UnsortedEntities,
    /// An element without a footprint, a footprint on another kind, or a
    /// footprint side beyond the position range.
    #[error("entity {id} has a footprint that does not fit its kind")]
    BadFootprint {
        /// The entity.
        id: crate::NetworkId,
    },
    /// The snapshot lists more entities than a view may hold.
    #[error("snapshot holds {count} entities, the limit is {max}")]
    TooManyEntities {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
}
