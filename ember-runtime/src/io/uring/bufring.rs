//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19+): `num_bufs` buffers of
//! `buf_size` bytes that the kernel picks from for multishot receives. Memory cost per
//! worker: `num_bufs × buf_size` (512 KiB by default) plus 16 bytes per entry for the ring.
//!
//! A receive completion names the buffer it filled; the connection copies the bytes out at
//! once and the buffer goes straight back to the ring, so buffers are in use only between a
//! completion and the next reap, and idle connections hold none.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

/// The buffer group id every worker uses for its one ring.
pub(crate) const GROUP: u16 = 0;

/// A registered buffer ring and the buffers it hands out.
pub(crate) struct BufRing {
    ring: NonNull<BufRingEntry>,
    ring_len: usize,
    bufs: NonNull<u8>,
    bufs_len: usize,
    entries: u16,
    buf_size: u32,
    /// Our copy of the tail; published to the kernel by [`BufRing::commit`].
    tail: u16,
    registered: bool,
}

impl std::fmt::Debug for BufRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufRing")
            .field("entries", &self.entries)
            .field("buf_size", &self.buf_size)
            .finish()
    }
}

impl BufRing {
    /// Allocates `entries` (a power of two) buffers of `buf_size` bytes and registers them
    /// with `ring`.
    pub(crate) fn new(ring: &IoUring, entries: u16, buf_size: u32) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || buf_size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "num_bufs must be a power of two and buf_size above zero",
            ));
        }
        // Anonymous mappings: page-aligned, and zero pages cost no memory until the kernel
        // writes into a buffer.
        let ring_len = usize::from(entries) * size_of::<BufRingEntry>();
        let bufs_len = usize::from(entries) * buf_size as usize;
        let ring_ptr = map(ring_len)?.cast::<BufRingEntry>();
        let bufs_ptr = match map(bufs_len) {
            Ok(p) => p,
            Err(e) => {
                unmap(ring_ptr.cast(), ring_len);
                return Err(e);
            }
        };
        let mut this = BufRing {
            ring: ring_ptr,
            ring_len,
            bufs: bufs_ptr,
            bufs_len,
            entries,
            buf_size,
            tail: 0,
            registered: false,
        };
        // SAFETY: the ring memory is page-aligned, sized for `entries`, and outlives the
        // registration (unregistered in `unregister` or leaked if the kernel may still use it).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                ring_ptr.as_ptr() as u64,
                entries,
                GROUP,
                0,
            )?;
        }
        this.registered = true;
        for bid in 0..entries {
            this.push(bid);
        }
        this.commit();
        Ok(this)
    }

    /// The bytes the kernel wrote into buffer `bid`.
    pub(crate) fn data(&self, bid: u16, len: usize) -> &[u8] {
        let bid = bid % self.entries;
        let len = len.min(self.buf_size as usize);
        // SAFETY: `bid` is in range, the buffer is `buf_size` bytes inside the allocation,
        // and the kernel has finished writing it (its completion was reaped).
        unsafe {
            std::slice::from_raw_parts(
                self.bufs
                    .as_ptr()
                    .add(usize::from(bid) * self.buf_size as usize),
                len,
            )
        }
    }

    /// Hands buffer `bid` back to the kernel (visible after [`BufRing::commit`]).
    pub(crate) fn push(&mut self, bid: u16) {
        let bid = bid % self.entries;
        let mask = self.entries - 1;
        // SAFETY: the index is masked into the ring; only this thread writes entries.
        let entry = unsafe { &mut *self.ring.as_ptr().add(usize::from(self.tail & mask)) };
        entry.set_addr(self.bufs.as_ptr() as u64 + u64::from(bid) * u64::from(self.buf_size));
        entry.set_len(self.buf_size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes pushed buffers to the kernel.
    pub(crate) fn commit(&self) {
        // SAFETY: `tail` points at the ring's shared tail field, which the kernel reads with
        // acquire semantics; the store must be a release so the entries are visible first.
        unsafe {
            let tail = BufRingEntry::tail(self.ring.as_ptr()).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Recycles one buffer and publishes it.
    pub(crate) fn recycle(&mut self, bid: u16) {
        self.push(bid);
        self.commit();
    }

    /// Unregisters from `ring`; afterwards the memory can be freed.
    pub(crate) fn unregister(&mut self, ring: &IoUring) {
        if self.registered && ring.submitter().unregister_buf_ring(GROUP).is_ok() {
            self.registered = false;
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.registered {
            // The kernel may still write into these buffers: leak them rather than risk it.
            return;
        }
        unmap(self.ring.cast(), self.ring_len);
        unmap(self.bufs, self.bufs_len);
    }
}

/// A private anonymous mapping of `len` bytes.
fn map(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh anonymous mapping; no existing memory is affected.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
}

/// Unmaps a mapping made by [`map`].
fn unmap(p: NonNull<u8>, len: usize) {
    // SAFETY: `p`/`len` describe a mapping from `map` that nothing uses any more.
    unsafe { libc::munmap(p.as_ptr().cast(), len) };
}
