//! The lazy graph: laziness, deep chains, detaching, buffer donation, multiple evals.

use rmx::{Array, Dtype};

#[test]
fn ops_are_lazy_until_eval() {
    let a = rmx::ones(&[4], Dtype::F32).unwrap();
    let b = rmx::exp(&a).unwrap();
    assert!(!b.is_evaluated());
    b.eval().unwrap();
    assert!(b.is_evaluated());
    assert_eq!(b.to_vec::<f32>().unwrap(), vec![std::f32::consts::E; 4]);
}

#[test]
fn a_million_op_chain_evaluates_and_drops_without_overflow() {
    // Run in a thread with a small stack: recursion anywhere in build, eval or drop would blow it.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let mut x = Array::scalar(0.0f32);
            for _ in 0..1_000_000 {
                x = rmx::add(&x, 1.0f32).unwrap();
            }
            assert_eq!(x.item::<f32>().unwrap(), 1_000_000.0);
            let mut y = Array::scalar(0i32);
            for _ in 0..1_000_000 {
                y = rmx::add(&y, 1).unwrap();
            }
            drop(y); // never evaluated: the whole chain is dropped
        })
        .unwrap();
    handle.join().unwrap();
}

#[test]
fn eval_detaches_the_graph() {
    let a = rmx::ones(&[1000], Dtype::F32).unwrap();
    let b = rmx::multiply(&a, 2.0).unwrap();
    let c = rmx::add(&b, 1.0).unwrap();
    c.eval().unwrap();
    drop(a);
    drop(b);
    // c no longer references its inputs: evaluating again is free and correct.
    assert_eq!(c.to_vec::<f32>().unwrap()[999], 3.0);
}

#[test]
fn shared_subgraph_is_computed_once_and_correct() {
    let a = rmx::arange(0.0, 5.0, 1.0, Dtype::F32).unwrap();
    let b = rmx::exp(&a).unwrap();
    let c = rmx::add(&b, &b).unwrap();
    let d = rmx::subtract(&c, &b).unwrap();
    rmx::eval(&[c.clone(), d.clone()]).unwrap();
    let bv = b.to_vec::<f32>().unwrap();
    let dv = d.to_vec::<f32>().unwrap();
    for i in 0..5 {
        assert!((bv[i] - dv[i]).abs() < 1e-5 * bv[i]);
    }
}

#[test]
fn donation_reuses_buffers_in_chains() {
    // A chain of element-wise ops on a temporary should not grow peak memory with its length.
    let n = 1 << 20;
    let x = rmx::ones(&[n], Dtype::F32).unwrap();
    x.eval().unwrap();
    rmx::memory::reset_peak_memory();
    let base = rmx::memory::active_memory();
    let mut y = rmx::multiply(&x, 2.0f32).unwrap();
    for _ in 0..20 {
        y = rmx::add(rmx::exp(&y).unwrap(), 1.0f32).unwrap();
        y = rmx::log(&y).unwrap();
    }
    y.eval().unwrap();
    let grown = rmx::memory::peak_memory() - base;
    assert!(grown <= 3 * n * 4, "peak grew by {grown} bytes for a chain over {} bytes", n * 4);
}

#[test]
fn views_share_buffers() {
    let a = rmx::arange(0.0, 12.0, 1.0, Dtype::F32).unwrap();
    a.eval().unwrap();
    let before = rmx::memory::active_memory();
    let t = rmx::transpose(&rmx::reshape(&a, &[3, 4]).unwrap(), None).unwrap();
    let s = rmx::slice(&t, &[1, 0], &[3, 3], &[1, 2]).unwrap();
    s.eval().unwrap();
    assert_eq!(rmx::memory::active_memory(), before);
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![1.0, 9.0, 2.0, 10.0]);
}

#[test]
fn arrays_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Array>();
    let a = rmx::ones(&[8], Dtype::F32).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let a = a.clone();
            std::thread::spawn(move || rmx::multiply(&a, i as f32).unwrap().to_vec::<f32>().unwrap()[0])
        })
        .collect();
    let got: Vec<f32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, vec![0.0, 1.0, 2.0, 3.0]);
}
