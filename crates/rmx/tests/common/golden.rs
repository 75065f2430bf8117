//! Golden-file runner: loads `tests/golden/<family>.safetensors` (written by
//! `scripts/gen_goldens.py`), rebuilds each case's inputs with their layouts (so kernels see
//! transposed, strided and broadcast views), runs the op, and compares dtype, shape and values.

use rmx::{Array, Axes, Dtype};
use safetensors::SafeTensors;
use serde_json::Value;

pub fn golden_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

fn dtype_of(d: safetensors::Dtype) -> Dtype {
    use safetensors::Dtype as S;
    match d {
        S::BOOL => Dtype::Bool,
        S::U8 => Dtype::U8,
        S::U16 => Dtype::U16,
        S::U32 => Dtype::U32,
        S::U64 => Dtype::U64,
        S::I8 => Dtype::I8,
        S::I16 => Dtype::I16,
        S::I32 => Dtype::I32,
        S::I64 => Dtype::I64,
        S::F16 => Dtype::F16,
        S::BF16 => Dtype::BF16,
        S::F32 => Dtype::F32,
        S::F64 => Dtype::F64,
        S::C64 => Dtype::C64,
        other => panic!("unexpected dtype {other:?} in golden file"),
    }
}

fn load(st: &SafeTensors, key: &str) -> Array {
    let t = st.tensor(key).unwrap_or_else(|e| panic!("{key}: {e}"));
    Array::from_bytes(t.data(), t.shape(), dtype_of(t.dtype())).expect("golden tensor")
}

/// Applies a stored layout, giving a view of the logical input.
fn with_layout(stored: Array, layout: Option<&str>, logical: &[usize]) -> Array {
    match layout {
        None => stored,
        Some("T") => rmx::transpose(&stored, None).unwrap(),
        Some("step2") => {
            let nd = stored.ndim();
            let starts = vec![0isize; nd];
            let stops: Vec<isize> = stored.shape().iter().map(|&d| d as isize).collect();
            let mut steps = vec![1isize; nd];
            steps[nd - 1] = 2;
            rmx::slice(&stored, &starts, &stops, &steps).unwrap()
        }
        Some("bcast") => rmx::broadcast_to(&stored, logical).unwrap(),
        Some(other) => panic!("unknown layout {other}"),
    }
}

fn as_f64(a: &Array) -> Vec<(f64, f64)> {
    let a = if a.dtype() == Dtype::C64 { a.clone() } else { rmx::astype(a, Dtype::F64).unwrap() };
    if a.dtype() == Dtype::C64 {
        a.to_vec::<num_complex_shim::C64>().unwrap().into_iter().map(|c| (c.re as f64, c.im as f64)).collect()
    } else {
        a.to_vec::<f64>().unwrap().into_iter().map(|v| (v, 0.0)).collect()
    }
}

mod num_complex_shim {
    pub type C64 = rmx::element::C64;
}

fn close(got: f64, want: f64, rtol: f64, atol: f64) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    if want.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= atol + rtol * want.abs()
}

/// Compares one output; returns a description of the first mismatch.
pub fn compare(got: &Array, want: &Array, rtol: f64, atol: f64) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!("dtype {} != expected {}", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Err(format!("shape {:?} != expected {:?}", got.shape(), want.shape()));
    }
    let exact = !want.dtype().is_inexact();
    if exact && want.dtype() != Dtype::U64 && want.dtype() != Dtype::I64 {
        let (g, w) = (as_f64(got), as_f64(want));
        if let Some(i) = (0..g.len()).find(|&i| g[i] != w[i]) {
            return Err(format!("element {i}: {:?} != expected {:?}", g[i].0, w[i].0));
        }
        return Ok(());
    }
    if exact {
        let (g, w) = (got.to_bytes().unwrap(), want.to_bytes().unwrap());
        if g != w {
            return Err("64-bit integer bytes differ".into());
        }
        return Ok(());
    }
    let (g, w) = (as_f64(got), as_f64(want));
    for i in 0..g.len() {
        if !close(g[i].0, w[i].0, rtol, atol) || !close(g[i].1, w[i].1, rtol, atol) {
            return Err(format!("element {i}: {:?} != expected {:?} (rtol {rtol}, atol {atol})", g[i], w[i]));
        }
    }
    Ok(())
}

fn axes(args: &Value) -> Axes {
    match args.get("axes") {
        None | Some(Value::Null) => Axes::All,
        Some(v) => Axes::List(v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as isize).collect()),
    }
}

fn ints(args: &Value, key: &str) -> Vec<isize> {
    args[key].as_array().unwrap_or_else(|| panic!("missing {key}")).iter().map(|x| x.as_i64().unwrap() as isize).collect()
}

fn usizes(args: &Value, key: &str) -> Vec<usize> {
    ints(args, key).into_iter().map(|x| x as usize).collect()
}

fn f(args: &Value, key: &str) -> f64 {
    args[key].as_f64().unwrap_or_else(|| panic!("missing {key}"))
}

/// A JSON number as the scalar operand Python would pass (integers stay integers, so they
/// keep an integer array's dtype); `None` for null.
fn scalar(v: &Value) -> Option<rmx::Operand> {
    match (v.as_i64(), v.as_f64()) {
        (Some(i), _) => Some(rmx::Operand::Scalar(rmx::Scalar::Int(i))),
        (None, Some(x)) => Some(rmx::Operand::Scalar(rmx::Scalar::Float(x))),
        _ => None,
    }
}

fn dtype_arg(args: &Value) -> Dtype {
    Dtype::from_name(args["dtype"].as_str().unwrap()).unwrap()
}

/// Builds an index expression: `["at", i]`, `["slice", start, stop, step]`, `["new"]`,
/// `["ellipsis"]`, `["array", input_position]`.
fn index_expr(expr: &Value, x: &[Array]) -> Vec<rmx::Index> {
    expr.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let e = e.as_array().unwrap();
            match e[0].as_str().unwrap() {
                "at" => rmx::Index::At(e[1].as_i64().unwrap() as isize),
                "slice" => {
                    rmx::Index::Slice(e[1].as_i64().map(|v| v as isize), e[2].as_i64().map(|v| v as isize), e[3].as_i64().unwrap() as isize)
                }
                "new" => rmx::Index::NewAxis,
                "ellipsis" => rmx::Index::Ellipsis,
                _ => rmx::Index::Array(x[e[1].as_u64().unwrap() as usize].clone()),
            }
        })
        .collect()
}

/// Runs one op by its mlx.core name.
pub fn run_op(op: &str, x: &[Array], args: &Value) -> rmx::Result<Vec<Array>> {
    let keepdims = args.get("keepdims").and_then(Value::as_bool).unwrap_or(false);
    let one = |r: rmx::Result<Array>| r.map(|a| vec![a]);
    let unary: Option<fn(&Array) -> rmx::Result<Array>> = match op {
        "abs" => Some(rmx::abs),
        "negative" => Some(rmx::negative),
        "sign" => Some(rmx::sign),
        "sqrt" => Some(rmx::sqrt),
        "rsqrt" => Some(rmx::rsqrt),
        "square" => Some(rmx::square),
        "reciprocal" => Some(rmx::reciprocal),
        "exp" => Some(rmx::exp),
        "expm1" => Some(rmx::expm1),
        "log" => Some(rmx::log),
        "log2" => Some(rmx::log2),
        "log10" => Some(rmx::log10),
        "log1p" => Some(rmx::log1p),
        "sin" => Some(rmx::sin),
        "cos" => Some(rmx::cos),
        "tan" => Some(rmx::tan),
        "arcsin" => Some(rmx::arcsin),
        "arccos" => Some(rmx::arccos),
        "arctan" => Some(rmx::arctan),
        "sinh" => Some(rmx::sinh),
        "cosh" => Some(rmx::cosh),
        "tanh" => Some(rmx::tanh),
        "arcsinh" => Some(rmx::arcsinh),
        "arccosh" => Some(rmx::arccosh),
        "arctanh" => Some(rmx::arctanh),
        "sigmoid" => Some(rmx::sigmoid),
        "erf" => Some(rmx::erf),
        "erfinv" => Some(rmx::erfinv),
        "floor" => Some(rmx::floor),
        "trunc" => Some(rmx::trunc),
        "ceil" => Some(rmx::ceil),
        "conj" => Some(rmx::conj),
        "real" => Some(rmx::real),
        "imag" => Some(rmx::imag),
        "logical_not" => Some(rmx::logical_not),
        "bitwise_invert" => Some(rmx::bitwise_invert),
        "isnan" => Some(rmx::isnan),
        "isinf" => Some(rmx::isinf),
        "isfinite" => Some(rmx::isfinite),
        "isposinf" => Some(rmx::isposinf),
        "isneginf" => Some(rmx::isneginf),
        "degrees" => Some(rmx::degrees),
        "radians" => Some(rmx::radians),
        _ => None,
    };
    if let Some(fun) = unary {
        return one(fun(&x[0]));
    }
    type Bin = fn(&Array, &Array) -> rmx::Result<Array>;
    let binary: Option<Bin> = match op {
        "add" => Some(|a, b| rmx::add(a, b)),
        "subtract" => Some(|a, b| rmx::subtract(a, b)),
        "multiply" => Some(|a, b| rmx::multiply(a, b)),
        "divide" => Some(|a, b| rmx::divide(a, b)),
        "floor_divide" => Some(|a, b| rmx::floor_divide(a, b)),
        "remainder" => Some(|a, b| rmx::remainder(a, b)),
        "power" => Some(|a, b| rmx::power(a, b)),
        "maximum" => Some(|a, b| rmx::maximum(a, b)),
        "minimum" => Some(|a, b| rmx::minimum(a, b)),
        "logaddexp" => Some(|a, b| rmx::logaddexp(a, b)),
        "arctan2" => Some(|a, b| rmx::arctan2(a, b)),
        "equal" => Some(|a, b| rmx::equal(a, b)),
        "not_equal" => Some(|a, b| rmx::not_equal(a, b)),
        "less" => Some(|a, b| rmx::less(a, b)),
        "less_equal" => Some(|a, b| rmx::less_equal(a, b)),
        "greater" => Some(|a, b| rmx::greater(a, b)),
        "greater_equal" => Some(|a, b| rmx::greater_equal(a, b)),
        "logical_and" => Some(|a, b| rmx::logical_and(a, b)),
        "logical_or" => Some(|a, b| rmx::logical_or(a, b)),
        "bitwise_and" => Some(|a, b| rmx::bitwise_and(a, b)),
        "bitwise_or" => Some(|a, b| rmx::bitwise_or(a, b)),
        "bitwise_xor" => Some(|a, b| rmx::bitwise_xor(a, b)),
        "left_shift" => Some(|a, b| rmx::left_shift(a, b)),
        "right_shift" => Some(|a, b| rmx::right_shift(a, b)),
        "matmul" => Some(rmx::matmul),
        _ => None,
    };
    if let Some(fun) = binary {
        return one(fun(&x[0], &x[1]));
    }
    match op {
        "nan_to_num" => {
            let opt = |k: &str| args.get(k).and_then(Value::as_f64);
            one(rmx::nan_to_num(&x[0], opt("nan").unwrap_or(0.0), opt("posinf"), opt("neginf")))
        }
        "round" => one(rmx::round(&x[0], args.get("decimals").and_then(Value::as_i64).unwrap_or(0) as i32)),
        "where" => one(rmx::where_(&x[0], &x[1], &x[2])),
        "sum" => one(rmx::sum(&x[0], axes(args), keepdims)),
        "prod" => one(rmx::prod(&x[0], axes(args), keepdims)),
        "max" => one(rmx::max(&x[0], axes(args), keepdims)),
        "min" => one(rmx::min(&x[0], axes(args), keepdims)),
        "mean" => one(rmx::mean(&x[0], axes(args), keepdims)),
        "all" => one(rmx::all(&x[0], axes(args), keepdims)),
        "any" => one(rmx::any(&x[0], axes(args), keepdims)),
        "median" => one(rmx::median(&x[0], axes(args), keepdims)),
        "var" => one(rmx::var(&x[0], axes(args), keepdims, args["ddof"].as_u64().unwrap() as usize)),
        "std" => one(rmx::std(&x[0], axes(args), keepdims, args["ddof"].as_u64().unwrap() as usize)),
        "logsumexp" => one(rmx::logsumexp(&x[0], axes(args), keepdims)),
        "softmax" => one(rmx::softmax(&x[0], axes(args))),
        "count_nonzero" => one(rmx::count_nonzero(&x[0], axes(args), keepdims)),
        "argmax" | "argmin" => {
            let axis = args.get("axis").and_then(Value::as_i64).map(|a| a as isize);
            one(if op == "argmax" { rmx::argmax(&x[0], axis, keepdims) } else { rmx::argmin(&x[0], axis, keepdims) })
        }
        "addmm" => one(rmx::addmm(&x[0], &x[1], &x[2], f(args, "alpha"), f(args, "beta"))),
        "reshape" => one(rmx::reshape(&x[0], &ints(args, "shape"))),
        "transpose" => one(match args.get("axes") {
            Some(_) => rmx::transpose(&x[0], Some(&ints(args, "axes"))),
            None => rmx::transpose(&x[0], None),
        }),
        "swapaxes" => one(rmx::swapaxes(&x[0], f(args, "axis1") as isize, f(args, "axis2") as isize)),
        "moveaxis" => one(rmx::moveaxis(&x[0], f(args, "source") as isize, f(args, "destination") as isize)),
        "squeeze" => one(rmx::squeeze(&x[0], None)),
        "expand_dims" => one(rmx::expand_dims(&x[0], &ints(args, "axes"))),
        "flatten" => one(rmx::flatten(&x[0], f(args, "start") as isize, f(args, "end") as isize)),
        "broadcast_to" => one(rmx::broadcast_to(&x[0], &usizes(args, "shape"))),
        "slice" => one(rmx::slice(&x[0], &ints(args, "starts"), &ints(args, "stops"), &ints(args, "steps"))),
        "slice_update" => one(rmx::slice_update(&x[0], &x[1], &ints(args, "starts"), &ints(args, "stops"), &ints(args, "steps"))),
        "concatenate" => one(rmx::concatenate(x, f(args, "axis") as isize)),
        "stack" => one(rmx::stack(x, f(args, "axis") as isize)),
        "split" => rmx::split(&x[0], f(args, "sections") as usize, f(args, "axis") as isize),
        "as_strided" => one(rmx::as_strided(&x[0], &usizes(args, "shape"), &ints(args, "strides"), f(args, "offset") as usize)),
        "astype" => one(rmx::astype(&x[0], dtype_arg(args))),
        "view" => one(rmx::view(&x[0], dtype_arg(args))),
        "arange" => one(rmx::arange(f(args, "start"), f(args, "stop"), f(args, "step"), dtype_arg(args))),
        "linspace" => one(rmx::linspace(f(args, "start"), f(args, "stop"), f(args, "num") as usize, dtype_arg(args))),
        "hanning" => one(rmx::hanning(f(args, "m") as usize)),
        "hamming" => one(rmx::hamming(f(args, "m") as usize)),
        "blackman" => one(rmx::blackman(f(args, "m") as usize)),
        "bartlett" => one(rmx::bartlett(f(args, "m") as usize)),
        "eye" => one(rmx::eye(f(args, "n") as usize, Some(f(args, "m") as usize), f(args, "k") as isize, dtype_arg(args))),
        "tri" => one(rmx::tri(f(args, "n") as usize, Some(f(args, "m") as usize), f(args, "k") as isize, dtype_arg(args))),
        "full" => one(rmx::full(&usizes(args, "shape"), f(args, "value"), dtype_arg(args))),
        "zeros" => one(rmx::zeros(&usizes(args, "shape"), dtype_arg(args))),
        "ones" => one(rmx::ones(&usizes(args, "shape"), dtype_arg(args))),
        "identity" => one(rmx::identity(f(args, "n") as usize, dtype_arg(args))),
        "tril" => one(rmx::tril(&x[0], f(args, "k") as isize)),
        "triu" => one(rmx::triu(&x[0], f(args, "k") as isize)),
        "cumsum" | "cumprod" | "cummax" | "cummin" | "logcumsumexp" => {
            let axis = args.get("axis").and_then(Value::as_i64).map(|a| a as isize);
            let (rev, inc) = (args["reverse"].as_bool().unwrap(), args["inclusive"].as_bool().unwrap());
            one(match op {
                "cumsum" => rmx::cumsum(&x[0], axis, rev, inc),
                "cumprod" => rmx::cumprod(&x[0], axis, rev, inc),
                "cummax" => rmx::cummax(&x[0], axis, rev, inc),
                "cummin" => rmx::cummin(&x[0], axis, rev, inc),
                _ => rmx::logcumsumexp(&x[0], axis, rev, inc),
            })
        }
        "sort" => one(rmx::sort(&x[0], Some(f(args, "axis") as isize))),
        "argsort" => one(rmx::argsort(&x[0], Some(f(args, "axis") as isize))),
        "topk" => one(rmx::topk(&x[0], f(args, "k") as usize, Some(f(args, "axis") as isize))),
        "searchsorted" => one(rmx::searchsorted(&x[0], &x[1], args["right"].as_bool().unwrap())),
        "diff" => one(rmx::diff(&x[0], f(args, "n") as usize, f(args, "axis") as isize)),
        "take" => one(rmx::take(&x[0], &x[1], args.get("axis").and_then(Value::as_i64).map(|a| a as isize))),
        "take_along_axis" => one(rmx::take_along_axis(&x[0], &x[1], Some(f(args, "axis") as isize))),
        "put_along_axis" => one(rmx::put_along_axis(&x[0], &x[1], &x[2], f(args, "axis") as isize)),
        "at_add" => one(rmx::at(&x[0], &x[1..2]).add(&x[2])),
        "at_subtract" => one(rmx::at(&x[0], &x[1..2]).subtract(&x[2])),
        "at_multiply" => one(rmx::at(&x[0], &x[1..2]).multiply(&x[2])),
        "at_maximum" => one(rmx::at(&x[0], &x[1..2]).maximum(&x[2])),
        "at_minimum" => one(rmx::at(&x[0], &x[1..2]).minimum(&x[2])),
        "at_set" => one(rmx::at(&x[0], &x[1..2]).set(&x[2])),
        "gather" => one(rmx::gather(&x[0], &x[1..], &ints(args, "axes"))),
        "masked_scatter" => one(rmx::masked_scatter(&x[0], &x[1], &x[2])),
        "slice_dynamic" => one(rmx::slice_dynamic(&x[0], &x[1], &ints(args, "axes"), &usizes(args, "sizes"))),
        "slice_update_dynamic" => one(rmx::slice_update_dynamic(&x[0], &x[1], &x[2], &ints(args, "axes"))),
        "index" => one(rmx::index(&x[0], &index_expr(&args["expr"], x))),
        "index_update" => {
            let at = rmx::at_index(&x[0], &index_expr(&args["expr"], x));
            one(match args["mode"].as_str().unwrap() {
                "set" => at.set(&x[1]),
                "add" => at.add(&x[1]),
                "subtract" => at.subtract(&x[1]),
                "multiply" => at.multiply(&x[1]),
                "divide" => at.divide(&x[1]),
                "maximum" => at.maximum(&x[1]),
                _ => at.minimum(&x[1]),
            })
        }
        "slice_update_add" | "slice_update_prod" | "slice_update_max" | "slice_update_min" => {
            let (starts, stops, steps) = (ints(args, "starts"), ints(args, "stops"), ints(args, "steps"));
            let update = match op {
                "slice_update_add" => rmx::slice_update_add,
                "slice_update_prod" => rmx::slice_update_prod,
                "slice_update_max" => rmx::slice_update_max,
                _ => rmx::slice_update_min,
            };
            one(update(&x[0], &x[1], &starts, &stops, &steps))
        }
        "scatter_add_axis" => one(rmx::scatter_add_axis(&x[0], &x[1], &x[2], f(args, "axis") as isize)),
        "divmod" => rmx::divmod(&x[0], &x[1]).map(|(q, r)| vec![q, r]),
        "logical_xor" => one(rmx::logical_xor(&x[0], &x[1])),
        "isclose" | "allclose" => {
            let (rtol, atol, equal_nan) = (f(args, "rtol"), f(args, "atol"), args["equal_nan"].as_bool().unwrap());
            one(if op == "isclose" {
                rmx::isclose(&x[0], &x[1], rtol, atol, equal_nan)
            } else {
                rmx::allclose(&x[0], &x[1], rtol, atol, equal_nan)
            })
        }
        "array_equal" => one(rmx::array_equal(&x[0], &x[1], args["equal_nan"].as_bool().unwrap())),
        "clip" if x.len() == 3 => one(rmx::clip(&x[0], Some(&x[1]), Some(&x[2]))),
        "clip" => one(rmx::clip(&x[0], scalar(&args["min"]), scalar(&args["max"]))),
        "zeros_like" => one(rmx::zeros_like(&x[0])),
        "ones_like" => one(rmx::ones_like(&x[0])),
        "full_like" => one(rmx::full_like(&x[0], f(args, "value"))),
        "unflatten" => one(rmx::unflatten(&x[0], f(args, "axis") as isize, &ints(args, "shape"))),
        "permute_dims" => one(rmx::permute_dims(&x[0], Some(&ints(args, "axes")))),
        "broadcast_arrays" => rmx::broadcast_arrays(x),
        "atleast_1d" => one(rmx::atleast_1d(&x[0])),
        "atleast_2d" => one(rmx::atleast_2d(&x[0])),
        "atleast_3d" => one(rmx::atleast_3d(&x[0])),
        "unstack" => rmx::unstack(&x[0], f(args, "axis") as isize),
        "partition" | "argpartition" => {
            let (kth, axis) = (f(args, "kth") as isize, f(args, "axis") as isize);
            let values = if op == "partition" {
                rmx::partition(&x[0], kth, Some(axis))?
            } else {
                rmx::take_along_axis(&x[0], &rmx::argpartition(&x[0], kth, Some(axis))?, Some(axis))?
            };
            canonical_partition(&values, kth, axis)
        }
        "einsum_path" => {
            let (path, _) = rmx::einsum_path(args["subscripts"].as_str().unwrap(), x)?;
            let flat: Vec<i64> = path.iter().flat_map(|&(i, j)| [i as i64, j as i64]).collect();
            one(Array::from_slice(&flat, &[path.len(), 2]))
        }
        "conv_general" => {
            let params = rmx::ConvParams {
                stride: usizes(args, "stride"),
                padding: usizes(args, "padding_lo").into_iter().zip(usizes(args, "padding_hi")).collect(),
                kernel_dilation: usizes(args, "kernel_dilation"),
                input_dilation: usizes(args, "input_dilation"),
                groups: f(args, "groups") as usize,
                flip: args["flip"].as_bool().unwrap(),
            };
            one(rmx::conv_general(&x[0], &x[1], &params))
        }
        "flip" => one(match args.get("axes") {
            Some(Value::Array(_)) => rmx::flip(&x[0], Some(&ints(args, "axes"))),
            _ => rmx::flip(&x[0], None),
        }),
        "roll" => one(rmx::roll(&x[0], f(args, "shift") as isize, args.get("axis").and_then(Value::as_i64).map(|a| a as isize))),
        "tile" => one(rmx::tile(&x[0], &usizes(args, "reps"))),
        "repeat" => one(rmx::repeat(&x[0], f(args, "repeats") as usize, args.get("axis").and_then(Value::as_i64).map(|a| a as isize))),
        "pad" => {
            let widths: Vec<(usize, usize)> = args["widths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| (w[0].as_u64().unwrap() as usize, w[1].as_u64().unwrap() as usize))
                .collect();
            let mode = match args["mode"].as_str().unwrap() {
                "constant" => rmx::PadMode::Constant(f(args, "value")),
                "edge" => rmx::PadMode::Edge,
                "reflect" => rmx::PadMode::Reflect,
                _ => rmx::PadMode::Symmetric,
            };
            one(rmx::pad(&x[0], &widths, mode))
        }
        "diagonal" => one(rmx::diagonal(&x[0], f(args, "offset") as isize, f(args, "axis1") as isize, f(args, "axis2") as isize)),
        "diag" => one(rmx::diag(&x[0], f(args, "k") as isize)),
        "trace" => one(rmx::trace(&x[0], f(args, "offset") as isize, f(args, "axis1") as isize, f(args, "axis2") as isize)),
        "meshgrid" => rmx::meshgrid(x, args["xy"].as_bool().unwrap()),
        "key" => one(Ok(rmx::random::key(args["seed"].as_u64().unwrap()))),
        "random_split" => one(rmx::random::split(&x[0], f(args, "num") as usize)),
        "uniform" => one(rmx::random::uniform(f(args, "low"), f(args, "high"), &usizes(args, "shape"), dtype_arg(args), Some(&x[0]))),
        "normal" => one(rmx::random::normal(&usizes(args, "shape"), dtype_arg(args), 0.0, 1.0, Some(&x[0]))),
        "randint" => {
            one(rmx::random::randint(f(args, "low") as i64, f(args, "high") as i64, &usizes(args, "shape"), dtype_arg(args), Some(&x[0])))
        }
        "bernoulli" => one(rmx::random::bernoulli(f(args, "p"), &usizes(args, "shape"), Some(&x[0]))),
        "gumbel" => one(rmx::random::gumbel(&usizes(args, "shape"), dtype_arg(args), Some(&x[0]))),
        "permutation" => one(rmx::random::permutation(f(args, "n") as usize, Some(&x[0]))),
        "truncated_normal" => {
            one(rmx::random::truncated_normal(f(args, "lower"), f(args, "upper"), &usizes(args, "shape"), dtype_arg(args), Some(&x[0])))
        }
        "laplace" => one(rmx::random::laplace(&usizes(args, "shape"), dtype_arg(args), 0.0, 1.0, Some(&x[0]))),
        "categorical" => one(rmx::random::categorical(&x[0], f(args, "axis") as isize, None, Some(&x[1]))),
        "rms_norm" => one(rmx::rms_norm(&x[0], Some(&x[1]), f(args, "eps"))),
        "layer_norm" => one(rmx::layer_norm(&x[0], Some(&x[1]), Some(&x[2]), f(args, "eps"))),
        "rope" => one(rmx::rope(
            &x[0],
            f(args, "dims") as usize,
            args["traditional"].as_bool().unwrap(),
            args["base"].as_f64(),
            f(args, "scale"),
            f(args, "offset") as usize,
            x.get(1),
        )),
        "sdpa" => {
            let mask = match args.get("mask").and_then(Value::as_str) {
                Some("causal") => Some(rmx::AttentionMask::Causal),
                Some(_) => Some(rmx::AttentionMask::Array(x[3].clone())),
                None => None,
            };
            let sinks = if args.get("sinks").is_some() { x.get(3) } else { None };
            one(rmx::scaled_dot_product_attention(&x[0], &x[1], &x[2], f(args, "scale"), mask.as_ref(), sinks))
        }
        "conv1d" | "conv2d" | "conv3d" => {
            let (s, p, d, g) =
                (f(args, "stride") as usize, f(args, "padding") as usize, f(args, "dilation") as usize, f(args, "groups") as usize);
            one(match op {
                "conv1d" => rmx::conv1d(&x[0], &x[1], s, p, d, g),
                "conv2d" => rmx::conv2d(&x[0], &x[1], s, p, d, g),
                _ => rmx::conv3d(&x[0], &x[1], s, p, d, g),
            })
        }
        "conv_transpose1d" | "conv_transpose2d" | "conv_transpose3d" => {
            let (s, p, d, o, g) = (
                f(args, "stride") as usize,
                f(args, "padding") as usize,
                f(args, "dilation") as usize,
                f(args, "output_padding") as usize,
                f(args, "groups") as usize,
            );
            one(match op {
                "conv_transpose1d" => rmx::conv_transpose1d(&x[0], &x[1], s, p, d, o, g),
                "conv_transpose2d" => rmx::conv_transpose2d(&x[0], &x[1], s, p, d, o, g),
                _ => rmx::conv_transpose3d(&x[0], &x[1], s, p, d, o, g),
            })
        }
        "convolve" => one(rmx::convolve(&x[0], &x[1], args["mode"].as_str().unwrap())),
        "inner" => one(rmx::inner(&x[0], &x[1])),
        "outer" => one(rmx::outer(&x[0], &x[1])),
        "vecdot" => one(rmx::vecdot(&x[0], &x[1], args["axis"].as_i64().unwrap() as isize)),
        "kron" => one(rmx::kron(&x[0], &x[1])),
        "tensordot" => {
            let axes = match args.get("count") {
                Some(n) => rmx::TensorDotAxes::Count(n.as_u64().unwrap() as usize),
                None => rmx::TensorDotAxes::Pairs(ints(args, "a_axes"), ints(args, "b_axes")),
            };
            one(rmx::tensordot(&x[0], &x[1], axes))
        }
        "einsum" => one(rmx::einsum(args["subscripts"].as_str().unwrap(), x)),
        "gather_mm" if args.get("rhs_only").is_some() => one(rmx::gather_mm(&x[0], &x[1], None, Some(&x[2]))),
        "gather_mm" => one(rmx::gather_mm(&x[0], &x[1], Some(&x[2]), Some(&x[3]))),
        "segmented_mm" => one(rmx::segmented_mm(&x[0], &x[1], &x[2])),
        "block_masked_mm" => {
            one(rmx::block_masked_mm(&x[0], &x[1], args["block_size"].as_u64().unwrap() as usize, Some(&x[2]), Some(&x[3]), Some(&x[4])))
        }
        "quantize" => {
            let (g, bits, mode) = quant_args(args);
            let (wq, scales, biases) = match args.get("global_scale") {
                Some(_) => rmx::quantize_with_global_scale(&x[0], g, bits, mode, &x[1])?,
                None => rmx::quantize(&x[0], g, bits, mode)?,
            };
            Ok([Some(wq), Some(scales), biases].into_iter().flatten().collect())
        }
        "dequantize" => {
            let (g, bits, mode) = quant_args(args);
            match (mode, args.get("global_scale")) {
                (rmx::QuantMode::Affine, _) => one(rmx::dequantize(&x[0], &x[1], Some(&x[2]), g, bits, mode, None)),
                (_, Some(_)) => one(rmx::dequantize_with_global_scale(&x[0], &x[1], g, bits, mode, &x[2], None)),
                _ => one(rmx::dequantize(&x[0], &x[1], None, g, bits, mode, None)),
            }
        }
        "quantized_matmul" => {
            let (g, bits, mode) = quant_args(args);
            let transpose = args["transpose"].as_bool().unwrap();
            one(rmx::quantized_matmul(&x[0], &x[1], &x[2], x.get(3), transpose, g, bits, mode))
        }
        "gather_qmm" => {
            let (g, bits, mode) = quant_args(args);
            let transpose = args["transpose"].as_bool().unwrap();
            // Affine inputs carry biases at index 3; the floating-point modes have none.
            let (biases, indices) = if mode == rmx::QuantMode::Affine { (x.get(3), &x[4.min(x.len())..]) } else { (None, &x[3..]) };
            one(rmx::gather_qmm(&x[0], &x[1], &x[2], biases, indices.first(), indices.get(1), transpose, g, bits, mode))
        }
        "qqmm" => {
            let (g, bits, mode) = quant_args(args);
            one(rmx::qqmm(&x[0], &x[1], Some(&x[2]), g, bits, mode))
        }
        "qqmm_vjp" => {
            // Inputs x, w, cotangent (, global scales of x and w); outputs y, dx, dw.
            let (g, bits, mode) = quant_args(args);
            let (gx, gw) = (x.get(3), x.get(4));
            let product = |p: &[Array]| Ok(vec![rmx::qqmm_with_global_scales(&p[0], &p[1], None, gx, gw, g, bits, mode)?]);
            let (y, grads) = rmx::vjp(product, &x[..2], &x[2..3])?;
            Ok([y, grads].concat())
        }
        "hadamard_transform" => one(rmx::hadamard_transform(&x[0], args.get("scale").and_then(Value::as_f64))),
        fft if fft.starts_with("fft.") => super::fft_ops::run(fft, x, args),
        derivative if derivative.starts_with("vjp:") || derivative.starts_with("jvp:") => {
            let (mode, inner) = derivative.split_at(4);
            let (primals, seeds) = x.split_at(args["primals"].as_u64().unwrap() as usize);
            let f = |a: &[Array]| run_op(inner, a, args);
            if mode == "vjp:" {
                rmx::vjp(f, primals, seeds).map(|(_, grads)| grads)
            } else {
                rmx::jvp(f, primals, seeds).map(|(_, pushed)| pushed)
            }
        }
        linalg if linalg.starts_with("linalg.") => super::linalg_checks::run(linalg, x, args),
        other => panic!("golden runner does not know op {other}"),
    }
}

/// Runs every case of a family; panics listing all failures.
pub fn check_family(family: &str) {
    let bytes = std::fs::read(golden_path(&format!("{family}.safetensors"))).expect("golden file (run scripts/gen_goldens.py)");
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&meta.metadata().as_ref().unwrap()["cases"]).unwrap();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let n_in = case["inputs"].as_u64().unwrap() as usize;
        let n_out = case["outputs"].as_u64().unwrap() as usize;
        let inputs: Vec<Array> = (0..n_in)
            .map(|i| {
                let stored = load(&st, &format!("{name}/in{i}"));
                let layout = case["layouts"].get(i.to_string()).and_then(Value::as_str);
                let logical: Vec<usize> = case["shapes"][i].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
                with_layout(stored, layout, &logical)
            })
            .collect();
        let (rtol, atol) = (case["rtol"].as_f64().unwrap(), case["atol"].as_f64().unwrap());
        let result = run_op(case["op"].as_str().unwrap(), &inputs, &case["args"]);
        if case.get("error").and_then(Value::as_bool) == Some(true) {
            // MLX refuses this input; rmx must return an error (at construction or eval).
            if let Ok(outs) = result.and_then(|outs| rmx::eval(&outs).map(|_| outs)) {
                failures.push(format!(
                    "{name}: expected an error, got shapes {:?}",
                    outs.iter().map(|o| o.shape().to_vec()).collect::<Vec<_>>()
                ));
            }
            continue;
        }
        match result {
            Err(e) => failures.push(format!("{name}: error: {e}")),
            Ok(outs) if outs.len() != n_out => failures.push(format!("{name}: {} outputs, expected {n_out}", outs.len())),
            Ok(outs) => {
                for (i, got) in outs.iter().enumerate() {
                    let want = load(&st, &format!("{name}/out{i}"));
                    if let Err(msg) = compare(got, &want, rtol, atol) {
                        failures.push(format!("{name} (out{i}): {msg}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} {family} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    eprintln!("{family}: {} golden cases passed", cases.len());
}

/// Group size, bits and mode of a quantization case (`mode` absent: affine).
fn quant_args(args: &Value) -> (usize, u32, rmx::QuantMode) {
    let mode = match args.get("mode").and_then(Value::as_str) {
        None | Some("affine") => rmx::QuantMode::Affine,
        Some("mxfp4") => rmx::QuantMode::Mxfp4,
        Some("mxfp8") => rmx::QuantMode::Mxfp8,
        Some("nvfp4") => rmx::QuantMode::Nvfp4,
        Some(other) => panic!("unknown quantization mode {other}"),
    };
    (args["group_size"].as_u64().unwrap() as usize, args["bits"].as_u64().unwrap() as u32, mode)
}

/// A partition in a form independent of the order either side of `kth` (which any valid
/// partition may choose): the values before `kth` sorted, the `kth` value, those after sorted.
fn canonical_partition(values: &Array, kth: isize, axis: isize) -> rmx::Result<Vec<Array>> {
    let len = values.shape()[axis.rem_euclid(values.ndim() as isize) as usize] as isize;
    let k = kth.rem_euclid(len) as usize;
    let parts = rmx::split_at(values, &[k, k + 1], axis)?;
    Ok(vec![rmx::sort(&parts[0], Some(axis))?, parts[1].clone(), rmx::sort(&parts[2], Some(axis))?])
}
