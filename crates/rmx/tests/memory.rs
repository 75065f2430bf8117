//! Memory accounting, the cache and the memory limit.

use rmx::{memory, Dtype, Error};

// One test function: memory counters and limits are process-wide, so the steps must not
// interleave with other tests of this binary.
#[test]
fn accounting_cache_limit_views_and_donation() {
    views_share_buffers();
    donation_keeps_chains_flat();
    let n = 1 << 20;
    let before = memory::active_memory();
    let a = rmx::ones(&[n], Dtype::F32).unwrap();
    a.eval().unwrap();
    assert!(memory::active_memory() >= before + n * 4);
    assert!(memory::peak_memory() >= memory::active_memory());
    drop(a);
    assert_eq!(memory::active_memory(), before);
    assert!(memory::cache_memory() >= n * 4, "freed buffer should be cached");
    memory::clear_cache();
    assert_eq!(memory::cache_memory(), 0);

    // Exceeding the memory limit is an error, not an abort, and the process carries on.
    let old = memory::set_memory_limit(64 << 20);
    let big = rmx::ones(&[100 << 20], Dtype::F32).unwrap();
    match big.eval() {
        Err(Error::OutOfMemory { requested, limit, .. }) => {
            assert!(requested >= 400 << 20);
            assert_eq!(limit, 64 << 20);
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    memory::set_memory_limit(old);
    let small = rmx::ones(&[16], Dtype::F32).unwrap();
    assert_eq!(small.to_vec::<f32>().unwrap(), vec![1.0; 16]);

    // A zero cache limit disables caching.
    let old_cache = memory::set_cache_limit(0);
    let b = rmx::ones(&[n], Dtype::F32).unwrap();
    b.eval().unwrap();
    drop(b);
    assert_eq!(memory::cache_memory(), 0);
    memory::set_cache_limit(old_cache);
}

fn views_share_buffers() {
    let a = rmx::arange(0.0, 12.0, 1.0, Dtype::F32).unwrap();
    a.eval().unwrap();
    let before = memory::active_memory();
    let t = rmx::transpose(&rmx::reshape(&a, &[3, 4]).unwrap(), None).unwrap();
    let s = rmx::slice(&t, &[1, 0], &[3, 3], &[1, 2]).unwrap();
    s.eval().unwrap();
    assert_eq!(memory::active_memory(), before, "views must not allocate");
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![1.0, 9.0, 2.0, 10.0]);
}

fn donation_keeps_chains_flat() {
    // A chain of element-wise ops on a temporary should not grow peak memory with its length.
    let n = 1 << 20;
    let x = rmx::ones(&[n], Dtype::F32).unwrap();
    x.eval().unwrap();
    memory::reset_peak_memory();
    let base = memory::active_memory();
    let mut y = rmx::multiply(&x, 2.0f32).unwrap();
    for _ in 0..20 {
        y = rmx::add(rmx::exp(&y).unwrap(), 1.0f32).unwrap();
        y = rmx::log(&y).unwrap();
    }
    y.eval().unwrap();
    let grown = memory::peak_memory() - base;
    assert!(grown <= 3 * n * 4, "peak grew by {grown} bytes for a chain over {} bytes", n * 4);
}
