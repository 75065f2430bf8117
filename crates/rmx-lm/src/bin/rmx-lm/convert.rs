//! `rmx-lm convert`: a Hugging Face model directory → an MLX-format directory (the layout
//! mlx-lm writes and loads): weights renamed to MLX's names (stacked experts), optionally cast
//! and quantized (affine q2–q8), the `quantization` entry added to `config.json`, the
//! tokenizer files copied.

use crate::ModelArg;
use clap::Args;
use rmx::Dtype;
use rmx_lm::quant_recipe::MixedRecipe;
use rmx_lm::{LmError, Result};
use rmx_nn::QuantizeSpec;
use std::path::PathBuf;

#[derive(Args)]
pub struct ConvertArgs {
    /// The model to convert.
    #[command(flatten)]
    model: ModelArg,
    /// Where to write the converted model.
    #[arg(long, default_value = "mlx_model")]
    mlx_path: PathBuf,
    /// Quantize the linear layers and embeddings.
    #[arg(long, short = 'q')]
    quantize: bool,
    /// Bits per weight when quantizing (2, 3, 4, 5, 6 or 8).
    #[arg(long, default_value_t = 4)]
    q_bits: u32,
    /// Weights per quantization group (32, 64 or 128).
    #[arg(long, default_value_t = 64)]
    q_group_size: usize,
    /// A mixed-precision recipe (as mlx-lm): mixed_2_6, mixed_3_4, mixed_3_6 or mixed_4_6
    /// (low/high bits; the head and some v_proj/down_proj layers get the high width).
    #[arg(long, requires = "quantize")]
    quant_predicate: Option<String>,
    /// Cast floating-point weights first: float16, bfloat16 or float32.
    #[arg(long)]
    dtype: Option<String>,
}

const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "chat_template.jinja",
    "tokenizer.model",
];

/// `float16`, `bfloat16` or `float32`.
pub fn parse_dtype(name: &str) -> Result<Dtype> {
    match name {
        "float16" => Ok(Dtype::F16),
        "bfloat16" => Ok(Dtype::BF16),
        "float32" => Ok(Dtype::F32),
        other => Err(LmError::Request(format!("--dtype must be float16, bfloat16 or float32, got '{other}'"))),
    }
}

pub fn run(args: ConvertArgs) -> Result<()> {
    let src = &args.model.model;
    let out = &args.mlx_path;
    if out.exists() {
        return Err(LmError::file(out, "already exists; choose a new --mlx-path"));
    }
    let (mut model, config) = rmx_lm::load_model(src)?;
    if let Some(name) = &args.dtype {
        model.set_dtype(parse_dtype(name)?, &|_| true)?;
    }
    let mut config_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).map_err(|e| LmError::file(src, e))?)
            .map_err(|e| config.invalid(e.to_string()))?;
    if args.quantize {
        if rmx_lm::loader::quantization_of(&config)?.is_some() {
            return Err(LmError::Request(format!("{} is already quantized", src.display())));
        }
        let spec = QuantizeSpec { group_size: args.q_group_size, bits: args.q_bits, mode: rmx::QuantMode::Affine };
        let recipe = match &args.quant_predicate {
            Some(name) => Some(MixedRecipe::new(name, spec.group_size, config.usize("num_hidden_layers")?)?),
            None => None,
        };
        let spec_for = |path: &str| recipe.map_or(spec, |r| r.spec_for(path));
        let mut q = serde_json::json!({"group_size": spec.group_size, "bits": spec.bits, "mode": "affine"});
        let mut specs = vec![spec];
        if let Some(r) = recipe {
            specs = r.specs().to_vec();
        }
        for layer_spec in specs {
            // As mlx-lm: every layer that can be quantized and whose rows split into whole groups.
            let quantized = rmx_nn::quantize(model.as_mut(), layer_spec, &|path, m| {
                spec_for(path) == layer_spec
                    && m.parameters().get("weight").is_some_and(|w| w.shape().last().is_some_and(|k| k % spec.group_size == 0))
            })?;
            eprintln!("quantized {} layers to {} bits (group size {})", quantized.len(), layer_spec.bits, layer_spec.group_size);
            // A recipe records every layer's settings, as mlx-lm writes them.
            for path in quantized.iter().filter(|_| recipe.is_some()) {
                q[path] = serde_json::json!({"group_size": layer_spec.group_size, "bits": layer_spec.bits, "mode": "affine"});
            }
        }
        config_json["quantization"] = q.clone();
        config_json["quantization_config"] = q;
    }
    std::fs::create_dir_all(out).map_err(|e| LmError::file(out, e))?;
    let params = model.parameters();
    crate::evaluate_with_progress(params.values(), "converting")?;
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("format".to_string(), "mlx".to_string());
    rmx::io::save_safetensors(out.join("model.safetensors"), &params, &metadata)?;
    let text = serde_json::to_string_pretty(&config_json).expect("JSON values serialize") + "\n";
    std::fs::write(out.join("config.json"), text).map_err(|e| LmError::file(out, e))?;
    for name in TOKENIZER_FILES {
        let from = src.join(name);
        if from.exists() {
            std::fs::copy(&from, out.join(name)).map_err(|e| LmError::file(&from, e))?;
        }
    }
    eprintln!("wrote {}", out.display());
    Ok(())
}
