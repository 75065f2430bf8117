//! Buffers, the caching allocator, and the memory API (active/peak/cache bytes and limits).
//!
//! Every evaluated array points at a [`Buffer`]. Buffers come from a size-keyed cache of
//! freed blocks, so that the same sizes allocated again and again (the normal case in a
//! training or decode loop) skip the system allocator and its page faults. A freed block is
//! reused for a request of `size` when its capacity lies in `[size, min(2 size, size + 2 pages))`,
//! as MLX does. Allocation past the memory limit first drops the cache, then fails with
//! [`Error::OutOfMemory`]: never an abort.

use crate::error::{Error, Result};
use std::alloc::{alloc, dealloc, Layout};
use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

const ALIGN: usize = 64;
const PAGE: usize = 4096;

static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static MEMORY_LIMIT: AtomicUsize = AtomicUsize::new(0);
static CACHE_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

struct Cache {
    blocks: BTreeMap<usize, Vec<SendPtr>>,
    bytes: usize,
}

struct SendPtr(NonNull<u8>);
// SAFETY: the pointer is an owned heap block with no aliases while it sits in the cache.
unsafe impl Send for SendPtr {}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Cache { blocks: BTreeMap::new(), bytes: 0 }))
}

fn lock_cache() -> std::sync::MutexGuard<'static, Cache> {
    cache().lock().unwrap_or_else(|e| e.into_inner())
}

fn system_memory() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<usize>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(8 << 30)
}

/// The memory limit in bytes (default: 80% of system memory).
pub fn memory_limit() -> usize {
    match MEMORY_LIMIT.load(Ordering::Relaxed) {
        0 => {
            let default = system_memory() / 10 * 8;
            let _ = MEMORY_LIMIT.compare_exchange(0, default, Ordering::Relaxed, Ordering::Relaxed);
            MEMORY_LIMIT.load(Ordering::Relaxed)
        }
        n => n,
    }
}

/// Sets the memory limit and returns the previous one. Allocations that would push active
/// memory past it fail with [`Error::OutOfMemory`].
pub fn set_memory_limit(bytes: usize) -> usize {
    let old = memory_limit();
    MEMORY_LIMIT.store(bytes.max(1), Ordering::Relaxed);
    old
}

/// The cache limit in bytes (default: a quarter of the memory limit).
pub fn cache_limit() -> usize {
    match CACHE_LIMIT.load(Ordering::Relaxed) {
        usize::MAX => memory_limit() / 4,
        n => n,
    }
}

/// Sets the cache limit (0 disables caching) and returns the previous one.
pub fn set_cache_limit(bytes: usize) -> usize {
    let old = cache_limit();
    CACHE_LIMIT.store(bytes, Ordering::Relaxed);
    trim_cache(bytes);
    old
}

/// Bytes held by live buffers (the cache excluded).
pub fn active_memory() -> usize {
    ACTIVE.load(Ordering::Relaxed)
}

/// The highest [`active_memory`] seen since start or the last [`reset_peak_memory`].
pub fn peak_memory() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Resets [`peak_memory`] to the current active memory.
pub fn reset_peak_memory() {
    PEAK.store(active_memory(), Ordering::Relaxed);
}

/// Bytes held by freed blocks kept for reuse.
pub fn cache_memory() -> usize {
    lock_cache().bytes
}

/// Returns every cached block to the system.
///
/// ```
/// rmx::memory::clear_cache();
/// assert_eq!(rmx::memory::cache_memory(), 0);
/// ```
pub fn clear_cache() {
    trim_cache(0);
}

fn trim_cache(target: usize) {
    let mut cache = lock_cache();
    while cache.bytes > target {
        let Some(mut entry) = cache.blocks.last_entry() else { break };
        let capacity = *entry.key();
        let ptr = entry.get_mut().pop();
        if entry.get().is_empty() {
            entry.remove();
        }
        if let Some(SendPtr(p)) = ptr {
            cache.bytes -= capacity;
            // SAFETY: cached blocks were allocated with this exact layout.
            unsafe { dealloc(p.as_ptr(), layout(capacity)) };
        }
    }
}

/// Blocks from this size on are aligned to it and asked to be backed by huge pages.
const HUGE_PAGE: usize = 2 << 20;

fn layout(capacity: usize) -> Layout {
    let align = if on_huge_pages(capacity) { HUGE_PAGE } else { ALIGN };
    Layout::from_size_align(capacity.max(1), align).expect("buffer layout")
}

/// Whether a block of `capacity` bytes is huge-page aligned and advised (unless
/// `RMX_NO_HUGE_PAGES` is set; checked once).
fn on_huge_pages(capacity: usize) -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    capacity >= HUGE_PAGE && *ON.get_or_init(|| std::env::var_os("RMX_NO_HUGE_PAGES").is_none())
}

/// Asks the kernel to back a fresh block with 2 MB pages (Linux; a hint): fewer page faults
/// when it is first written, fewer TLB misses whenever it is streamed.
fn advise_huge_pages(ptr: NonNull<u8>, capacity: usize) {
    #[cfg(target_os = "linux")]
    if on_huge_pages(capacity) {
        // SAFETY: the range is a block this process just allocated; the advice changes no
        // contents.
        unsafe { libc::madvise(ptr.as_ptr() as *mut libc::c_void, capacity, libc::MADV_HUGEPAGE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, capacity);
}

fn take_cached(size: usize) -> Option<(NonNull<u8>, usize)> {
    let upper = (2 * size).min(size + 2 * PAGE);
    let mut cache = lock_cache();
    let (&capacity, _) = cache.blocks.range(size..upper).next()?;
    let list = cache.blocks.get_mut(&capacity)?;
    let SendPtr(p) = list.pop()?;
    if list.is_empty() {
        cache.blocks.remove(&capacity);
    }
    cache.bytes -= capacity;
    Some((p, capacity))
}

fn note_alloc(capacity: usize) {
    let now = ACTIVE.fetch_add(capacity, Ordering::Relaxed) + capacity;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// Where a buffer's bytes live and who frees them.
enum Owner {
    /// A block of the allocator with this capacity.
    Pool(usize),
    /// Memory owned by another object (a memory map, a foreign allocation).
    External(#[allow(dead_code)] Box<dyn Send + Sync>),
}

/// A contiguous, 64-byte aligned block of bytes.
pub struct Buffer {
    ptr: NonNull<u8>,
    bytes: usize,
    owner: Owner,
}

// SAFETY: a buffer is plain bytes; rmx writes to a buffer only while it is uniquely owned
// (a kernel's fresh output or a donated input), and reads otherwise.
unsafe impl Send for Buffer {}
unsafe impl Sync for Buffer {}

impl Buffer {
    /// Allocates `bytes` uninitialized bytes, from the cache when a block fits.
    pub fn allocate(bytes: usize) -> Result<Buffer> {
        let size = if bytes > PAGE { bytes.div_ceil(PAGE) * PAGE } else { bytes.next_power_of_two().max(16) };
        if let Some((ptr, capacity)) = take_cached(size) {
            note_alloc(capacity);
            return Ok(Buffer { ptr, bytes, owner: Owner::Pool(capacity) });
        }
        let limit = memory_limit();
        if active_memory() + size > limit {
            clear_cache();
            if active_memory() + size > limit {
                return Err(Error::OutOfMemory { requested: size, active: active_memory(), limit });
            }
        }
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc(layout(size)) };
        let Some(ptr) = NonNull::new(raw) else {
            clear_cache();
            return Err(Error::OutOfMemory { requested: size, active: active_memory(), limit });
        };
        advise_huge_pages(ptr, size);
        note_alloc(size);
        Ok(Buffer { ptr, bytes, owner: Owner::Pool(size) })
    }

    /// Wraps memory owned by `owner` (e.g. a memory map) without copying.
    ///
    /// # Safety
    /// `ptr` must be valid for reads of `bytes` bytes for as long as `owner` lives, and
    /// aligned to the element type it will be read as.
    pub unsafe fn from_external(ptr: NonNull<u8>, bytes: usize, owner: Box<dyn Send + Sync>) -> Buffer {
        Buffer { ptr, bytes, owner: Owner::External(owner) }
    }

    /// Whether the bytes belong to someone else (a memory map): read-only to kernels.
    pub(crate) fn is_external(&self) -> bool {
        matches!(self.owner, Owner::External(_))
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// True for a zero-byte buffer.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if let Owner::Pool(capacity) = self.owner {
            ACTIVE.fetch_sub(capacity, Ordering::Relaxed);
            let limit = cache_limit();
            let mut cache = lock_cache();
            if cache.bytes + capacity <= limit {
                cache.bytes += capacity;
                cache.blocks.entry(capacity).or_default().push(SendPtr(self.ptr));
                return;
            }
            drop(cache);
            // SAFETY: allocated in `allocate` with this layout and not cached.
            unsafe { dealloc(self.ptr.as_ptr(), layout(capacity)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_start_on_a_huge_page_boundary() {
        let boundary = if on_huge_pages(3 << 20) { HUGE_PAGE } else { ALIGN };
        let large = Buffer::allocate(3 << 20).unwrap();
        assert_eq!(large.as_ptr() as usize % boundary, 0);
        let small = Buffer::allocate(1 << 20).unwrap();
        assert_eq!(small.as_ptr() as usize % ALIGN, 0);
        // Freed into the cache and handed out again with the layout they were made with.
        drop(large);
        assert_eq!(Buffer::allocate(3 << 20).unwrap().as_ptr() as usize % boundary, 0);
    }
}
