//! Any bytes decode, as a snapshot body, to a sorted view or a typed error. The first
//! byte picks the baseline: its low four bits give 0..=8 synthetic entities (9..=15
//! mean a keyframe, no baseline); the rest is the body. A view that decodes encodes
//! against the same baseline and decodes back to itself. The baseline's elements
//! carry footprints, as every element does since protocol 4.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meridian_protocol::snapshot::{EntityKind, EntityState, Footprint, decode_body, encode_body};
use meridian_protocol::{AnimationState, NetworkId};

/// `count` entities with ids 1, 4, 7, ..., of every kind, some at the zone's edges so
/// that small deltas can run past them.
fn baseline(count: u8) -> Vec<EntityState> {
    (0..u32::from(count))
        .map(|i| EntityState {
            id: NetworkId(1 + 3 * i),
            kind: match i % 3 {
                0 => EntityKind::Avatar,
                1 => EntityKind::Element,
                _ => EntityKind::Npc,
            },
            appearance: i * 37,
            x: if i % 2 == 0 { 0 } else { (1 << 20) - 1 },
            y: 1_000 * i,
            // At most 8 × 100, within 10 bits.
            heading: (i * 100) as u16,
            animation: AnimationState::from_bits(i % 6).unwrap_or_default(),
            // Elements carry a footprint (protocol 4), the others none.
            footprint: (i % 3 == 1).then_some(Footprint {
                width: 64 * (1 + i),
                height: 64,
                blocking: i % 2 == 0,
            }),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let count = selector & 0x0f;
    let held = baseline(count.min(8));
    let baseline = (count <= 8).then_some(&held[..]);
    let mut view = Vec::new();
    if decode_body(baseline, body, &mut view).is_ok() {
        assert!(view.windows(2).all(|pair| pair[0].id < pair[1].id));
        assert!(
            view.iter()
                .all(|e| e.x < 1 << 20 && e.y < 1 << 20 && e.heading < 1 << 10)
        );
        let mut again = Vec::new();
        encode_body(baseline, &view, &mut again).expect("a decoded view encodes");
        let mut back = Vec::new();
        decode_body(baseline, &again, &mut back).expect("and decodes again");
        assert_eq!(back, view);
    }
});
