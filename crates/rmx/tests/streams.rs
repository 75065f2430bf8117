//! Devices and streams: placement, per-thread defaults, ordering by data dependencies,
//! evaluation in the background (`async_eval`).

use rmx::{Device, Dtype};

#[test]
fn ops_run_on_the_stream_they_were_built_on() {
    let s = rmx::new_stream(Device::Cpu).unwrap();
    let a = rmx::ones(&[4], Dtype::F32).unwrap();
    let b = rmx::with_stream(s, || rmx::multiply(&a, 3.0f32).unwrap()).unwrap();
    assert_eq!(b.stream(), s);
    assert_eq!(a.stream(), rmx::default_stream(Device::Cpu));
    // A consumer on the default stream sees the producer's result (dependency ordering).
    let c = rmx::add(&b, 1.0f32).unwrap();
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![4.0; 4]);
    rmx::synchronize(Some(s)).unwrap();
    rmx::synchronize(None).unwrap();
}

#[test]
fn default_device_is_per_thread() {
    assert_eq!(rmx::default_device(), Device::Cpu);
    std::thread::spawn(|| {
        assert_eq!(rmx::default_device(), Device::Cpu);
        assert!(rmx::set_default_device(Device::Gpu(0)).is_err());
    })
    .join()
    .unwrap();
    assert_eq!(rmx::device_count(rmx::DeviceType::Cpu), 1);
}

#[test]
fn streams_run_concurrently_and_meet_at_their_data() {
    // A diamond over three streams, with work on each stream both before and after the
    // exchange, so every lane waits on another's output at least once.
    let (s1, s2) = (rmx::new_stream(Device::Cpu).unwrap(), rmx::new_stream(Device::Cpu).unwrap());
    let x = rmx::arange(0.0, 1000.0, 1.0, Dtype::F32).unwrap();
    let a = rmx::with_stream(s1, || rmx::multiply(&x, 2.0f32).unwrap()).unwrap();
    let b = rmx::with_stream(s2, || rmx::add(rmx::sqrt(&a).unwrap(), 1.0f32).unwrap()).unwrap();
    let c = rmx::with_stream(s1, || rmx::subtract(&a, 3.0f32).unwrap()).unwrap();
    let d = rmx::with_stream(s2, || rmx::multiply(&b, &c).unwrap()).unwrap();
    let e = rmx::sum(&rmx::add(&d, &a).unwrap(), None, false).unwrap();
    let expected: f64 =
        (0..1000).map(|i| (2.0 * i as f64).sqrt() + 1.0).zip(0..1000).map(|(b, i)| b * (2.0 * i as f64 - 3.0) + 2.0 * i as f64).sum();
    let got = e.item::<f32>().unwrap() as f64;
    assert!((got - expected).abs() <= 1e-5 * expected.abs(), "{got} vs {expected}");
    assert_eq!(d.stream(), s2);
    // Gradients through a graph spread over streams (the transform's settings reach the
    // stream threads: the graph must stay attached while they evaluate it).
    let g = rmx::grad(
        |xs: &[rmx::Array]| {
            let y = rmx::with_stream(s1, || rmx::exp(&xs[0]).unwrap()).unwrap();
            let z = rmx::with_stream(s2, || rmx::multiply(&y, &xs[0]).unwrap()).unwrap();
            Ok(vec![rmx::sum(&z, None, false)?])
        },
        &[0],
    );
    let at = rmx::Array::from_slice(&[0.5f32, -1.0], &[2]).unwrap();
    let dx = g(&[at]).unwrap()[0].to_vec::<f32>().unwrap();
    for (v, x) in dx.iter().zip([0.5f32, -1.0]) {
        assert!((v - x.exp() * (1.0 + x)).abs() < 1e-5, "{v}");
    }
}

#[test]
fn a_failure_on_one_stream_is_the_error_every_stream_reports() {
    let (s1, s2) = (rmx::new_stream(Device::Cpu).unwrap(), rmx::new_stream(Device::Cpu).unwrap());
    let table = rmx::arange(0.0, 4.0, 1.0, Dtype::F32).unwrap();
    let bad = rmx::Array::from_slice(&[1u32, 9], &[2]).unwrap();
    let gathered = rmx::with_stream(s1, || rmx::take(&table, &bad, Some(0)).unwrap()).unwrap();
    let other = rmx::with_stream(s2, || rmx::multiply(&table, 2.0f32).unwrap()).unwrap();
    let joined = rmx::with_stream(s2, || rmx::add(rmx::sum(&gathered, None, false).unwrap(), &other).unwrap()).unwrap();
    let err = joined.eval().unwrap_err().to_string();
    assert!(err.contains('9'), "the gather's own error, naming the index: {err}");
    // Nothing was lost: the independent branch evaluates, and the failed one fails again.
    assert_eq!(other.to_vec::<f32>().unwrap(), vec![0.0, 2.0, 4.0, 6.0]);
    assert!(gathered.eval().is_err());
}

/// `steps` rounds of `x ← (x @ w) * 0.01` on 1024² float32: a graph that takes a while.
fn slow_graph(steps: usize) -> rmx::Array {
    let w = rmx::full(&[1024, 1024], 0.5f32, Dtype::F32).unwrap();
    let mut x = rmx::ones(&[1024, 1024], Dtype::F32).unwrap();
    for _ in 0..steps {
        x = rmx::multiply(rmx::matmul(&x, &w).unwrap(), 0.01f32).unwrap();
    }
    x
}

#[test]
fn async_eval_returns_before_the_work_is_done() {
    // Forty 1024³ products: tens of milliseconds at the least on any CPU.
    let x = slow_graph(40);
    rmx::async_eval(std::slice::from_ref(&x)).unwrap();
    assert!(!x.is_evaluated(), "async_eval waited for the evaluation");
    // A graph built on top meanwhile reads the filled value: eval waits for it.
    let y = rmx::sum(&x, None, false).unwrap();
    // Each round multiplies every entry by 1024 · 0.5 · 0.01 = 5.12.
    let want = 1024.0 * 1024.0 * 5.12f64.powi(40);
    let got = y.item::<f32>().unwrap() as f64;
    assert!((got - want).abs() <= want * 1e-4, "{got} vs {want}");
    assert!(x.is_evaluated());
    rmx::synchronize(None).unwrap();
}

#[test]
fn an_async_eval_failure_is_the_error_of_the_next_eval() {
    let table = rmx::arange(0.0, 4.0, 1.0, Dtype::F32).unwrap();
    let bad = rmx::Array::from_slice(&[1u32, 9], &[2]).unwrap();
    let gathered = rmx::take(&table, &bad, Some(0)).unwrap();
    let doubled = rmx::multiply(&gathered, 2.0f32).unwrap();
    // Starting the evaluation succeeds; its failure surfaces where the value is read.
    rmx::async_eval(std::slice::from_ref(&doubled)).unwrap();
    rmx::synchronize(None).unwrap();
    assert!(!doubled.is_evaluated());
    let err = doubled.eval().unwrap_err().to_string();
    assert!(err.contains('9'), "the gather's own error, naming the index: {err}");
    assert!(doubled.to_vec::<f32>().is_err());
}

#[test]
fn async_evals_from_several_threads_all_finish() {
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let a = rmx::full(&[256], i as f32, Dtype::F32).unwrap();
                let b = rmx::add(rmx::multiply(&a, 2.0f32).unwrap(), 1.0f32).unwrap();
                rmx::async_eval(std::slice::from_ref(&b)).unwrap();
                b.to_vec::<f32>().unwrap()
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), vec![2.0 * i as f32 + 1.0; 256]);
    }
}
