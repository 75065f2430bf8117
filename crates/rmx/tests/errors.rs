//! Bad input gives typed errors that name the op, shapes and dtypes; nothing panics.

use rmx::{Array, Dtype, Error};

fn f32s(shape: &[usize]) -> Array {
    rmx::zeros(shape, Dtype::F32).unwrap()
}

#[test]
fn incompatible_shapes_name_op_and_shapes() {
    let err = rmx::add(f32s(&[3]), f32s(&[4])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::IncompatibleShapes { op: "add", .. }), "{msg}");
    assert!(msg.contains("[3]") && msg.contains("[4]"), "{msg}");
    assert!(rmx::matmul(&f32s(&[2, 3]), &f32s(&[4, 5])).unwrap_err().to_string().contains("inner dimensions 3 and 4"));
    assert!(rmx::reshape(&f32s(&[6]), &[4, -1]).is_err());
    assert!(rmx::concatenate(&[f32s(&[2, 3]), f32s(&[2, 4])], 0).is_err());
    assert!(rmx::broadcast_to(&f32s(&[3]), &[2, 4]).is_err());
}

#[test]
fn bad_axes_are_errors() {
    let a = f32s(&[2, 3]);
    assert!(matches!(rmx::sum(&a, 2, false), Err(Error::AxisOutOfRange { op: "sum", axis: 2, ndim: 2 })));
    assert!(rmx::sum(&a, [0, 0], false).is_err());
    assert!(rmx::transpose(&a, Some(&[0, 0])).is_err());
    assert!(rmx::squeeze(&a, Some(&[0])).is_err());
    assert!(rmx::argmax(&a, Some(-3), false).is_err());
}

#[test]
fn wrong_dtypes_are_errors() {
    let f = f32s(&[3]);
    let err = rmx::bitwise_and(&f, &f).unwrap_err();
    assert!(matches!(err, Error::UnsupportedDtype { op: "bitwise_and", dtype: Dtype::F32, .. }), "{err}");
    assert!(rmx::negative(&rmx::zeros(&[2], Dtype::Bool).unwrap()).is_err());
    assert!(rmx::matmul(&rmx::zeros(&[2, 2], Dtype::I32).unwrap(), &rmx::zeros(&[2, 2], Dtype::I32).unwrap()).is_err());
    assert!(rmx::finfo(Dtype::I32).is_err());
    assert!(rmx::iinfo(Dtype::F32).is_err());
}

#[test]
fn invalid_arguments_are_errors() {
    assert!(rmx::arange(0.0, 10.0, 0.0, Dtype::F32).is_err());
    assert!(rmx::arange(0.0, f64::INFINITY, 1.0, Dtype::F32).is_err());
    assert!(rmx::arange(0.0, 3.0, 1.0, Dtype::Bool).is_err());
    assert!(rmx::reshape(&f32s(&[4]), &[-2, 2]).is_err());
    assert!(rmx::full(&[usize::MAX, 4], 1.0, Dtype::F32).is_err());
    assert!(Array::from_slice(&[1.0f32, 2.0], &[3]).is_err());
    assert!(rmx::add(rmx::zeros(&[2], Dtype::U8).unwrap(), -1).is_err());
    assert!(rmx::slice(&f32s(&[4]), &[0], &[4], &[0]).is_err());
    assert!(rmx::split(&f32s(&[5]), 2, 0).is_err());
    assert!(rmx::max(&f32s(&[0]), 0, false).is_err());
    assert!(rmx::argmax(&f32s(&[0]), None, false).is_err());
    assert!(rmx::as_strided(&f32s(&[4]), &[3], &[2], 0).unwrap().eval().is_err());
    assert!(rmx::zeros(&[2], Dtype::F32).unwrap().item::<f32>().is_err());
    assert!(rmx::zeros(&[2], Dtype::F32).unwrap().to_vec::<i32>().is_err());
    // view: the last axis must hold whole elements of the larger type; 0-d only same-size.
    let msg = rmx::view(&f32s(&[2, 3]), Dtype::C64).unwrap_err().to_string();
    assert!(msg.contains("view") && msg.contains("[2, 3]") && msg.contains("12"), "{msg}");
    assert!(rmx::view(&f32s(&[]), Dtype::U8).unwrap_err().to_string().contains("0-d"));
    let msg = rmx::median(&f32s(&[3, 0]), 1, false).unwrap_err().to_string();
    assert!(msg.contains("median") && msg.contains("empty"), "{msg}");
    assert!(rmx::isdtype(Dtype::F32, &["floats"]).unwrap_err().to_string().contains("floats"));
}

#[test]
fn bad_index_updates_are_errors() {
    use rmx::Index;
    let a = f32s(&[4, 5]);
    // Values that do not broadcast to the indexed shape name both shapes.
    let msg = rmx::at_index(&a, &[Index::Slice(Some(1), Some(3), 1)]).add(f32s(&[3, 5])).unwrap_err().to_string();
    assert!(msg.contains("at") && msg.contains("[3, 5]") && msg.contains("[2, 5]"), "{msg}");
    let i = Array::from_slice(&[0i32, 1], &[2]).unwrap();
    assert!(rmx::at_index(&a, &[Index::Slice(None, None, 1), Index::Array(i.clone())]).set(f32s(&[3])).is_err());
    // Out-of-range integers, too many indices, float index arrays.
    assert!(rmx::index_update(&a, &[Index::At(4)], 1.0f32).unwrap_err().to_string().contains("out of bounds"));
    assert!(rmx::index_update(&a, &[Index::At(0), Index::At(0), Index::At(0)], 1.0f32).is_err());
    assert!(rmx::at_index(&a, &[Index::Array(f32s(&[2])), Index::At(0)]).add(1.0f32).is_err());
    let msg = rmx::slice_update_max(&a, &f32s(&[3, 5]), &[0, 0], &[4, 5], &[2, 1]).unwrap_err().to_string();
    assert!(msg.contains("slice_update_max") && msg.contains("[3, 5]"), "{msg}");
    let msg = rmx::scatter_add_axis(&a, &i, &f32s(&[2]), 1).unwrap_err().to_string();
    assert!(msg.contains("scatter_add_axis") && msg.contains("rank"), "{msg}");
}

/// `isdtype` over every dtype and kind, against MLX 0.32.4's answers (`mx.isdtype(d, kind)`;
/// the members listed per kind).
#[test]
fn isdtype_matches_mlx() {
    use Dtype::*;
    let all = [Bool, U8, U16, U32, U64, I8, I16, I32, I64, F16, BF16, F32, F64, C64];
    let kinds: [(&str, &[Dtype]); 7] = [
        ("bool", &[Bool]),
        ("signed integer", &[I8, I16, I32, I64]),
        ("unsigned integer", &[U8, U16, U32, U64]),
        ("integral", &[U8, U16, U32, U64, I8, I16, I32, I64]),
        ("real floating", &[F16, BF16, F32, F64]),
        ("complex floating", &[C64]),
        ("numeric", &[U8, U16, U32, U64, I8, I16, I32, I64, F16, BF16, F32, F64, C64]),
    ];
    for (kind, members) in kinds {
        for d in all {
            assert_eq!(rmx::isdtype(d, &[kind]).unwrap(), members.contains(&d), "{d} in {kind:?}");
        }
    }
    assert!(rmx::isdtype(I32, &["real floating", "int32"]).unwrap());
}

#[test]
fn gpu_is_an_error_not_a_panic() {
    assert!(rmx::set_default_device(rmx::Device::Gpu(0)).is_err());
    assert!(rmx::new_stream(rmx::Device::Gpu(0)).is_err());
}

#[test]
fn bad_quantization_arguments_are_errors() {
    use rmx::QuantMode::Affine;
    let w = f32s(&[4, 64]);
    let msg = |e: Error| e.to_string();
    assert!(msg(rmx::quantize(&w, 64, 7, Affine).unwrap_err()).contains("bits"));
    assert!(msg(rmx::quantize(&w, 48, 4, Affine).unwrap_err()).contains("group_size"));
    assert!(msg(rmx::quantize(&f32s(&[4, 40]), 32, 4, Affine).unwrap_err()).contains("divisible"));
    assert!(msg(rmx::quantize(&f32s(&[64]), 32, 4, Affine).unwrap_err()).contains("ndim"));
    assert!(rmx::quantize(&Array::from_slice(&[1i32; 64], &[2, 32]).unwrap(), 32, 4, Affine).is_err());
    // The floating-point modes fix their group size and bits, take no biases and uint8 scales;
    // only nvfp4 takes a global scale, a float32 scalar.
    use rmx::QuantMode::{Mxfp4, Mxfp8, Nvfp4};
    assert!(msg(rmx::quantize(&w, 64, 4, Mxfp4).unwrap_err()).contains("group_size 32"));
    assert!(msg(rmx::quantize(&w, 32, 4, Mxfp8).unwrap_err()).contains("bits 8"));
    let (fq, fs, none) = rmx::quantize(&w, 32, 4, Mxfp4).unwrap();
    assert!(none.is_none());
    assert!(msg(rmx::dequantize(&fq, &fs, Some(&fs), 32, 4, Mxfp4, None).unwrap_err()).contains("no biases"));
    let f32_scales = rmx::astype(&fs, rmx::Dtype::F32).unwrap();
    assert!(msg(rmx::dequantize(&fq, &f32_scales, None, 32, 4, Mxfp4, None).unwrap_err()).contains("uint8"));
    let global = Array::from_slice(&[2.0f32], &[]).unwrap();
    assert!(msg(rmx::quantize_with_global_scale(&w, 32, 4, Mxfp4, &global).unwrap_err()).contains("Nvfp4"));
    assert!(msg(rmx::qqmm(&w, &w, None, 32, 4, Mxfp4).unwrap_err()).contains("Nvfp4 and Mxfp8"));
    assert!(msg(rmx::qqmm(&f32s(&[2, 32]), &w, None, 32, 8, Mxfp8).unwrap_err()).contains("x's last axis"));
    let two = Array::from_slice(&[2.0f32, 3.0], &[2]).unwrap();
    assert!(msg(rmx::quantize_with_global_scale(&w, 16, 4, Nvfp4, &two).unwrap_err()).contains("global scale"));
    let qq = |g: &Array, mode, group, bits| rmx::qqmm_with_global_scales(&w, &w, None, Some(g), None, group, bits, mode);
    assert!(msg(qq(&global, Mxfp8, 32, 8).unwrap_err()).contains("only valid in mode Nvfp4"));
    assert!(msg(qq(&two, Nvfp4, 16, 4).unwrap_err()).contains("one float32"));
    let (wq, s, b) = rmx::quantize(&w, 32, 4, Affine).unwrap();
    assert!(msg(rmx::dequantize(&wq, &s, None, 32, 4, Affine, None).unwrap_err()).contains("biases"));
    assert!(msg(rmx::dequantize(&wq, &s, b.as_ref(), 64, 4, Affine, None).unwrap_err()).contains("scales"));
    let err = rmx::quantized_matmul(&f32s(&[2, 32]), &wq, &s, b.as_ref(), true, 32, 4, Affine).unwrap_err();
    assert!(msg(err).contains("last axis"));
    assert!(rmx::quantized_matmul(&f32s(&[2, 64]), &wq, &s, b.as_ref(), true, 32, 4, Affine).is_ok());
}
