//! Convolutions over channels-last inputs (`[B, *spatial, C]`, MLX's layout): `Conv` (1, 2
//! or 3 spatial dimensions, MLX's `Conv1d/2d/3d`) and `ConvTranspose`. Weights are
//! `[out, *kernel, in/groups]`.

use crate::module::{Module, Param};
use crate::visit;
use rmx::{Array, ConvParams, Dtype, Error, Result};

/// Stride, padding and dilation per spatial dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvOptions {
    pub stride: Vec<usize>,
    pub padding: Vec<usize>,
    pub dilation: Vec<usize>,
    pub groups: usize,
}

impl ConvOptions {
    /// The same stride, padding and dilation on each of `spatial` dimensions.
    pub fn uniform(spatial: usize, stride: usize, padding: usize, dilation: usize, groups: usize) -> ConvOptions {
        ConvOptions { stride: vec![stride; spatial], padding: vec![padding; spatial], dilation: vec![dilation; spatial], groups }
    }
}

fn init(out: usize, kernel: &[usize], inner: usize, fan_in: usize, bias: bool) -> Result<(Param, Option<Param>)> {
    let scale = (1.0 / (fan_in * kernel.iter().product::<usize>()) as f64).sqrt();
    let shape = [&[out], kernel, &[inner]].concat();
    let weight = Param::new(rmx::random::uniform(-scale, scale, &shape, Dtype::F32, None)?);
    let bias = if bias { Some(Param::new(rmx::zeros(&[out], Dtype::F32)?)) } else { None };
    Ok((weight, bias))
}

fn check(kind: &'static str, kernel: &[usize], o: &ConvOptions, in_channels: usize, out_channels: usize) -> Result<()> {
    let s = kernel.len();
    if !(1..=3).contains(&s) || [o.stride.len(), o.padding.len(), o.dilation.len()].iter().any(|&l| l != s) {
        return Err(Error::arg(
            kind,
            format!("need 1-3 spatial dimensions with stride, padding and dilation for each; got kernel {kernel:?}, {o:?}"),
        ));
    }
    if o.groups == 0 || !in_channels.is_multiple_of(o.groups) || !out_channels.is_multiple_of(o.groups) {
        return Err(Error::arg(
            kind,
            format!("{in_channels} input and {out_channels} output channels do not split into {} groups", o.groups),
        ));
    }
    Ok(())
}

/// A convolution layer (`Conv1d`/`Conv2d`/`Conv3d` by the kernel's length).
///
/// ```
/// use rmx_nn::{Conv, ConvOptions};
/// let conv = Conv::new(3, 8, &[3, 3], ConvOptions::uniform(2, 1, 1, 1, 1), true)?;
/// let y = conv.forward(&rmx::ones(&[2, 16, 16, 3], rmx::Dtype::F32)?)?;
/// assert_eq!(y.shape(), &[2, 16, 16, 8]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Conv {
    pub weight: Param,
    pub bias: Option<Param>,
    pub options: ConvOptions,
}
visit!(Conv { weight, bias });
impl Module for Conv {}

impl Conv {
    /// Initialised uniform in `±1/sqrt(in * prod(kernel))` with a zero bias, as MLX does.
    pub fn new(in_channels: usize, out_channels: usize, kernel: &[usize], options: ConvOptions, bias: bool) -> Result<Conv> {
        check("Conv", kernel, &options, in_channels, out_channels)?;
        let (weight, bias) = init(out_channels, kernel, in_channels / options.groups, in_channels, bias)?;
        Ok(Conv { weight, bias, options })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let o = &self.options;
        let mut p = ConvParams::new(o.stride.len());
        p.stride = o.stride.clone();
        p.padding = o.padding.iter().map(|&q| (q, q)).collect();
        p.kernel_dilation = o.dilation.clone();
        p.groups = o.groups;
        let y = rmx::conv_general(x, &self.weight.value, &p)?;
        match &self.bias {
            Some(b) => rmx::add(&y, &b.value),
            None => Ok(y),
        }
    }
}

/// A transposed convolution layer (`ConvTranspose1d/2d/3d`); weights `[out, *kernel, in]`.
#[derive(Clone, Debug)]
pub struct ConvTranspose {
    pub weight: Param,
    pub bias: Option<Param>,
    pub options: ConvOptions,
    pub output_padding: Vec<usize>,
}
visit!(ConvTranspose { weight, bias });
impl Module for ConvTranspose {}

impl ConvTranspose {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: &[usize],
        options: ConvOptions,
        output_padding: Vec<usize>,
        bias: bool,
    ) -> Result<ConvTranspose> {
        check("ConvTranspose", kernel, &options, in_channels, out_channels)?;
        if output_padding.len() != kernel.len() {
            return Err(Error::arg("ConvTranspose", format!("output_padding {output_padding:?} needs {} entries", kernel.len())));
        }
        let (weight, bias) = init(out_channels, kernel, in_channels / options.groups, in_channels, bias)?;
        Ok(ConvTranspose { weight, bias, options, output_padding })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let o = &self.options;
        let y = rmx::conv_transpose(x, &self.weight.value, &o.stride, &o.padding, &o.dilation, &self.output_padding, o.groups)?;
        match &self.bias {
            Some(b) => rmx::add(&y, &b.value),
            None => Ok(y),
        }
    }
}
