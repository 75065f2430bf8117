//! Recurrent layers over `[B, L, D]` (or `[L, D]`) sequences, with MLX's parameter names
//! and gate layouts: `RNN` (`Wxh`, `Whh`, `bias`), `GRU` (`Wx`, `Wh`, `b`, `bhn`; gates
//! r, z, n) and `LSTM` (`Wx`, `Wh`, `bias`; gates i, f, g, o). Each returns every step's
//! hidden state (and, for the LSTM, cell state).

use crate::module::{Module, Param};
use crate::visit;
use rmx::{Array, Dtype, Result};

fn uniform(shape: &[usize], hidden: usize) -> Result<Param> {
    let scale = 1.0 / (hidden as f64).sqrt();
    Ok(Param::new(rmx::random::uniform(-scale, scale, shape, Dtype::F32, None)?))
}

fn optional(bias: bool, shape: &[usize], hidden: usize) -> Result<Option<Param>> {
    bias.then(|| uniform(shape, hidden)).transpose()
}

/// `x @ w^T (+ b)`.
fn project(x: &Array, w: &Param, b: Option<&Param>) -> Result<Array> {
    let wt = rmx::transpose(&w.value, None)?;
    match b {
        Some(b) => rmx::addmm(&b.value, x, &wt, 1.0, 1.0),
        None => rmx::matmul(x, &wt),
    }
}

/// Step `t` of `[..., L, D]` → `[..., D]`.
fn step(x: &Array, t: usize) -> Result<Array> {
    rmx::take(x, &Array::scalar(t as u32), Some(-2))
}

/// Columns `lo..hi` of the last axis.
fn cols(x: &Array, lo: usize, hi: usize) -> Result<Array> {
    let nd = x.ndim();
    let mut starts = vec![0isize; nd];
    let mut stops: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
    (starts[nd - 1], stops[nd - 1]) = (lo as isize, hi as isize);
    rmx::slice(x, &starts, &stops, &vec![1; nd])
}

/// Elman RNN: `h_t = tanh(x_t Wxh^T + h_{t-1} Whh^T + bias)`.
#[derive(Clone, Debug)]
#[allow(non_snake_case)]
pub struct RNN {
    pub Wxh: Param,
    pub Whh: Param,
    pub bias: Option<Param>,
    pub nonlinearity: fn(&Array) -> Result<Array>,
}
visit!(RNN { Wxh, Whh, bias });
impl Module for RNN {}

impl RNN {
    pub fn new(input_size: usize, hidden_size: usize, bias: bool) -> Result<RNN> {
        Ok(RNN {
            Wxh: uniform(&[hidden_size, input_size], hidden_size)?,
            Whh: uniform(&[hidden_size, hidden_size], hidden_size)?,
            bias: optional(bias, &[hidden_size], hidden_size)?,
            nonlinearity: rmx::tanh,
        })
    }

    /// All hidden states `[..., L, H]`, starting from `hidden` (zeros when `None`).
    pub fn forward(&self, x: &Array, hidden: Option<&Array>) -> Result<Array> {
        let x = project(x, &self.Wxh, self.bias.as_ref())?;
        let whh_t = rmx::transpose(&self.Whh.value, None)?;
        let mut h = hidden.cloned();
        let mut all = Vec::new();
        for t in 0..x.shape()[x.ndim() - 2] {
            let xt = step(&x, t)?;
            let pre = match &h {
                Some(h) => rmx::addmm(&xt, h, &whh_t, 1.0, 1.0)?,
                None => xt,
            };
            let next = (self.nonlinearity)(&pre)?;
            all.push(next.clone());
            h = Some(next);
        }
        rmx::stack(&all, -2)
    }
}

/// Gated recurrent unit (PyTorch's gate equations, as MLX).
#[derive(Clone, Debug)]
#[allow(non_snake_case)]
pub struct GRU {
    pub Wx: Param,
    pub Wh: Param,
    pub b: Option<Param>,
    pub bhn: Option<Param>,
    hidden_size: usize,
}
visit!(GRU { Wx, Wh, b, bhn });
impl Module for GRU {}

impl GRU {
    pub fn new(input_size: usize, hidden_size: usize, bias: bool) -> Result<GRU> {
        Ok(GRU {
            Wx: uniform(&[3 * hidden_size, input_size], hidden_size)?,
            Wh: uniform(&[3 * hidden_size, hidden_size], hidden_size)?,
            b: optional(bias, &[3 * hidden_size], hidden_size)?,
            bhn: optional(bias, &[hidden_size], hidden_size)?,
            hidden_size,
        })
    }

    pub fn forward(&self, x: &Array, hidden: Option<&Array>) -> Result<Array> {
        let hs = self.hidden_size;
        let x = project(x, &self.Wx, self.b.as_ref())?;
        let (x_rz, x_n) = (cols(&x, 0, 2 * hs)?, cols(&x, 2 * hs, 3 * hs)?);
        let wh_t = rmx::transpose(&self.Wh.value, None)?;
        let mut h = hidden.cloned();
        let mut all = Vec::new();
        for t in 0..x.shape()[x.ndim() - 2] {
            let mut rz = step(&x_rz, t)?;
            let mut h_proj_n = None;
            if let Some(h) = &h {
                let h_proj = rmx::matmul(h, &wh_t)?;
                rz = rmx::add(&rz, &cols(&h_proj, 0, 2 * hs)?)?;
                let n = cols(&h_proj, 2 * hs, 3 * hs)?;
                h_proj_n = Some(match &self.bhn {
                    Some(b) => rmx::add(&n, &b.value)?,
                    None => n,
                });
            }
            let rz = rmx::sigmoid(&rz)?;
            let (r, z) = (cols(&rz, 0, hs)?, cols(&rz, hs, 2 * hs)?);
            let mut n = step(&x_n, t)?;
            // Without a hidden state its projection is zero, leaving the `bhn` bias.
            if let Some(hn) = h_proj_n.as_ref().or(self.bhn.as_ref().map(|b| &b.value)) {
                n = rmx::add(&n, &rmx::multiply(&r, hn)?)?;
            }
            let n = rmx::tanh(&n)?;
            let keep_new = rmx::multiply(&rmx::subtract(1.0, &z)?, &n)?;
            let next = match &h {
                Some(h) => rmx::add(&keep_new, &rmx::multiply(&z, h)?)?,
                None => keep_new,
            };
            all.push(next.clone());
            h = Some(next);
        }
        rmx::stack(&all, -2)
    }
}

/// Long short-term memory.
#[derive(Clone, Debug)]
#[allow(non_snake_case)]
pub struct LSTM {
    pub Wx: Param,
    pub Wh: Param,
    pub bias: Option<Param>,
}
visit!(LSTM { Wx, Wh, bias });
impl Module for LSTM {}

impl LSTM {
    pub fn new(input_size: usize, hidden_size: usize, bias: bool) -> Result<LSTM> {
        Ok(LSTM {
            Wx: uniform(&[4 * hidden_size, input_size], hidden_size)?,
            Wh: uniform(&[4 * hidden_size, hidden_size], hidden_size)?,
            bias: optional(bias, &[4 * hidden_size], hidden_size)?,
        })
    }

    /// `(hidden states, cell states)`, each `[..., L, H]`.
    pub fn forward(&self, x: &Array, hidden: Option<&Array>, cell: Option<&Array>) -> Result<(Array, Array)> {
        let x = project(x, &self.Wx, self.bias.as_ref())?;
        let wh_t = rmx::transpose(&self.Wh.value, None)?;
        let (mut h, mut c) = (hidden.cloned(), cell.cloned());
        let (mut hs, mut cs) = (Vec::new(), Vec::new());
        for t in 0..x.shape()[x.ndim() - 2] {
            let mut ifgo = step(&x, t)?;
            if let Some(h) = &h {
                ifgo = rmx::addmm(&ifgo, h, &wh_t, 1.0, 1.0)?;
            }
            let gates = rmx::split(&ifgo, 4, -1)?;
            let (i, f, g, o) = (rmx::sigmoid(&gates[0])?, rmx::sigmoid(&gates[1])?, rmx::tanh(&gates[2])?, rmx::sigmoid(&gates[3])?);
            let ig = rmx::multiply(&i, &g)?;
            let next_c = match &c {
                Some(c) => rmx::add(&rmx::multiply(&f, c)?, &ig)?,
                None => ig,
            };
            let next_h = rmx::multiply(&o, &rmx::tanh(&next_c)?)?;
            hs.push(next_h.clone());
            cs.push(next_c.clone());
            (h, c) = (Some(next_h), Some(next_c));
        }
        Ok((rmx::stack(&hs, -2)?, rmx::stack(&cs, -2)?))
    }
}
