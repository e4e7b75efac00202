//! Snapshot body encoding and decoding for one client's view of 30 walking avatars
//! plus 10 standing ones, delta against the previous tick; and a keyframe. Prints
//! the bits per moving entity alongside the times.

use criterion::{Criterion, criterion_group, criterion_main};
use meridian_protocol::snapshot::{EntityKind, EntityState, decode_body, encode_body};
use meridian_protocol::{AnimationState, NetworkId};
use std::hint::black_box;

fn view(tick: u32) -> Vec<EntityState> {
    (0..40u32)
        .map(|i| {
            let moving = i < 30;
            let step = if moving { tick as f32 * 0.07 } else { 0.0 };
            EntityState::quantize(
                NetworkId(i * 7 + 3),
                EntityKind::Avatar,
                i % 8,
                [100.0 + i as f32 * 3.0 + step, 200.0 + step * 0.5],
                if moving {
                    0.46 + tick as f32 * 0.01
                } else {
                    1.0
                },
                if moving {
                    AnimationState::Walk
                } else {
                    AnimationState::Idle
                },
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let baseline = view(10);
    let current = view(11);
    let mut body = Vec::with_capacity(1_200);
    let stats = encode_body(Some(&baseline), &current, &mut body).expect("sorted views");
    println!(
        "delta: {} bytes, {} bits, {} updated, {} unchanged: {:.1} bits per moving entity",
        stats.bytes,
        stats.bits,
        stats.updated,
        stats.unchanged,
        (stats.bits - stats.unchanged) as f64 / stats.updated as f64
    );
    let mut group = c.benchmark_group("snapshot_codec");
    group.bench_function("encode_delta_40", |b| {
        b.iter(|| {
            body.clear();
            black_box(encode_body(Some(&baseline), &current, &mut body).expect("sorted views"))
        })
    });
    group.bench_function("encode_keyframe_40", |b| {
        b.iter(|| {
            body.clear();
            black_box(encode_body(None, &current, &mut body).expect("sorted views"))
        })
    });
    body.clear();
    encode_body(Some(&baseline), &current, &mut body).expect("sorted views");
    let mut decoded = Vec::with_capacity(64);
    group.bench_function("decode_delta_40", |b| {
        b.iter(|| black_box(decode_body(Some(&baseline), &body, &mut decoded).expect("valid")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
