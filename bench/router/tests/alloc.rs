//! Ember's lookups allocate nothing: a counting global allocator sees no allocation while
//! every path of every route set is looked up, and each path with two more segments.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ember_router_bench::{deep_static, github, many_static, wide};

/// Counts every allocation and reallocation of the calling thread, then defers to the
/// system allocator.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    ALLOCATIONS.with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `Counting` upholds `GlobalAlloc`'s contract exactly as `System` does.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

macro_rules! lookups_allocate_nothing {
    ($set:ident :: $m:ident) => {{
        use $set::$m::__ember_router::{N, find};
        // Everything that allocates happens before the count starts.
        let paths = $set::paths();
        let misses: Vec<String> = paths.iter().map(|p| format!("{p}/nope/x")).collect();
        let before = ALLOCATIONS.with(Cell::get);
        let mut hits = 0;
        for path in paths
            .iter()
            .copied()
            .chain(misses.iter().map(String::as_str))
        {
            let mut p = [""; N];
            hits += usize::from(std::hint::black_box(find(path, &mut p)).is_some());
            std::hint::black_box(&p);
        }
        let after = ALLOCATIONS.with(Cell::get);
        assert!(
            hits >= paths.len(),
            "every path matches (some misses do, too)"
        );
        assert_eq!(
            after - before,
            0,
            "{}::{}: lookups allocated",
            stringify!($set),
            stringify!($m)
        );
    }};
}

#[test]
fn ember_lookups_allocate_nothing() {
    // The counter does count (on this thread).
    let before = ALLOCATIONS.with(Cell::get);
    std::hint::black_box(vec![1u8; 3]);
    assert_eq!(ALLOCATIONS.with(Cell::get) - before, 1);

    lookups_allocate_nothing!(github::auto);
    lookups_allocate_nothing!(github::whole_path);
    lookups_allocate_nothing!(wide::auto);
    lookups_allocate_nothing!(wide::match_);
    lookups_allocate_nothing!(deep_static::auto);
    lookups_allocate_nothing!(deep_static::whole_path);
    lookups_allocate_nothing!(many_static::auto);
}
