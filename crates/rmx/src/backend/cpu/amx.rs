//! Intel AMX (Advanced Matrix Extensions) for bfloat16 products: detection, the per-process
//! permission Linux asks for, and the tile micro-kernel.
//!
//! AMX adds eight tile registers of up to 16 rows × 64 bytes and `tdpbf16ps`, which adds the
//! product of a 16×32 bfloat16 tile and a 32×16 one (stored as 16 rows of 16 bfloat16 pairs)
//! to a 16×16 float32 tile: 8,192 multiply-adds per instruction. Rust has no stable AMX
//! intrinsics, so the instructions are written as inline assembly; the compiler never uses
//! the tile registers itself. Like the hardware's other bfloat16 dot products, `tdpbf16ps`
//! treats subnormal inputs as zero and rounds to nearest even.
//!
//! Linux keeps the tile state off until a process asks for it (`arch_prctl(ARCH_REQ_XCOMP_PERM)`);
//! [`available`] asks once and reports AMX only when the CPU has it, the OS saves its state
//! and the request succeeded. `RMX_NO_AMX` (any value) turns it off.

/// Bytes per tile row, and rows per tile, in the one tile shape the kernels use.
pub const TILE_BYTES: usize = 64;
pub const TILE_ROWS: usize = 16;
/// Bytes of one full tile.
pub const TILE_SIZE: usize = TILE_BYTES * TILE_ROWS;

/// Whether the AMX bfloat16 kernels can run in this process (checked once).
pub fn available() -> bool {
    use std::sync::OnceLock;
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| std::env::var_os("RMX_NO_AMX").is_none() && detect())
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    let (leaf1, leaf7) = (__cpuid(1), __cpuid_count(7, 0));
    let osxsave = leaf1.ecx & (1 << 27) != 0;
    let (amx_bf16, amx_tile) = (leaf7.edx & (1 << 22) != 0, leaf7.edx & (1 << 24) != 0);
    if !(osxsave && amx_bf16 && amx_tile) {
        return false;
    }
    // XCR0 bits 17 and 18: the OS saves the tile configuration and tile data.
    let (lo, _hi): (u32, u32);
    // SAFETY: xgetbv with ecx = 0 is valid when OSXSAVE is set (checked above).
    unsafe { std::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") _hi, options(nomem, nostack)) };
    if lo & (0b11 << 17) != 0b11 << 17 {
        return false;
    }
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    const SYS_ARCH_PRCTL: i64 = 158;
    let ret: i64;
    // SAFETY: arch_prctl only changes this process's permission to use the tile state.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        )
    };
    ret == 0
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// A tile configuration with all eight tiles 16 rows × 64 bytes (palette 1), as
/// `ldtilecfg` reads it.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn uniform() -> Self {
        let mut bytes = [0u8; 64];
        bytes[0] = 1;
        for t in 0..8 {
            bytes[16 + 2 * t] = TILE_BYTES as u8;
            bytes[48 + t] = TILE_ROWS as u8;
        }
        TileConfig(bytes)
    }
}

/// Tiles configured on the current thread for [`Tiles::product_32x32`]; released on drop.
pub struct Tiles(());

impl Tiles {
    /// Configures the tiles of the current thread.
    ///
    /// # Safety
    /// [`available`] must have returned true.
    pub unsafe fn configure() -> Tiles {
        let config = TileConfig::uniform();
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AMX is available (the caller's guarantee); the configuration is valid.
        unsafe {
            std::arch::asm!("ldtilecfg [{0}]", in(reg) config.0.as_ptr(), options(nostack, readonly))
        };
        let _ = config;
        Tiles(())
    }

    /// A 32×32 float32 block of `A · B` into `c` (row-major, 128 bytes per row): `a0`/`a1`
    /// point at the first k-step tile of two 16-row strips of A and `b0`/`b1` at those of two
    /// 16-column strips of B, each strip `steps` tiles of [`TILE_SIZE`] bytes one after the
    /// other (A tiles: 16 rows × 32 bfloat16 of one k-step; B tiles: 16 rows of k pairs × 16
    /// columns × 2 bfloat16). `c` is overwritten.
    ///
    /// # Safety
    /// The tiles are configured on this thread; each strip holds `steps ≥ 1` tiles and `c`
    /// has room for 32 × 32 floats.
    #[inline]
    pub unsafe fn product_32x32(&self, [a0, a1]: [*const u8; 2], [b0, b1]: [*const u8; 2], steps: usize, c: *mut f32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded from the caller; tmm0-7 are used by no code but this module's.
        unsafe {
            std::arch::asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "2:",
                "tileloadd tmm4, [{a0} + {stride}*1]",
                "tileloadd tmm6, [{b0} + {stride}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{b1} + {stride}*1]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tileloadd tmm5, [{a1} + {stride}*1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "add {a0}, {tile}",
                "add {a1}, {tile}",
                "add {b0}, {tile}",
                "add {b1}, {tile}",
                "dec {steps}",
                "jnz 2b",
                "tilestored [{c} + {c_stride}*1], tmm0",
                "tilestored [{c} + {c_stride}*1 + 64], tmm1",
                "add {c}, {c_half}",
                "tilestored [{c} + {c_stride}*1], tmm2",
                "tilestored [{c} + {c_stride}*1 + 64], tmm3",
                a0 = inout(reg) a0 => _,
                a1 = inout(reg) a1 => _,
                b0 = inout(reg) b0 => _,
                b1 = inout(reg) b1 => _,
                steps = inout(reg) steps => _,
                c = inout(reg) c => _,
                stride = in(reg) TILE_BYTES,
                tile = const TILE_SIZE,
                c_stride = in(reg) 128usize,
                c_half = const 16 * 128,
                options(nostack),
            )
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (a0, a1, b0, b1, steps, c);
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: releasing configured tiles has no other precondition.
        unsafe {
            std::arch::asm!("tilerelease", options(nostack, nomem))
        };
    }
}
