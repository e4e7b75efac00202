use serde::{Deserialize, Serialize};

/// The stable identity of a replicated entity, as clients see it.
///
/// A network id is handed out by the zone when the entity is spawned and is never
/// reused while the zone runs. It is deliberately not the ECS `Entity` (whose bits
/// encode an index and a generation that mean nothing to a client).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct NetworkId(pub u32);

impl std::fmt::Display for NetworkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}
