//! Devices and streams: placement, per-thread defaults, ordering by data dependencies.

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
