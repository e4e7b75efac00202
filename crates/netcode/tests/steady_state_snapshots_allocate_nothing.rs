//! Once views are steady in size, encoding every client's snapshot allocates
//! nothing: the encoder's buffers, the ring of sent views and the shared per-tick
//! records are all reused.
//!
//! A counting global allocator counts allocations made on this test's thread while
//! the snapshots are encoded (the zone's step is not counted; its own test is
//! `meridian-sim`'s `steady_state_ticks_allocate_nothing`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use meridian_netcode::snapshot::{ClientReplication, MAX_BODY_BYTES, SharedEncodings};
use meridian_sim::agents::Wanderers;
use meridian_sim::{ClientId, SimConfig, Zone};

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

/// A dense crowd (views at the 256 cap): 300 wandering avatars in a 120 m square,
/// 100 m interest. Every fifth avatar is a client; half of the clients have a
/// budget small enough that changes wait (the priority path), half an ample one.
#[test]
fn steady_state_snapshots_allocate_nothing() {
    let mut zone = Zone::new(SimConfig {
        world_width: 120.0,
        world_height: 120.0,
        interest_radius: 100.0,
        ..SimConfig::default()
    })
    .unwrap();
    let mut agents = Wanderers::spawn(&mut zone, 300, 0, 7).unwrap();
    let mut clients: Vec<(ClientId, usize, ClientReplication)> = (0..60u64)
        .map(|index| {
            let budget = if index % 2 == 0 { MAX_BODY_BYTES } else { 300 };
            (ClientId(index * 5), budget, ClientReplication::default())
        })
        .collect();
    let mut shared = SharedEncodings::default();
    let mut inputs = Vec::new();
    let mut out = Vec::new();
    let mut sent = 0usize;
    let mut deferred = 0usize;
    let mut encode_all = |zone: &Zone, clients: &mut Vec<(ClientId, usize, ClientReplication)>| {
        let tick = zone.tick() as u32;
        let states = zone.replicated_states();
        shared.begin_tick(tick, states.len());
        for (client, budget, replication) in clients.iter_mut() {
            let visible = zone.visible(*client).unwrap_or_default();
            let viewer = zone
                .avatar(*client)
                .map(|avatar| [avatar.position.x, avatar.position.y]);
            let report = replication
                .encode(
                    tick,
                    visible,
                    states,
                    &mut shared,
                    viewer,
                    *budget,
                    0,
                    &mut out,
                )
                .unwrap();
            sent += report.sent;
            deferred += report.deferred;
            replication.acknowledge(tick);
        }
    };
    // Warm up: buffers grow to their working size (and the ring turns over).
    for _ in 0..80 {
        agents.plan(&zone, &mut inputs);
        zone.step(&inputs);
        encode_all(&zone, &mut clients);
    }
    // The sanity check that the counter counts at all.
    assert!(count_allocations(|| drop(Vec::<u8>::with_capacity(8))) >= 1);

    let mut total = 0;
    for _ in 0..30 {
        agents.plan(&zone, &mut inputs);
        zone.step(&inputs);
        total += count_allocations(|| encode_all(&zone, &mut clients));
    }
    let views: usize = clients
        .iter()
        .map(|(client, _, _)| zone.visible(*client).map_or(0, <[_]>::len))
        .sum();
    assert!(
        views >= 60 * 200,
        "views are dense: {views} entities in 60 views"
    );
    assert!(
        sent > 0 && deferred > 0,
        "both paths ran: {sent} sent, {deferred} deferred"
    );
    assert_eq!(
        total, 0,
        "30 steady-state ticks of snapshots allocated {total} times"
    );
}
