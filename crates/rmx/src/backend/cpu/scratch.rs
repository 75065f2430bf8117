//! Scratch space for kernels, taken from rmx's buffer cache.
//!
//! A fresh `Vec` of a few megabytes comes from the system allocator as new pages, and the
//! first write to each 4 KiB page faults: measured, that was a third of the time of sorting a
//! million floats. Cached blocks are mapped already. When the allocator refuses (the memory
//! limit), the scratch falls back to the system allocator: it lives only as long as the
//! kernel, and failing a sort for its temporary space would surprise more than exceeding the
//! limit by it briefly.

use crate::memory::Buffer;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

/// `len` uninitialized slots of `T` for the duration of a kernel.
pub struct Scratch<T> {
    backing: Backing<T>,
    len: usize,
    _t: PhantomData<T>,
}

enum Backing<T> {
    Cached(Buffer),
    Heap(Vec<MaybeUninit<T>>),
}

impl<T: Copy> Scratch<T> {
    /// Scratch for `len` elements.
    pub fn new(len: usize) -> Scratch<T> {
        let bytes = (len * std::mem::size_of::<T>()).max(1);
        let backing = match Buffer::allocate(bytes) {
            // The cache's blocks are 64-byte aligned, enough for any element type here.
            Ok(buffer) if std::mem::align_of::<T>() <= 64 => Backing::Cached(buffer),
            _ => Backing::Heap((0..len).map(|_| MaybeUninit::uninit()).collect()),
        };
        Scratch { backing, len, _t: PhantomData }
    }

    /// The slots, to be written before they are read.
    pub fn slots(&mut self) -> &mut [MaybeUninit<T>] {
        match &mut self.backing {
            // SAFETY: the buffer holds `len` elements' bytes, aligned, owned by this scratch.
            Backing::Cached(buffer) => unsafe { std::slice::from_raw_parts_mut(buffer.as_ptr() as *mut MaybeUninit<T>, self.len) },
            Backing::Heap(vec) => vec,
        }
    }
}
