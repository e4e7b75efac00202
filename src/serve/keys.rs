//! One secret, one key per use: the access tokens of the HTTP API, the realtime
//! tokens of game connections and the shard link each get their own key,
//! derived from the configured secret with HKDF-SHA256 (RFC 5869). A token or a
//! link hello made with one key is worthless to the others, and a leak of one
//! derived key does not give away the secret or the other keys.

use ring::hkdf;

/// Bytes in each derived key (the output size of SHA-256).
const KEY_BYTES: usize = 32;

/// The HKDF salt: fixed, as the secret is already uniformly random or a long
/// passphrase; it separates Meridian's derivations from any other use of it.
const SALT: &[u8] = b"meridian key derivation v1";

/// What each key is for (the HKDF `info`); changing one invalidates every
/// token or link hello made with the old key.
const ACCESS_INFO: &[u8] = b"meridian access tokens";
const REALTIME_INFO: &[u8] = b"meridian realtime tokens";
const LINK_INFO: &[u8] = b"meridian shard link";

/// The keys derived from one secret.
pub(crate) struct DerivedKeys {
    /// Signs and checks access tokens (HTTP API).
    pub(crate) access: [u8; KEY_BYTES],
    /// Signs and checks realtime tokens (game connections).
    pub(crate) realtime: [u8; KEY_BYTES],
    /// Authenticates shards to each other.
    pub(crate) link: [u8; KEY_BYTES],
}

impl std::fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKeys { <secret> }")
    }
}

/// A length for ring's HKDF expansion.
struct Length(usize);

impl hkdf::KeyType for Length {
    fn len(&self) -> usize {
        self.0
    }
}

impl DerivedKeys {
    /// The keys of `secret`: the same secret always gives the same keys.
    pub(crate) fn derive(secret: &[u8]) -> Self {
        let pseudorandom = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(secret);
        let expand = |info: &[u8]| {
            let mut key = [0u8; KEY_BYTES];
            let info = [info];
            // Expansion fails only for lengths over 255 × 32 bytes, and filling
            // only when the buffer is not that length: neither can happen here.
            pseudorandom
                .expand(&info, Length(KEY_BYTES))
                .and_then(|okm| okm.fill(&mut key))
                .expect("32 bytes are within HKDF-SHA256's limit");
            key
        };
        Self {
            access: expand(ACCESS_INFO),
            realtime: expand(REALTIME_INFO),
            link: expand(LINK_INFO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DerivedKeys;

    #[test]
    fn the_three_keys_differ_and_are_stable() {
        let secret = b"a cluster secret of at least thirty-two bytes";
        let keys = DerivedKeys::derive(secret);
        assert_ne!(keys.access, keys.realtime);
        assert_ne!(keys.access, keys.link);
        assert_ne!(keys.realtime, keys.link);
        for key in [keys.access, keys.realtime, keys.link] {
            assert_ne!(&key[..], &secret[..32], "a key is not the secret itself");
        }
        let again = DerivedKeys::derive(secret);
        assert_eq!(keys.access, again.access);
        assert_eq!(keys.realtime, again.realtime);
        assert_eq!(keys.link, again.link);
        // Pinned (RFC 5869 computed independently): a change to the derivation
        // would cut a cluster of old and new shards apart and invalidate every
        // token in flight.
        let hex: String = keys.link.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(
            hex,
            "d4cb374e926bb1e93e1e23db167bed2a86c3b568c42fbd36b3e19d97a3bc0698"
        );
        let other = DerivedKeys::derive(b"another secret of at least thirty-two bytes");
        assert_ne!(keys.access, other.access);
        assert_ne!(keys.link, other.link);
    }
}
