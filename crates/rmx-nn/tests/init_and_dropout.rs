//! Initializers and dropout, whose outputs are random: checked by their defining
//! properties (ranges, standard deviations from the fan formulas, orthogonality, sparsity
//! per column) and dropout's keep rate, scaling and whole-channel masks.

use rmx::{Array, Axes, Dtype};
use rmx_nn::init::{self, FanMode};
use rmx_nn::{Dropout, Module};

fn stats(a: &Array) -> (f64, f64, f64, f64) {
    let v = rmx::astype(a, Dtype::F64).unwrap().to_vec::<f64>().unwrap();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
    (mean, std, lo, hi)
}

#[test]
fn initializers_follow_their_formulas() {
    rmx::random::seed(11);
    let shape = [256, 512];
    let (fan_in, fan_out) = (512.0, 256.0);
    let (_, std, lo, hi) = stats(&init::glorot_uniform(&shape, Dtype::F32, 1.0).unwrap());
    let limit = (6.0f64 / (fan_in + fan_out)).sqrt();
    assert!(lo >= -limit && hi <= limit && (std - limit / 3f64.sqrt()).abs() < 0.02 * limit, "glorot_uniform std {std}");
    let (mean, std, _, _) = stats(&init::glorot_normal(&shape, Dtype::F32, 2.0).unwrap());
    assert!(mean.abs() < 0.01 && (std - 2.0 * (2.0 / (fan_in + fan_out)).sqrt()).abs() < 0.02 * std, "glorot_normal std {std}");
    let (_, std, _, _) = stats(&init::he_normal(&shape, Dtype::F32, FanMode::FanOut, 1.0).unwrap());
    assert!((std - 1.0 / fan_out.sqrt()).abs() < 0.02 * std, "he_normal std {std}");
    let (_, _, lo, hi) = stats(&init::he_uniform(&[8, 3, 3, 16], Dtype::F32, FanMode::FanIn, 1.0).unwrap());
    let limit = (3.0f64 / (16.0 * 9.0)).sqrt();
    assert!(lo >= -limit && hi <= limit && hi > 0.9 * limit, "he_uniform range with the kernel in the fan");
    assert_eq!(init::fans(&[8, 3, 3, 16]).unwrap(), (144, 72));
    assert!(init::fans(&[5]).is_err());

    let q = init::orthogonal(&[6, 4], Dtype::F32, 1.0).unwrap();
    let qtq = rmx::matmul(&rmx::transpose(&q, None).unwrap(), &q).unwrap();
    let err =
        rmx::max(&rmx::abs(&rmx::subtract(&qtq, rmx::eye(4, None, 0, Dtype::F32).unwrap()).unwrap()).unwrap(), Axes::All, false).unwrap();
    assert!(err.item::<f32>().unwrap() < 1e-5, "orthogonal columns");

    let s = init::sparse(&[10, 7], Dtype::F32, 0.3, 0.0, 1.0).unwrap();
    let zeros_per_column = rmx::sum(&rmx::equal(&s, 0.0).unwrap(), 0, false).unwrap();
    assert_eq!(rmx::astype(&zeros_per_column, Dtype::I32).unwrap().to_vec::<i32>().unwrap(), vec![3; 7]);
    assert!(init::sparse(&[10], Dtype::F32, 0.3, 0.0, 1.0).is_err());

    assert_eq!(
        init::identity(&[3, 3], Dtype::F32).unwrap().to_vec::<f32>().unwrap(),
        rmx::eye(3, None, 0, Dtype::F32).unwrap().to_vec::<f32>().unwrap()
    );
    assert!(init::identity(&[3, 4], Dtype::F32).is_err());
    assert_eq!(init::constant(&[2], Dtype::F32, 0.5).unwrap().to_vec::<f32>().unwrap(), vec![0.5, 0.5]);
    let (_, _, lo, hi) = stats(&init::uniform(&[1000], Dtype::F32, 2.0, 3.0).unwrap());
    assert!(lo >= 2.0 && hi < 3.0);
}

#[test]
fn dropout_keeps_the_expected_fraction_and_scales_it() {
    rmx::random::seed(12);
    let x = rmx::ones(&[100_000], Dtype::F32).unwrap();
    let y = Dropout::new(0.25).unwrap().forward(&x).unwrap();
    let v = y.to_vec::<f32>().unwrap();
    let kept = v.iter().filter(|&&e| e != 0.0).count() as f64 / v.len() as f64;
    assert!((kept - 0.75).abs() < 0.01, "kept {kept}");
    assert!(v.iter().all(|&e| e == 0.0 || (e - 1.0 / 0.75).abs() < 1e-6), "survivors scaled by 1/(1-p)");
    assert!(Dropout::new(1.0).is_err() && Dropout::new(-0.1).is_err());

    // Dropout2d drops whole channels: every spatial position of a (sample, channel) agrees.
    let x = rmx::ones(&[4, 5, 5, 8], Dtype::F32).unwrap();
    let y = Dropout::new_2d(0.5).unwrap().forward(&x).unwrap();
    let per_channel = rmx::max(&y, [1, 2], false).unwrap();
    let per_channel_min = rmx::min(&y, [1, 2], false).unwrap();
    assert_eq!(per_channel.to_vec::<f32>().unwrap(), per_channel_min.to_vec::<f32>().unwrap());
    let flat = rmx::ones(&[5, 8], Dtype::F32).unwrap();
    assert!(Dropout::new_3d(0.5).unwrap().forward(&flat).is_err(), "Dropout3d needs 4 or 5 dimensions");

    let mut d = Dropout::new(0.5).unwrap();
    d.train(false);
    assert_eq!(d.forward(&x).unwrap().to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
}
