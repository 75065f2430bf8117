//! The pieces decoder-only transformers share: grouped-query attention with
//! rotary positions and optional per-head norms, the gated MLP, and the pre-norm decoder layer
//! that llama, mistral, qwen2, qwen3 and phi3 are made of. Parameter names are transformers'
//! (`self_attn.q_proj`, `mlp.gate_proj`, `input_layernorm`...).

use crate::cache::KvCache;
use crate::error::Result;
use crate::rope::Rope;
use rmx::{Array, Dtype};
use rmx_nn::{visit, Linear, Module, RMSNorm};

/// A [`Linear`] of the given shape whose weights will be loaded from a checkpoint
/// (zeros until then: never materialized if replaced before evaluation).
pub fn placeholder_linear(input: usize, output: usize, bias: bool) -> Result<Linear> {
    let bias = if bias { Some(rmx::zeros(&[output], Dtype::F32)?) } else { None };
    Ok(Linear::from_weights(rmx::zeros(&[output, input], Dtype::F32)?, bias))
}

/// The shape of an attention layer.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// Grouped-query self-attention. Projections are separate (`q_proj`, `k_proj`, `v_proj`) or
/// fused (phi3's `qkv_proj`); `q_norm`/`k_norm` normalize each head (qwen3, gemma3).
#[derive(Clone, Debug)]
pub struct Attention {
    pub q_proj: Option<Linear>,
    pub k_proj: Option<Linear>,
    pub v_proj: Option<Linear>,
    pub qkv_proj: Option<Linear>,
    pub o_proj: Linear,
    pub q_norm: Option<RMSNorm>,
    pub k_norm: Option<RMSNorm>,
    shape: AttentionShape,
    scale: f64,
    rope: Rope,
}
visit!(Attention { q_proj, k_proj, v_proj, qkv_proj, o_proj, q_norm, k_norm });
impl Module for Attention {}

impl Attention {
    /// Separate projections, with biases on q/k/v when `qkv_bias` (qwen2).
    pub fn new(shape: AttentionShape, qkv_bias: bool, rope: Rope) -> Result<Attention> {
        let AttentionShape { hidden, heads, kv_heads, head_dim } = shape;
        Ok(Attention {
            q_proj: Some(placeholder_linear(hidden, heads * head_dim, qkv_bias)?),
            k_proj: Some(placeholder_linear(hidden, kv_heads * head_dim, qkv_bias)?),
            v_proj: Some(placeholder_linear(hidden, kv_heads * head_dim, qkv_bias)?),
            qkv_proj: None,
            o_proj: placeholder_linear(heads * head_dim, hidden, false)?,
            q_norm: None,
            k_norm: None,
            shape,
            scale: 1.0 / (head_dim as f64).sqrt(),
            rope,
        })
    }

    /// The rotary embedding of the queries and keys.
    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    /// One fused `qkv_proj` (phi3).
    pub fn fused(shape: AttentionShape, rope: Rope) -> Result<Attention> {
        let AttentionShape { hidden, heads, kv_heads, head_dim } = shape;
        let mut a = Attention::new(shape, false, rope)?;
        (a.q_proj, a.k_proj, a.v_proj) = (None, None, None);
        a.qkv_proj = Some(placeholder_linear(hidden, (heads + 2 * kv_heads) * head_dim, false)?);
        Ok(a)
    }

    /// Adds per-head norms of the queries and keys.
    pub fn with_head_norms(mut self, q_norm: RMSNorm, k_norm: RMSNorm) -> Attention {
        (self.q_norm, self.k_norm) = (Some(q_norm), Some(k_norm));
        self
    }

    /// Replaces the softmax scale (default `1/sqrt(head_dim)`).
    pub fn with_scale(mut self, scale: f64) -> Attention {
        self.scale = scale;
        self
    }

    /// `x: [B, T, hidden]` at the cache's position → `[B, T, hidden]`.
    pub fn forward(&self, x: &Array, cache: &mut KvCache) -> Result<Array> {
        let AttentionShape { heads, kv_heads, head_dim, .. } = self.shape;
        let (b, t) = (x.shape()[0], x.shape()[1]);
        let (q, k, v) = match (&self.qkv_proj, &self.q_proj, &self.k_proj, &self.v_proj) {
            (Some(qkv), ..) => {
                let all = qkv.forward(x)?;
                let parts = rmx::split_at(&all, &[heads * head_dim, (heads + kv_heads) * head_dim], -1)?;
                (parts[0].clone(), parts[1].clone(), parts[2].clone())
            }
            (None, Some(q), Some(k), Some(v)) => (q.forward(x)?, k.forward(x)?, v.forward(x)?),
            _ => unreachable!("constructors set either qkv_proj or all of q_proj, k_proj, v_proj"),
        };
        let heads_first = |a: &Array, n: usize| -> Result<Array> { Ok(rmx::reshape_to(a, &[b, t, n, head_dim])?) };
        let (mut q, mut k) = (heads_first(&q, heads)?, heads_first(&k, kv_heads)?);
        if let (Some(qn), Some(kn)) = (&self.q_norm, &self.k_norm) {
            (q, k) = (qn.forward(&q)?, kn.forward(&k)?);
        }
        let to_bhtd = |a: &Array| -> Result<Array> { Ok(rmx::transpose(a, Some(&[0, 2, 1, 3]))?) };
        let (offset, length) = (cache.offset(), cache.sequence_length(t));
        let q = self.rope.forward(&to_bhtd(&q)?, offset, length)?;
        let k = self.rope.forward(&to_bhtd(&k)?, offset, length)?;
        let v = to_bhtd(&heads_first(&v, kv_heads)?)?;
        let seen = cache.update(&k, &v)?;
        let o = seen.attention(&q, self.scale)?;
        let o = rmx::reshape_to(&rmx::transpose(&o, Some(&[0, 2, 1, 3]))?, &[b, t, heads * head_dim])?;
        Ok(self.o_proj.forward(&o)?)
    }
}

/// The activation of a gated MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateActivation {
    Silu,
    /// GELU with the tanh approximation (`gelu_pytorch_tanh`).
    GeluTanh,
}

impl GateActivation {
    pub fn from_name(name: &str) -> Option<GateActivation> {
        match name {
            "silu" | "swish" => Some(GateActivation::Silu),
            "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Some(GateActivation::GeluTanh),
            _ => None,
        }
    }

    fn apply(self, x: &Array) -> Result<Array> {
        Ok(match self {
            GateActivation::Silu => rmx_nn::activations::silu(x)?,
            GateActivation::GeluTanh => rmx_nn::activations::gelu_approx(x)?,
        })
    }
}

/// `down(act(gate(x)) * up(x))`; phi3 fuses gate and up into `gate_up_proj`.
#[derive(Clone, Debug)]
pub struct Mlp {
    pub gate_proj: Option<Linear>,
    pub up_proj: Option<Linear>,
    pub gate_up_proj: Option<Linear>,
    pub down_proj: Linear,
    activation: GateActivation,
}
visit!(Mlp { gate_proj, up_proj, gate_up_proj, down_proj });
impl Module for Mlp {}

impl Mlp {
    pub fn new(hidden: usize, intermediate: usize, activation: GateActivation) -> Result<Mlp> {
        Ok(Mlp {
            gate_proj: Some(placeholder_linear(hidden, intermediate, false)?),
            up_proj: Some(placeholder_linear(hidden, intermediate, false)?),
            gate_up_proj: None,
            down_proj: placeholder_linear(intermediate, hidden, false)?,
            activation,
        })
    }

    /// Gate and up projections fused into one `gate_up_proj` (gate first).
    pub fn fused(hidden: usize, intermediate: usize, activation: GateActivation) -> Result<Mlp> {
        Ok(Mlp {
            gate_proj: None,
            up_proj: None,
            gate_up_proj: Some(placeholder_linear(hidden, 2 * intermediate, false)?),
            down_proj: placeholder_linear(intermediate, hidden, false)?,
            activation,
        })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let (gate, up) = match (&self.gate_up_proj, &self.gate_proj, &self.up_proj) {
            (Some(fused), ..) => {
                let halves = rmx::split(&fused.forward(x)?, 2, -1)?;
                (halves[0].clone(), halves[1].clone())
            }
            (None, Some(g), Some(u)) => (g.forward(x)?, u.forward(x)?),
            _ => unreachable!("constructors set either gate_up_proj or gate_proj and up_proj"),
        };
        Ok(self.down_proj.forward(&rmx::multiply(&self.activation.apply(&gate)?, &up)?)?)
    }
}

/// What follows attention in a decoder layer: a dense MLP or a mixture of experts.
pub trait FeedForward: Module + std::fmt::Debug {
    fn forward(&self, x: &Array) -> Result<Array>;
}

impl FeedForward for Mlp {
    fn forward(&self, x: &Array) -> Result<Array> {
        Mlp::forward(self, x)
    }
}

/// `h = x + attn(norm(x)); h + mlp(norm(h))`.
#[derive(Debug)]
pub struct DecoderLayer {
    pub self_attn: Attention,
    pub mlp: Box<dyn FeedForward>,
    pub input_layernorm: RMSNorm,
    pub post_attention_layernorm: RMSNorm,
}
visit!(DecoderLayer { self_attn, mlp, input_layernorm, post_attention_layernorm });
impl Module for DecoderLayer {}

impl DecoderLayer {
    pub fn forward(&self, x: &Array, cache: &mut KvCache) -> Result<Array> {
        let h = rmx::add(x, &self.self_attn.forward(&self.input_layernorm.forward(x)?, cache)?)?;
        Ok(rmx::add(&h, &self.mlp.forward(&self.post_attention_layernorm.forward(&h)?)?)?)
    }
}

impl rmx_nn::Visit for Box<dyn FeedForward> {
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, rmx_nn::Slot<'_>)) {
        (**self).visit(path, f);
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, rmx_nn::SlotMut<'_>)) {
        (**self).visit_mut(path, f);
    }
}
