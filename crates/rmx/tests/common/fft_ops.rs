//! Golden-runner ops for `rmx::fft` (names `fft.<op>`; arguments as in NumPy).

use rmx::fft::{self, FftNorm};
use rmx::{Array, Result};
use serde_json::Value;

fn norm(args: &Value) -> FftNorm {
    match args.get("norm").and_then(Value::as_str) {
        None | Some("backward") => FftNorm::Backward,
        Some("ortho") => FftNorm::Ortho,
        Some("forward") => FftNorm::Forward,
        Some(other) => panic!("unknown norm {other}"),
    }
}

fn list<T>(args: &Value, key: &str, f: impl Fn(&Value) -> T) -> Option<Vec<T>> {
    args.get(key).and_then(Value::as_array).map(|v| v.iter().map(f).collect())
}

pub fn run(op: &str, x: &[Array], args: &Value) -> Result<Vec<Array>> {
    let n = args.get("n").and_then(Value::as_u64).map(|n| n as usize);
    let axis = args.get("axis").and_then(Value::as_i64).unwrap_or(-1) as isize;
    let s = list(args, "s", |v| v.as_u64().unwrap() as usize);
    let axes = list(args, "axes", |v| v.as_i64().unwrap() as isize);
    let (s, axes_opt, nrm) = (s.as_deref(), axes.as_deref(), norm(args));
    let axes2 = axes_opt.unwrap_or(&[-2, -1]);
    let d = args.get("d").and_then(Value::as_f64).unwrap_or(1.0);
    Ok(vec![match op {
        "fft.fft" => fft::fft(&x[0], n, axis, nrm)?,
        "fft.ifft" => fft::ifft(&x[0], n, axis, nrm)?,
        "fft.rfft" => fft::rfft(&x[0], n, axis, nrm)?,
        "fft.irfft" => fft::irfft(&x[0], n, axis, nrm)?,
        "fft.fft2" => fft::fft2(&x[0], s, axes2, nrm)?,
        "fft.ifft2" => fft::ifft2(&x[0], s, axes2, nrm)?,
        "fft.rfft2" => fft::rfft2(&x[0], s, axes2, nrm)?,
        "fft.irfft2" => fft::irfft2(&x[0], s, axes2, nrm)?,
        "fft.fftn" => fft::fftn(&x[0], s, axes_opt, nrm)?,
        "fft.ifftn" => fft::ifftn(&x[0], s, axes_opt, nrm)?,
        "fft.rfftn" => fft::rfftn(&x[0], s, axes_opt, nrm)?,
        "fft.irfftn" => fft::irfftn(&x[0], s, axes_opt, nrm)?,
        "fft.fftfreq" => fft::fftfreq(n.unwrap(), d)?,
        "fft.rfftfreq" => fft::rfftfreq(n.unwrap(), d)?,
        "fft.fftshift" => fft::fftshift(&x[0], axes_opt)?,
        "fft.ifftshift" => fft::ifftshift(&x[0], axes_opt)?,
        other => panic!("golden runner does not know op {other}"),
    }])
}
