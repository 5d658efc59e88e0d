//! Small byte buffers that go back to their thread's free list when dropped: a JSON body
//! or a block of extra headers is built in a buffer an earlier response used, so a worker
//! answering steadily allocates none (the body is then copied once, into the write buffer).

use std::cell::RefCell;

/// Buffers kept per thread: more than one worker's responses alive at once rarely are.
const KEEP: usize = 64;
/// Larger buffers (a big body) are freed instead of kept.
const MAX_KEPT: usize = 4096;
/// Capacity of a buffer the free list could not provide.
const FRESH: usize = 128;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A byte buffer returned to the thread's free list when dropped (when it is small).
#[derive(Debug, Default)]
pub(crate) struct Recycled(pub(crate) Vec<u8>);

impl Recycled {
    /// An empty buffer from the free list, or a new one.
    pub(crate) fn take() -> Recycled {
        let reused = FREE
            .try_with(|f| f.try_borrow_mut().ok().and_then(|mut f| f.pop()))
            .ok()
            .flatten();
        Recycled(reused.unwrap_or_else(|| Vec::with_capacity(FRESH)))
    }

    /// The bytes, moved out (the buffer is not recycled: its new owner keeps it).
    pub(crate) fn into_inner(mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let cap = self.0.capacity();
        if cap == 0 || cap > MAX_KEPT {
            return;
        }
        let mut buf = std::mem::take(&mut self.0);
        buf.clear();
        // A thread being torn down, or a list in use, just frees the buffer.
        let _ = FREE.try_with(|f| {
            if let Ok(mut f) = f.try_borrow_mut()
                && f.len() < KEEP
            {
                f.push(buf);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_reused_empty_and_a_big_one_is_freed() {
        let mut a = Recycled::take();
        a.0.extend_from_slice(b"{\"id\":1}");
        let ptr = a.0.as_ptr();
        drop(a);
        let b = Recycled::take();
        assert_eq!(b.0.as_ptr(), ptr, "the same allocation comes back");
        assert!(b.0.is_empty());
        drop(b);
        let _ = Recycled::take(); // empties the list again
        drop(Recycled(Vec::with_capacity(MAX_KEPT * 2)));
        let c = Recycled::take();
        assert_eq!(c.0.capacity(), FRESH, "the big buffer was not kept");
    }

    #[test]
    fn moved_out_bytes_are_not_recycled() {
        let mut a = Recycled::take();
        a.0.extend_from_slice(b"kept");
        let v = a.into_inner();
        assert_eq!(v, b"kept");
    }
}
