//! Memory accounting, the cache and the memory limit.

use rmx::{memory, Dtype, Error};

// One test function: the limits are process-wide, so the steps must not interleave with
// other tests of this binary.
#[test]
fn accounting_cache_and_limit() {
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
