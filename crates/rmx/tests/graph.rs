//! The lazy graph: laziness, deep chains, detaching, shared subgraphs, thread safety.
//! (Buffer donation and view sharing are checked in memory.rs, where nothing runs alongside.)

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

/// `depends` orders without data flow: evaluating the output computes the dependency too,
/// and the output shares its input's buffer.
#[test]
fn depends_computes_the_dependencies_first() {
    let a = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
    let side = rmx::exp(&a).unwrap();
    let out = rmx::depends(std::slice::from_ref(&a), std::slice::from_ref(&side)).unwrap().remove(0);
    assert!(!side.is_evaluated());
    out.eval().unwrap();
    assert!(side.is_evaluated());
    assert_eq!(out.to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
    assert!(rmx::depends(&[], std::slice::from_ref(&side)).is_err());
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

/// Threads that evaluate the same lazy nodes at once wait for each other instead of
/// failing (a node being computed by one thread has no primitive and no data yet).
#[test]
fn concurrent_evaluation_of_a_shared_graph_waits_instead_of_failing() {
    for round in 0..200 {
        let shared = rmx::exp(&rmx::multiply(rmx::ones(&[4096], Dtype::F32).unwrap(), 0.001 * round as f32).unwrap()).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let s = shared.clone();
                std::thread::spawn(move || rmx::add(&s, i as f32).unwrap().to_vec::<f32>().unwrap()[7])
            })
            .collect();
        let want = (0.001f32 * round as f32).exp();
        for (i, h) in handles.into_iter().enumerate() {
            let got = h.join().unwrap();
            assert!((got - want - i as f32).abs() < 1e-4, "round {round}, thread {i}: {got}");
        }
    }
}
