//! Executable memory for generated code: written while mapped read-write, then switched to
//! read-execute (never both at once), unmapped on drop.

use std::ptr::NonNull;

/// A block of machine code mapped executable.
pub struct ExecutableCode {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is immutable once built and owned by this value alone.
unsafe impl Send for ExecutableCode {}
// SAFETY: as above; running the code does not write the mapping.
unsafe impl Sync for ExecutableCode {}

impl ExecutableCode {
    /// Maps `code` executable; `None` when the system refuses (no memory, or a policy that
    /// forbids executable mappings), in which case callers keep their interpreted path.
    #[cfg(unix)]
    pub fn new(code: &[u8]) -> Option<ExecutableCode> {
        let len = code.len().max(1);
        // SAFETY: an anonymous private mapping has no preconditions; the result is checked.
        let raw = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let ptr = NonNull::new(raw as *mut u8)?;
        let mapped = ExecutableCode { ptr, len };
        // SAFETY: the mapping is `len >= code.len()` writable bytes that nothing else sees.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), ptr.as_ptr(), code.len()) };
        // SAFETY: the range is the mapping made above.
        let protected = unsafe { libc::mprotect(raw, len, libc::PROT_READ | libc::PROT_EXEC) };
        (protected == 0).then_some(mapped)
    }

    /// Executable mappings are made on Unix systems only.
    #[cfg(not(unix))]
    pub fn new(_code: &[u8]) -> Option<ExecutableCode> {
        None
    }

    /// The first byte of the code.
    pub fn entry(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for ExecutableCode {
    #[cfg(unix)]
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` with this length and is not used after drop.
        unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.len) };
    }

    #[cfg(not(unix))]
    fn drop(&mut self) {}
}
