//! Loading a model directory the way mlx-lm does: `config.json` picks the architecture,
//! the weights come from `model.safetensors`, the shards named by
//! `model.safetensors.index.json`, or every `model*.safetensors` file; they are memory-mapped
//! (read when first used), renamed to the model's names, quantized layers are set up from
//! the config's `quantization` (with per-layer overrides) and every tensor is checked
//! against the architecture before it is used.

use crate::config::Config;
use crate::error::{LmError, Result};
use crate::models::{self, LanguageModel};
use crate::tokenizer::Tokenizer;
use rmx::Array;
use rmx_nn::QuantizeSpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A model ready to generate with.
#[derive(Debug)]
pub struct Loaded {
    pub model: Box<dyn LanguageModel>,
    pub config: Config,
    /// `None` when the directory has no `tokenizer.json` (token-level use only).
    pub tokenizer: Option<Tokenizer>,
    /// Token ids that end generation: `generation_config.json`'s, else `config.json`'s, plus
    /// the tokenizer's EOS token.
    pub eos_token_ids: Vec<u32>,
    /// The model directory, or the `.gguf` file.
    pub dir: PathBuf,
}

impl Loaded {
    /// The tokenizer, or an error saying the model has none.
    pub fn tokenizer(&self) -> Result<&Tokenizer> {
        if let Some(t) = &self.tokenizer {
            return Ok(t);
        }
        if crate::gguf::is_gguf(&self.dir) {
            // A GGUF tokenizer rmx cannot rebuild loads as none: say why now that one is needed.
            crate::gguf::load_gguf_tokenizer(&self.dir)?;
            return Err(LmError::file(&self.dir, "has no tokenizer (tokenizer.ggml.* metadata)"));
        }
        Err(LmError::file(&self.dir, "has no tokenizer (a tokenizer.json)"))
    }
}

/// Loads model, tokenizer and generation settings from `dir`, or from a single `.gguf` file
/// (see [`crate::gguf`]).
pub fn load(dir: impl AsRef<Path>) -> Result<Loaded> {
    let dir = dir.as_ref();
    if crate::gguf::is_gguf(dir) {
        return crate::gguf::load_gguf(dir);
    }
    let (model, config) = load_model(dir)?;
    let tokenizer = if dir.join("tokenizer.json").exists() { Some(Tokenizer::load(dir)?) } else { None };
    let generation = dir.join("generation_config.json");
    let mut eos = if generation.exists() { Config::load(&generation)?.token_ids("eos_token_id")? } else { Vec::new() };
    if eos.is_empty() {
        eos = config.token_ids("eos_token_id")?;
    }
    if let Some(id) = tokenizer.as_ref().and_then(Tokenizer::eos_token_id) {
        if !eos.contains(&id) {
            eos.push(id);
        }
    }
    Ok(Loaded { model, config, tokenizer, eos_token_ids: eos, dir: dir.to_path_buf() })
}

/// Loads only the model and its config (from a directory or a `.gguf` file).
pub fn load_model(dir: &Path) -> Result<(Box<dyn LanguageModel>, Config)> {
    if crate::gguf::is_gguf(dir) {
        let loaded = crate::gguf::load_gguf(dir)?;
        return Ok((loaded.model, loaded.config));
    }
    if !dir.is_dir() {
        return Err(LmError::file(dir, "not a directory (expected a model directory with config.json and model*.safetensors)"));
    }
    let config_path = dir.join("config.json");
    if !config_path.exists() {
        return Err(LmError::file(&config_path, "not found"));
    }
    let config = Config::load(&config_path)?;
    let config = match config.object("text_config") {
        // Multimodal checkpoints keep the language model's settings in `text_config`.
        Some(text) if config.get("vocab_size").is_none() => text,
        _ => config,
    };
    let model = assemble(&config, read_weights(dir)?)?;
    Ok((model, config))
}

/// Builds the model `config` describes and loads `weights` (checkpoint names) into it:
/// renames, quantized layers set up, every parameter checked.
pub(crate) fn assemble(config: &Config, weights: BTreeMap<String, Array>) -> Result<Box<dyn LanguageModel>> {
    let mut model = models::build(config)?;
    let weights = models::sanitize(config, weights)?;
    apply_quantization(model.as_mut(), config, &weights)?;
    rmx_nn::update_weights(model.as_mut(), weights, true).map_err(|e| LmError::Weights(e.to_string()))?;
    Ok(model)
}

/// Every tensor of the directory's safetensors files, memory-mapped.
pub fn read_weights(dir: &Path) -> Result<BTreeMap<String, Array>> {
    let mut weights = BTreeMap::new();
    for file in weight_files(dir)? {
        let (tensors, _) = rmx::io::load_safetensors(&file)?;
        for (name, t) in tensors {
            if weights.insert(name.clone(), t).is_some() {
                return Err(LmError::Weights(format!("tensor '{name}' appears in more than one file (last: {})", file.display())));
            }
        }
    }
    Ok(weights)
}

fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let map = Config::load(&index)?;
        let Some(serde_json::Value::Object(entries)) = map.get("weight_map") else {
            return Err(map.invalid("missing object `weight_map`"));
        };
        let mut files: Vec<PathBuf> = Vec::new();
        for file in entries.values() {
            let name = file.as_str().ok_or_else(|| map.invalid(format!("weight_map values must be file names, got {file}")))?;
            if name.contains('/') || name.contains('\\') || name == ".." {
                return Err(map.invalid(format!("weight_map names a file outside the directory: {name}")));
            }
            let path = dir.join(name);
            if !files.contains(&path) {
                if !path.exists() {
                    return Err(LmError::file(&path, "not found (named by model.safetensors.index.json)"));
                }
                files.push(path);
            }
        }
        return Ok(files);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| LmError::file(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("model") && n.ends_with(".safetensors")
            })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LmError::file(dir, "no model*.safetensors weight files"));
    }
    Ok(files)
}

/// A checkpoint's quantization settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantization {
    /// The spec of every quantized layer without an override.
    pub default: QuantizeSpec,
    /// Per-layer specs by module path; `None` keeps that layer unquantized.
    pub overrides: BTreeMap<String, Option<QuantizeSpec>>,
}

/// The quantization of `config` (`quantization`, or `quantization_config` as older MLX
/// conversions wrote it).
pub fn quantization_of(config: &Config) -> Result<Option<Quantization>> {
    let Some(q) = config.object("quantization").or_else(|| config.object("quantization_config").filter(|q| q.get("bits").is_some())) else {
        return Ok(None);
    };
    let spec_of = |c: &Config| -> Result<QuantizeSpec> {
        let mode = match c.opt_str("mode")?.unwrap_or("affine") {
            "affine" => rmx::QuantMode::Affine,
            "mxfp4" => rmx::QuantMode::Mxfp4,
            "mxfp8" => rmx::QuantMode::Mxfp8,
            "nvfp4" => rmx::QuantMode::Nvfp4,
            other => return Err(LmError::NotImplemented(format!("quantization mode '{other}'"))),
        };
        // The floating-point modes fix group size and bits; affine defaults to MLX's 64 and 4.
        let (group, bits) = mode.fixed_format().unwrap_or((64, 4));
        Ok(QuantizeSpec {
            group_size: c.opt_usize("group_size")?.unwrap_or(group),
            bits: c.opt_usize("bits")?.map_or(bits, |b| b as u32),
            mode,
        })
    };
    let default = spec_of(&q)?;
    let mut overrides = BTreeMap::new();
    if let Some(serde_json::Value::Object(fields)) = config.get("quantization") {
        for (path, value) in fields {
            match value {
                serde_json::Value::Bool(false) => {
                    overrides.insert(path.clone(), None);
                }
                serde_json::Value::Object(_) => {
                    let layer = q.object(path).expect("an object");
                    overrides.insert(path.clone(), Some(spec_of(&layer)?));
                }
                _ => {}
            }
        }
    }
    Ok(Some(Quantization { default, overrides }))
}

/// Quantizes, in place, every layer whose checkpoint tensors are quantized (`<path>.scales`).
fn apply_quantization(model: &mut dyn LanguageModel, config: &Config, weights: &BTreeMap<String, Array>) -> Result<()> {
    let Some(Quantization { default, overrides }) = quantization_of(config)? else { return Ok(()) };
    let spec_for = |path: &str| -> Option<QuantizeSpec> {
        if !weights.contains_key(&format!("{path}.scales")) {
            return None;
        }
        match overrides.get(path) {
            Some(layer) => *layer,
            None => Some(default),
        }
    };
    let mut specs: Vec<QuantizeSpec> = vec![default];
    for spec in overrides.values().flatten() {
        if !specs.contains(spec) {
            specs.push(*spec);
        }
    }
    for spec in specs {
        rmx_nn::quantize(model, spec, &|path, _| spec_for(path) == Some(spec))?;
    }
    Ok(())
}
