//! Devices and streams.
//!
//! Arrays have no device; operations do. Each op runs on a [`Stream`], which belongs to a
//! [`Device`]. Every thread has a default device and, per device, a default stream; ops built
//! inside [`with_stream`] or [`with_device`] run there instead. Work on different streams is
//! ordered by the data dependencies between arrays, so a user never synchronizes by hand to
//! get correct results; [`synchronize`] exists to wait for outstanding work.

use crate::error::{Error, Result};
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Kind of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceType {
    Cpu,
    Gpu,
}

/// A compute device: the CPU, or a GPU by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    Gpu(usize),
}

impl Device {
    /// The device type.
    pub fn device_type(self) -> DeviceType {
        match self {
            Device::Cpu => DeviceType::Cpu,
            Device::Gpu(_) => DeviceType::Gpu,
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Gpu(i) => write!(f, "gpu({i})"),
        }
    }
}

/// Number of devices of a type available to this process.
pub fn device_count(kind: DeviceType) -> usize {
    match kind {
        DeviceType::Cpu => 1,
        DeviceType::Gpu => 0,
    }
}

/// A queue of work on one device. Streams are cheap handles; `index` is unique per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stream {
    pub index: usize,
    pub device: Device,
}

static NEXT_STREAM: AtomicUsize = AtomicUsize::new(1);

/// The process-wide default stream of the CPU (index 0).
pub const CPU_STREAM: Stream = Stream { index: 0, device: Device::Cpu };

thread_local! {
    static DEFAULT_DEVICE: RefCell<Device> = const { RefCell::new(Device::Cpu) };
    static DEFAULT_STREAMS: RefCell<Vec<Stream>> = const { RefCell::new(Vec::new()) };
}

fn check_available(device: Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        Device::Gpu(i) => Err(Error::NotImplemented(format!("device gpu({i}): this build of rmx has no GPU backend"))),
    }
}

/// The calling thread's default device and streams (carried to the thread that evaluates).
pub(crate) fn thread_defaults() -> (Device, Vec<Stream>) {
    (default_device(), DEFAULT_STREAMS.with(|s| s.borrow().clone()))
}

/// Sets [`thread_defaults`] on this thread.
pub(crate) fn set_thread_defaults(device: Device, streams: Vec<Stream>) {
    DEFAULT_DEVICE.with(|d| *d.borrow_mut() = device);
    DEFAULT_STREAMS.with(|s| *s.borrow_mut() = streams);
}

/// The calling thread's default device.
pub fn default_device() -> Device {
    DEFAULT_DEVICE.with(|d| *d.borrow())
}

/// Sets the calling thread's default device.
pub fn set_default_device(device: Device) -> Result<()> {
    check_available(device)?;
    DEFAULT_DEVICE.with(|d| *d.borrow_mut() = device);
    Ok(())
}

/// The calling thread's default stream on `device`.
pub fn default_stream(device: Device) -> Stream {
    DEFAULT_STREAMS.with(|s| {
        let mut streams = s.borrow_mut();
        if let Some(found) = streams.iter().find(|st| st.device == device) {
            return *found;
        }
        let stream = if device == Device::Cpu { CPU_STREAM } else { Stream { index: NEXT_STREAM.fetch_add(1, Ordering::Relaxed), device } };
        streams.push(stream);
        stream
    })
}

/// Makes `stream` the calling thread's default stream for its device.
pub fn set_default_stream(stream: Stream) -> Result<()> {
    check_available(stream.device)?;
    DEFAULT_STREAMS.with(|s| {
        let mut streams = s.borrow_mut();
        streams.retain(|st| st.device != stream.device);
        streams.push(stream);
    });
    Ok(())
}

/// Creates a new stream on `device`.
///
/// ```
/// let s = rmx::new_stream(rmx::Device::Cpu).unwrap();
/// assert_ne!(s, rmx::default_stream(rmx::Device::Cpu));
/// ```
pub fn new_stream(device: Device) -> Result<Stream> {
    check_available(device)?;
    Ok(Stream { index: NEXT_STREAM.fetch_add(1, Ordering::Relaxed), device })
}

/// The stream that ops built now on this thread are placed on.
pub fn current_stream() -> Stream {
    default_stream(default_device())
}

/// Runs `f` with `stream` as the default stream and its device as the default device
/// (Python's `with mx.stream(s):`).
pub fn with_stream<R>(stream: Stream, f: impl FnOnce() -> R) -> Result<R> {
    check_available(stream.device)?;
    let old_device = default_device();
    let old_stream = default_stream(stream.device);
    set_default_device(stream.device)?;
    set_default_stream(stream)?;
    let out = f();
    set_default_stream(old_stream)?;
    set_default_device(old_device)?;
    Ok(out)
}

/// Runs `f` with `device` as the default device.
pub fn with_device<R>(device: Device, f: impl FnOnce() -> R) -> Result<R> {
    with_stream(default_stream(device), f)
}

/// Waits until all work submitted on `stream` (or every stream, for `None`) has finished.
pub fn synchronize(stream: Option<Stream>) -> Result<()> {
    if let Some(s) = stream {
        check_available(s.device)?;
    }
    crate::eval::wait_all();
    Ok(())
}
