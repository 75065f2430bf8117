//! Convolutions in MLX's channels-last layout: input `[N, *spatial, C_in]`, weight
//! `[C_out, *kernel, C_in / groups]`. Computed as im2col (a strided view of the padded input,
//! copied once) followed by one matrix product per group.

use crate::array::Array;
use crate::error::{Error, Result};

/// Parameters of [`conv_general`], one entry per spatial dimension.
#[derive(Clone, Debug)]
pub struct ConvParams {
    pub stride: Vec<usize>,
    /// Zero padding before and after each spatial dimension.
    pub padding: Vec<(usize, usize)>,
    pub kernel_dilation: Vec<usize>,
    /// Spacing inserted between input elements (transposed convolution).
    pub input_dilation: Vec<usize>,
    pub groups: usize,
    /// Flip the kernel (true convolution instead of cross-correlation).
    pub flip: bool,
}

impl ConvParams {
    /// Stride 1, no padding, no dilation, one group.
    pub fn new(spatial: usize) -> ConvParams {
        ConvParams {
            stride: vec![1; spatial],
            padding: vec![(0, 0); spatial],
            kernel_dilation: vec![1; spatial],
            input_dilation: vec![1; spatial],
            groups: 1,
            flip: false,
        }
    }
}

/// The general convolution all others are built on.
pub fn conv_general(input: &Array, weight: &Array, p: &ConvParams) -> Result<Array> {
    let op = "conv";
    let nd = input.ndim();
    if nd < 3 || weight.ndim() != nd {
        return Err(Error::shapes_detail(
            op,
            &[input.shape(), weight.shape()],
            "input [N, *spatial, C] and weight [O, *kernel, C/groups] must have the same rank, at least 3",
        ));
    }
    let s = nd - 2;
    if [p.stride.len(), p.padding.len(), p.kernel_dilation.len(), p.input_dilation.len()].iter().any(|&l| l != s) {
        return Err(Error::arg(op, format!("stride, padding and dilations need {s} entries each")));
    }
    if p.stride.iter().chain(&p.kernel_dilation).chain(&p.input_dilation).any(|&v| v == 0) || p.groups == 0 {
        return Err(Error::arg(op, "strides, dilations and groups must be positive"));
    }
    let (n, c_in) = (input.shape()[0], input.shape()[nd - 1]);
    let (c_out, wc) = (weight.shape()[0], weight.shape()[nd - 1]);
    if c_in % p.groups != 0 || c_out % p.groups != 0 || wc * p.groups != c_in {
        return Err(Error::shapes_detail(op, &[input.shape(), weight.shape()], format!("channels do not match with {} groups", p.groups)));
    }
    let dtype = crate::promote_types(input.dtype(), weight.dtype());
    if !dtype.is_float() {
        return Err(Error::dtype_detail(op, dtype, "convolution needs floating point inputs"));
    }
    let x = crate::astype(input, dtype)?;
    let mut w = crate::astype(weight, dtype)?;
    if p.flip {
        let axes: Vec<isize> = (1..=s as isize).collect();
        w = crate::flip(&w, Some(&axes))?;
    }
    // Input dilation: spread the input out with zeros in between.
    let x = if p.input_dilation.iter().any(|&d| d > 1) {
        let mut shape = x.shape().to_vec();
        for i in 0..s {
            shape[i + 1] = (shape[i + 1].max(1) - 1) * p.input_dilation[i] + 1;
        }
        let base = crate::zeros(&shape, dtype)?;
        let mut steps = vec![1isize; nd];
        for i in 0..s {
            steps[i + 1] = p.input_dilation[i] as isize;
        }
        let stops: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
        crate::slice_update(&base, &x, &vec![0; nd], &stops, &steps)?
    } else {
        x
    };
    let mut widths = vec![(0, 0)];
    widths.extend(&p.padding);
    widths.push((0, 0));
    let x = crate::pad(&x, &widths, crate::PadMode::Constant(0.0))?;
    let kernel: Vec<usize> = weight.shape()[1..nd - 1].to_vec();
    let mut out_spatial = Vec::with_capacity(s);
    for i in 0..s {
        let span = p.kernel_dilation[i] * (kernel[i] - 1) + 1;
        let size = x.shape()[i + 1];
        if size < span {
            return Err(Error::shapes_detail(op, &[input.shape(), weight.shape()], "the (dilated) kernel is larger than the padded input"));
        }
        out_spatial.push((size - span) / p.stride[i] + 1);
    }
    // im2col: [N, *out_spatial, *kernel, C] as a strided view of the row-major padded input.
    let xs = crate::contiguous(&x)?;
    let rm = crate::shape::row_major_strides(xs.shape());
    let mut shape = vec![n];
    let mut strides = vec![rm[0]];
    for i in 0..s {
        shape.push(out_spatial[i]);
        strides.push(rm[i + 1] * p.stride[i] as isize);
    }
    for i in 0..s {
        shape.push(kernel[i]);
        strides.push(rm[i + 1] * p.kernel_dilation[i] as isize);
    }
    shape.push(c_in);
    strides.push(1);
    let patches = crate::as_strided(&xs, &shape, &strides, 0)?;
    let rows: usize = n * out_spatial.iter().product::<usize>();
    let k_elems: usize = kernel.iter().product();
    let cg = c_in / p.groups;
    let og = c_out / p.groups;
    let patches = crate::reshape_to(&crate::contiguous(&patches)?, &[rows, k_elems, c_in])?;
    let w = crate::reshape_to(&w, &[c_out, k_elems, cg])?;
    let mut outs = Vec::with_capacity(p.groups);
    for gi in 0..p.groups {
        let pg =
            crate::slice(&patches, &[0, 0, (gi * cg) as isize], &[rows as isize, k_elems as isize, ((gi + 1) * cg) as isize], &[1, 1, 1])?;
        let wg = crate::slice(&w, &[(gi * og) as isize, 0, 0], &[((gi + 1) * og) as isize, k_elems as isize, cg as isize], &[1, 1, 1])?;
        let pg = crate::reshape_to(&pg, &[rows, k_elems * cg])?;
        let wg = crate::reshape_to(&wg, &[og, k_elems * cg])?;
        outs.push(crate::matmul(&pg, &crate::transpose(&wg, None)?)?);
    }
    let out = if outs.len() == 1 { outs.pop().expect("one group") } else { crate::concatenate(&outs, -1)? };
    let mut out_shape = vec![n];
    out_shape.extend(&out_spatial);
    out_shape.push(c_out);
    crate::reshape_to(&out, &out_shape)
}

fn conv_nd(input: &Array, weight: &Array, s: usize, stride: usize, padding: usize, dilation: usize, groups: usize) -> Result<Array> {
    let mut p = ConvParams::new(s);
    p.stride = vec![stride; s];
    p.padding = vec![(padding, padding); s];
    p.kernel_dilation = vec![dilation; s];
    p.groups = groups;
    conv_general(input, weight, &p)
}

/// 1-d convolution: input `[N, L, C]`, weight `[O, K, C/groups]`.
pub fn conv1d(input: &Array, weight: &Array, stride: usize, padding: usize, dilation: usize, groups: usize) -> Result<Array> {
    conv_nd(input, weight, 1, stride, padding, dilation, groups)
}

/// 2-d convolution: input `[N, H, W, C]`, weight `[O, KH, KW, C/groups]`.
///
/// ```
/// let x = rmx::ones(&[1, 4, 4, 1], rmx::Dtype::F32).unwrap();
/// let w = rmx::ones(&[1, 3, 3, 1], rmx::Dtype::F32).unwrap();
/// let y = rmx::conv2d(&x, &w, 1, 1, 1, 1).unwrap();
/// assert_eq!(y.shape(), &[1, 4, 4, 1]);
/// assert_eq!(y.to_vec::<f32>().unwrap()[5], 9.0);
/// ```
pub fn conv2d(input: &Array, weight: &Array, stride: usize, padding: usize, dilation: usize, groups: usize) -> Result<Array> {
    conv_nd(input, weight, 2, stride, padding, dilation, groups)
}

/// 3-d convolution: input `[N, D, H, W, C]`, weight `[O, KD, KH, KW, C/groups]`.
pub fn conv3d(input: &Array, weight: &Array, stride: usize, padding: usize, dilation: usize, groups: usize) -> Result<Array> {
    conv_nd(input, weight, 3, stride, padding, dilation, groups)
}

/// Transposed convolution (the gradient of a convolution with respect to its input), with
/// MLX's weight layout `[O, *kernel, C/groups]`.
pub fn conv_transpose(
    input: &Array,
    weight: &Array,
    stride: &[usize],
    padding: &[usize],
    dilation: &[usize],
    output_padding: &[usize],
    groups: usize,
) -> Result<Array> {
    let s = input.ndim().saturating_sub(2);
    if [stride.len(), padding.len(), dilation.len(), output_padding.len()].iter().any(|&l| l != s) {
        return Err(Error::arg("conv_transpose", format!("stride, padding, dilation and output_padding need {s} entries each")));
    }
    let mut p = ConvParams::new(s);
    for i in 0..s {
        let k = weight.shape().get(i + 1).copied().unwrap_or(1);
        let span = dilation[i] * (k.max(1) - 1);
        if padding[i] > span {
            return Err(Error::arg("conv_transpose", format!("padding {} exceeds the dilated kernel extent {span}", padding[i])));
        }
        p.padding[i] = (span - padding[i], span - padding[i] + output_padding[i]);
        p.kernel_dilation[i] = dilation[i];
        p.input_dilation[i] = stride[i];
    }
    p.groups = groups;
    p.flip = true;
    conv_general(input, weight, &p)
}

/// 1-d transposed convolution.
pub fn conv_transpose1d(
    input: &Array,
    weight: &Array,
    stride: usize,
    padding: usize,
    dilation: usize,
    output_padding: usize,
    groups: usize,
) -> Result<Array> {
    conv_transpose(input, weight, &[stride], &[padding], &[dilation], &[output_padding], groups)
}

/// 2-d transposed convolution.
pub fn conv_transpose2d(
    input: &Array,
    weight: &Array,
    stride: usize,
    padding: usize,
    dilation: usize,
    output_padding: usize,
    groups: usize,
) -> Result<Array> {
    conv_transpose(input, weight, &[stride; 2], &[padding; 2], &[dilation; 2], &[output_padding; 2], groups)
}

/// 3-d transposed convolution.
pub fn conv_transpose3d(
    input: &Array,
    weight: &Array,
    stride: usize,
    padding: usize,
    dilation: usize,
    output_padding: usize,
    groups: usize,
) -> Result<Array> {
    conv_transpose(input, weight, &[stride; 3], &[padding; 3], &[dilation; 3], &[output_padding; 3], groups)
}

/// NumPy's 1-d `convolve` in mode "full" (`same` and `valid` trim it).
pub fn convolve(a: &Array, v: &Array, mode: &str) -> Result<Array> {
    if a.ndim() != 1 || v.ndim() != 1 {
        return Err(Error::shapes_detail("convolve", &[a.shape(), v.shape()], "inputs must be 1-d"));
    }
    let (n, m) = (a.size(), v.size());
    if n == 0 || m == 0 {
        return Err(Error::arg("convolve", "inputs cannot be empty"));
    }
    let (big, small) = if m > n { (v, a) } else { (a, v) };
    let (n, m) = (big.size(), small.size());
    let x = crate::reshape_to(big, &[1, n, 1])?;
    let w = crate::reshape_to(small, &[1, m, 1])?;
    let mut p = ConvParams::new(1);
    p.padding = vec![(m - 1, m - 1)];
    p.flip = true;
    let full = crate::reshape_to(&conv_general(&x, &w, &p)?, &[n + m - 1])?;
    let (start, len) = match mode {
        "full" => (0, n + m - 1),
        "same" => ((m - 1) / 2, n),
        "valid" => (m - 1, n - m + 1),
        other => return Err(Error::arg("convolve", format!("mode must be full, same or valid, got {other:?}"))),
    };
    crate::slice(&full, &[start as isize], &[(start + len) as isize], &[1])
}
