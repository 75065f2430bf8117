//! Qwen3-MoE: qwen3 attention with a sparse mixture-of-experts MLP. A router picks the top
//! `num_experts_per_tok` experts per token (softmax in float32, optionally renormalized); the
//! experts' weights are stacked (`mlp.switch_mlp.{gate,up,down}_proj.weight: [E, out, in]`,
//! MLX's layout) and applied with `gather_mm` / `gather_qmm`, which read only the selected
//! experts. Hugging Face checkpoints store one tensor per expert; `sanitize` stacks them.

use super::blocks::{placeholder_linear, FeedForward, Mlp};
use super::decoder::{CausalTransformer, DenseArgs};
use crate::error::{LmError, Result};
use crate::Config;
use rmx::{Array, Dtype};
use rmx_nn::{visit, Linear, Module, Param, QuantizeSpec};
use std::collections::BTreeMap;

/// `E` linear maps stacked in one `[E, out, in]` weight, applied per token to the experts an
/// index array names. Quantizes in place like MLX's `QuantizedSwitchLinear`.
#[derive(Clone, Debug)]
pub struct SwitchLinear {
    pub weight: Param,
    pub scales: Option<Param>,
    pub biases: Option<Param>,
    quantized: Option<QuantizeSpec>,
}
visit!(SwitchLinear { weight, scales, biases });

impl SwitchLinear {
    pub fn new(experts: usize, input: usize, output: usize) -> Result<SwitchLinear> {
        Ok(SwitchLinear {
            weight: Param::new(rmx::zeros(&[experts, output, input], Dtype::F32)?),
            scales: None,
            biases: None,
            quantized: None,
        })
    }

    /// `x: [..., 1, in]` with `experts: [...]` → `[..., 1, out]`, each row through its expert.
    pub fn forward(&self, x: &Array, experts: &Array) -> Result<Array> {
        Ok(match (self.quantized, &self.scales) {
            (Some(q), Some(scales)) => rmx::gather_qmm(
                x,
                &self.weight.value,
                &scales.value,
                self.biases.as_ref().map(|b| &b.value),
                None,
                Some(experts),
                true,
                q.group_size,
                q.bits,
                q.mode,
            )?,
            _ => rmx::gather_mm(x, &rmx::swapaxes(&self.weight.value, -1, -2)?, None, Some(experts))?,
        })
    }
}

impl Module for SwitchLinear {
    fn quantize_self(&mut self, spec: QuantizeSpec) -> rmx::Result<bool> {
        if self.quantized.is_some() {
            return Ok(false);
        }
        let (scales, biases) = rmx_nn::quantize_weight(&mut self.weight, spec)?;
        (self.scales, self.biases, self.quantized) = (Some(scales), biases, Some(spec));
        Ok(true)
    }
}

/// The stacked experts: `down(silu(gate(x)) * up(x))` per selected expert.
#[derive(Clone, Debug)]
pub struct SwitchGlu {
    pub gate_proj: SwitchLinear,
    pub up_proj: SwitchLinear,
    pub down_proj: SwitchLinear,
}
visit!(SwitchGlu { gate_proj, up_proj, down_proj });
impl Module for SwitchGlu {}

/// Router plus experts.
#[derive(Clone, Debug)]
pub struct SparseMoe {
    pub gate: Linear,
    pub switch_mlp: SwitchGlu,
    top_k: usize,
    normalize: bool,
}
visit!(SparseMoe { gate, switch_mlp });
impl Module for SparseMoe {}

impl FeedForward for SparseMoe {
    fn forward(&self, x: &Array) -> Result<Array> {
        let experts = self.gate.weight.value.shape()[0];
        let probs = rmx::softmax(&rmx::astype(&self.gate.forward(x)?, Dtype::F32)?, -1)?;
        let k = self.top_k as isize;
        let order = rmx::argpartition(&rmx::negative(&probs)?, k - 1, Some(-1))?;
        let nd = order.ndim();
        let mut stops: Vec<isize> = order.shape().iter().map(|&d| d as isize).collect();
        stops[nd - 1] = k;
        let chosen = rmx::slice(&order, &vec![0; nd], &stops, &vec![1; nd])?;
        let mut scores = rmx::take_along_axis(&probs, &chosen, Some(-1))?;
        if self.normalize {
            scores = rmx::divide(&scores, &rmx::sum(&scores, -1, true)?)?;
        }
        debug_assert!(self.top_k <= experts);
        // [..., 1, 1, H] against [..., k] experts → [..., k, 1, out].
        let xe = rmx::expand_dims(x, &[-2, -3])?;
        let m = &self.switch_mlp;
        let h = rmx::multiply(&rmx_nn::activations::silu(&m.gate_proj.forward(&xe, &chosen)?)?, &m.up_proj.forward(&xe, &chosen)?)?;
        let y = rmx::squeeze(&m.down_proj.forward(&h, &chosen)?, Some(&[-2]))?;
        let weighted = rmx::multiply(&y, &rmx::expand_dims(&rmx::astype(&scores, y.dtype())?, &[-1])?)?;
        Ok(rmx::sum(&weighted, -2, false)?)
    }
}

/// Builds the model `c` describes, with placeholder weights.
pub fn build(c: &Config) -> Result<CausalTransformer> {
    let a = DenseArgs::from_config(c)?;
    let experts = match c.opt_usize("num_experts")? {
        Some(n) => n,
        None => c.usize("num_local_experts")?,
    };
    let top_k = c.usize("num_experts_per_tok")?;
    if top_k == 0 || top_k > experts {
        return Err(c.invalid(format!("num_experts_per_tok {top_k} must be between 1 and the {experts} experts")));
    }
    let moe_intermediate = c.usize("moe_intermediate_size")?;
    let sparse_step = c.opt_usize("decoder_sparse_step")?.unwrap_or(1).max(1);
    let dense_only: Vec<usize> = match c.get("mlp_only_layers") {
        Some(serde_json::Value::Array(v)) => v.iter().filter_map(|x| x.as_u64()).map(|x| x as usize).collect(),
        _ => Vec::new(),
    };
    let normalize = c.bool_or("norm_topk_prob", false)?;
    let activation = DenseArgs::activation(c)?;
    let layers = (0..a.layers)
        .map(|i| {
            let mlp: Box<dyn FeedForward> = if !dense_only.contains(&i) && experts > 0 && (i + 1) % sparse_step == 0 {
                Box::new(SparseMoe {
                    gate: placeholder_linear(a.hidden, experts, false)?,
                    switch_mlp: SwitchGlu {
                        gate_proj: SwitchLinear::new(experts, a.hidden, moe_intermediate)?,
                        up_proj: SwitchLinear::new(experts, a.hidden, moe_intermediate)?,
                        down_proj: SwitchLinear::new(experts, moe_intermediate, a.hidden)?,
                    },
                    top_k,
                    normalize,
                })
            } else {
                Box::new(Mlp::new(a.hidden, a.intermediate, activation)?)
            };
            a.layer(super::qwen3::attention(c, &a)?, mlp)
        })
        .collect::<Result<Vec<_>>>()?;
    a.model(layers)
}

/// Stacks Hugging Face's per-expert tensors `mlp.experts.{e}.{proj}.{weight,scales,biases}`
/// into MLX's `mlp.switch_mlp.{proj}.*`.
pub fn sanitize(mut weights: BTreeMap<String, Array>) -> Result<BTreeMap<String, Array>> {
    let mut groups: BTreeMap<String, BTreeMap<usize, Array>> = BTreeMap::new();
    let keys: Vec<String> = weights.keys().filter(|k| k.contains(".mlp.experts.")).cloned().collect();
    for key in keys {
        let (prefix, rest) = key.split_once(".mlp.experts.").expect("filtered");
        let (index, tail) = rest.split_once('.').ok_or_else(|| LmError::Weights(format!("unexpected expert tensor '{key}'")))?;
        let e: usize = index.parse().map_err(|_| LmError::Weights(format!("unexpected expert tensor '{key}'")))?;
        let value = weights.remove(&key).expect("listed");
        groups.entry(format!("{prefix}.mlp.switch_mlp.{tail}")).or_default().insert(e, value);
    }
    for (name, experts) in groups {
        if experts.keys().copied().ne(0..experts.len()) {
            return Err(LmError::Weights(format!("'{name}': expert tensors are not numbered 0..{}", experts.len())));
        }
        let stacked = rmx::stack(&experts.into_values().collect::<Vec<_>>(), 0)?;
        weights.insert(name, stacked);
    }
    Ok(weights)
}
