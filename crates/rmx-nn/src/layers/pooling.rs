//! Max and average pooling over 1, 2 or 3 spatial dimensions of channels-last inputs
//! (`[B, *spatial, C]`), as MLX's `MaxPool1d/2d/3d` and `AvgPool1d/2d/3d`: sliding windows
//! as a strided view, reduced over the window axes. Max pooling pads with `-inf`, average
//! pooling with zeros (which count toward the mean, as in MLX).

use crate::module::Module;
use crate::visit;
use rmx::{Array, Error, PadMode, Result};

/// How a window is reduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

/// A pooling layer; the kernel's length sets the number of spatial dimensions.
///
/// ```
/// use rmx_nn::{Pool, PoolKind};
/// let pool = Pool::new(PoolKind::Max, &[2, 2], None, &[0, 0])?;
/// let x = rmx::reshape(&rmx::arange(0.0, 16.0, 1.0, rmx::Dtype::F32)?, &[1, 4, 4, 1])?;
/// let y = pool.forward(&x)?;
/// assert_eq!(y.shape(), &[1, 2, 2, 1]);
/// assert_eq!(y.to_vec::<f32>()?, vec![5.0, 7.0, 13.0, 15.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub padding: Vec<usize>,
}
visit!(Pool {});
impl Module for Pool {}

impl Pool {
    /// `stride` defaults to the kernel size.
    pub fn new(kind: PoolKind, kernel: &[usize], stride: Option<&[usize]>, padding: &[usize]) -> Result<Pool> {
        let stride = stride.unwrap_or(kernel).to_vec();
        let n = kernel.len();
        if !(1..=3).contains(&n) || stride.len() != n || padding.len() != n || kernel.contains(&0) || stride.contains(&0) {
            return Err(Error::arg(
                "Pool",
                format!("kernel {kernel:?}, stride {stride:?}, padding {padding:?}: need 1-3 positive entries each"),
            ));
        }
        Ok(Pool { kind, kernel: kernel.to_vec(), stride, padding: padding.to_vec() })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let n = self.kernel.len();
        if x.ndim() != n + 2 {
            return Err(Error::shapes_detail("Pool", &[x.shape()], format!("expects [B, {n} spatial dims, C]")));
        }
        let x = if self.padding.iter().any(|&p| p > 0) {
            let fill = if self.kind == PoolKind::Max { f64::NEG_INFINITY } else { 0.0 };
            let widths: Vec<(usize, usize)> = std::iter::once((0, 0)).chain(self.padding.iter().map(|&p| (p, p))).chain([(0, 0)]).collect();
            rmx::pad(x, &widths, PadMode::Constant(fill))?
        } else {
            x.clone()
        };
        let shape = x.shape().to_vec();
        let mut row_strides = vec![1isize; shape.len()];
        for i in (0..shape.len() - 1).rev() {
            row_strides[i] = row_strides[i + 1] * shape[i + 1] as isize;
        }
        let mut out_shape = vec![shape[0]];
        let mut strides = vec![row_strides[0]];
        for i in 0..n {
            let size = shape[i + 1];
            if size < self.kernel[i] {
                return Err(Error::shapes_detail("Pool", &[&shape], format!("kernel {:?} is larger than the (padded) input", self.kernel)));
            }
            out_shape.push((size - self.kernel[i]) / self.stride[i] + 1);
            strides.push(row_strides[i + 1] * self.stride[i] as isize);
        }
        out_shape.extend(&self.kernel);
        strides.extend(&row_strides[1..=n]);
        out_shape.push(shape[n + 1]);
        strides.push(1);
        let windows = rmx::as_strided(&rmx::contiguous(&x)?, &out_shape, &strides, 0)?;
        let axes: Vec<isize> = (n + 1..2 * n + 1).map(|a| a as isize).collect();
        match self.kind {
            PoolKind::Max => rmx::max(&windows, axes.as_slice(), false),
            PoolKind::Avg => rmx::mean(&windows, axes.as_slice(), false),
        }
    }
}
