//! Per-worker buffer pool: connections hold a read or write buffer only while they have
//! bytes in it, so an idle connection costs no buffer memory.

use std::cell::RefCell;

/// Capacity of a fresh read buffer.
pub(crate) const BUF_SIZE: usize = 4096;
/// Capacity of a fresh write buffer: most answers are a few hundred bytes, and a larger
/// one grows its buffer once.
pub(crate) const SMALL_BUF_SIZE: usize = 1024;
/// Buffers larger than this (a big body) are freed instead of pooled.
const KEEP_AT_MOST: usize = 64 * 1024;
/// Most buffers kept for reuse.
const MAX_POOLED: usize = 1024;

/// A worker's free buffers, read-sized and write-sized.
#[derive(Debug, Default)]
pub(crate) struct BufPool {
    free: RefCell<Vec<Vec<u8>>>,
    small: RefCell<Vec<Vec<u8>>>,
}

impl BufPool {
    /// An empty buffer with at least [`BUF_SIZE`] capacity.
    pub(crate) fn take(&self) -> Vec<u8> {
        self.free
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUF_SIZE))
    }

    /// An empty buffer with at least [`SMALL_BUF_SIZE`] capacity.
    pub(crate) fn take_small(&self) -> Vec<u8> {
        self.small
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(SMALL_BUF_SIZE))
    }

    /// Gives `buf` a small pooled buffer if it has none (it was given back, or never had one).
    pub(crate) fn refill(&self, buf: &mut Vec<u8>) {
        if buf.capacity() == 0 {
            *buf = self.take_small();
        }
    }

    /// Returns a buffer (its contents are dropped). Buffers without capacity are ignored.
    pub(crate) fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > KEEP_AT_MOST {
            return;
        }
        buf.clear();
        let list = if buf.capacity() >= BUF_SIZE {
            &self.free
        } else {
            &self.small
        };
        let mut list = list.borrow_mut();
        if list.len() < MAX_POOLED {
            list.push(buf);
        }
    }

    /// Gives `buf` back if it is empty, leaving an unallocated vector in its place.
    pub(crate) fn give_if_empty(&self, buf: &mut Vec<u8>) {
        if buf.is_empty() && buf.capacity() != 0 {
            self.give(std::mem::take(buf));
        }
    }

    /// Gives a write buffer back if it is empty, to the write-sized list whatever it grew to:
    /// the next [`refill`](Self::refill) then gets a buffer that already held a batch of
    /// answers, instead of growing a fresh small one again (a pipelined batch of answers
    /// outgrows [`SMALL_BUF_SIZE`], and moving grown buffers to the read list made every
    /// batch reallocate).
    pub(crate) fn give_write_if_empty(&self, buf: &mut Vec<u8>) {
        if !buf.is_empty() || buf.capacity() == 0 || buf.capacity() > KEEP_AT_MOST {
            return;
        }
        let mut list = self.small.borrow_mut();
        if list.len() < MAX_POOLED {
            list.push(std::mem::take(buf));
        } else {
            *buf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_buffers_and_drops_huge_ones() {
        let pool = BufPool::default();
        let mut a = pool.take();
        a.extend_from_slice(b"x");
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take();
        assert_eq!(b.as_ptr(), ptr);
        assert!(b.is_empty());
        pool.give(Vec::with_capacity(KEEP_AT_MOST * 2));
        assert_eq!(pool.free.borrow().len(), 0);
        let mut empty = Vec::new();
        pool.give_if_empty(&mut empty);
        assert_eq!(pool.free.borrow().len(), 0);
    }

    #[test]
    fn a_grown_write_buffer_comes_back_as_a_write_buffer() {
        let pool = BufPool::default();
        let mut w = Vec::new();
        pool.refill(&mut w);
        w.extend_from_slice(&[b'x'; SMALL_BUF_SIZE * 3]);
        let grown = w.capacity();
        w.clear();
        pool.give_write_if_empty(&mut w);
        assert_eq!(
            w.capacity(),
            0,
            "an empty write buffer leaves the connection"
        );
        pool.refill(&mut w);
        assert_eq!(
            w.capacity(),
            grown,
            "the grown buffer is reused, not a fresh small one"
        );
        assert_eq!(
            pool.free.borrow().len(),
            0,
            "nothing moved to the read list"
        );
    }
}
