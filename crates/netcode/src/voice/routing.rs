//! The per-tick input that says which listener receives which speaker.

use std::collections::HashMap;

/// One participant of voice, by the caller's id for it (its client id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u64);

/// One speaker a listener receives, and how far away it is (metres), sent to
/// the listener so that it can attenuate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heard {
    /// Who speaks.
    pub speaker: ParticipantId,
    /// Distance from the listener's avatar, in metres (0 for a stage speaker).
    pub distance: f32,
}

/// For each listener, the speakers it receives, most important first. A
/// listener absent from the map receives no one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routing {
    heard: HashMap<ParticipantId, Vec<Heard>>,
}

impl Routing {
    /// No one hears anyone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what `listener` receives, replacing what it had.
    pub fn set(&mut self, listener: ParticipantId, heard: Vec<Heard>) {
        self.heard.insert(listener, heard);
    }

    /// What `listener` receives (empty when it is not in the map).
    pub fn heard_by(&self, listener: ParticipantId) -> &[Heard] {
        self.heard.get(&listener).map_or(&[], Vec::as_slice)
    }

    /// Every listener with what it receives.
    pub fn iter(&self) -> impl Iterator<Item = (ParticipantId, &[Heard])> {
        self.heard
            .iter()
            .map(|(listener, heard)| (*listener, heard.as_slice()))
    }
}

impl FromIterator<(ParticipantId, Vec<Heard>)> for Routing {
    fn from_iter<T: IntoIterator<Item = (ParticipantId, Vec<Heard>)>>(iter: T) -> Self {
        Self {
            heard: iter.into_iter().collect(),
        }
    }
}
