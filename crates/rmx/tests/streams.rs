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
