//! Once a zone's population is steady, a tick allocates nothing.
//!
//! A counting global allocator counts allocations made on this test's thread while
//! `Zone::step` runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use meridian_sim::agents::Wanderers;
use meridian_sim::{Aabb, ElementPlacement, SimConfig, Vec2, Zone};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with` because the allocator may run while thread locals are torn down.
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    if counting {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counting
// touches only const-initialised thread locals, which never allocate.
#[expect(
    unsafe_code,
    reason = "a global allocator must implement an unsafe trait"
)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn count_allocations(work: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
    work();
    COUNTING.with(|counting| counting.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn steady_state_ticks_allocate_nothing() {
    let mut zone = Zone::new(SimConfig {
        world_width: 300.0,
        world_height: 300.0,
        ..SimConfig::default()
    })
    .unwrap();
    for i in 0..20 {
        let corner = Vec2::new(10.0 + 14.0 * i as f32, 150.0);
        zone.place_element(ElementPlacement {
            bounds: Aabb::from_corners(corner, corner + Vec2::new(3.0, 3.0)),
            appearance: 2,
            blocking: true,
        })
        .unwrap();
    }
    let mut agents = Wanderers::spawn(&mut zone, 2_000, 0, 42).unwrap();
    let mut inputs = Vec::new();
    // Warm up: buffers grow to their working size.
    for _ in 0..200 {
        agents.plan(&zone, &mut inputs);
        let output = zone.step(&inputs);
        agents.observe(&output, 0);
    }
    // The sanity check that the counter counts at all.
    assert!(count_allocations(|| drop(Vec::<u8>::with_capacity(8))) >= 1);

    let mut total = 0;
    let mut events = 0;
    for _ in 0..100 {
        agents.plan(&zone, &mut inputs);
        total += count_allocations(|| {
            let output = zone.step(&inputs);
            events += output.interest_events.len();
        });
    }
    assert!(
        events > 0,
        "the crowd must actually move in and out of views"
    );
    assert_eq!(total, 0, "100 steady-state ticks allocated {total} times");
}
