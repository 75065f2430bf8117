//! `config.json` of a Hugging Face / MLX model directory, read field by field so that a
//! missing or mistyped field is an error naming it. Both spellings of the rotary settings are
//! understood: transformers 4's `rope_theta` + `rope_scaling` and transformers 5's
//! `rope_parameters` (per layer type where a model has several).

use crate::error::{LmError, Result};
use crate::rope::RopeSpec;
use serde_json::{Map, Value};
use std::path::Path;

/// A parsed JSON object with typed, error-reporting accessors.
#[derive(Clone, Debug)]
pub struct Config {
    file: String,
    fields: Map<String, Value>,
}

impl Config {
    /// Reads and parses `path` (a JSON object).
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| LmError::file(path, e))?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses JSON text; `file` names it in errors.
    ///
    /// ```
    /// let c = rmx_lm::Config::parse(r#"{"hidden_size": 64}"#, "config.json")?;
    /// assert_eq!(c.usize("hidden_size")?, 64);
    /// assert!(c.usize("vocab_size").unwrap_err().to_string().contains("vocab_size"));
    /// # Ok::<(), rmx_lm::LmError>(())
    /// ```
    pub fn parse(text: &str, file: &str) -> Result<Config> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(fields)) => Ok(Config { file: file.to_string(), fields }),
            Ok(_) => Err(LmError::Config { file: file.to_string(), detail: "expected a JSON object".into() }),
            Err(e) => Err(LmError::Config { file: file.to_string(), detail: format!("invalid JSON: {e}") }),
        }
    }

    /// A sub-object (e.g. `text_config`) as a config of its own.
    pub fn object(&self, key: &str) -> Option<Config> {
        match self.fields.get(key) {
            Some(Value::Object(fields)) => Some(Config { file: format!("{} ({key})", self.file), fields: fields.clone() }),
            _ => None,
        }
    }

    /// The raw value of `key`, unless absent or null.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key).filter(|v| !v.is_null())
    }

    fn error(&self, detail: String) -> LmError {
        LmError::Config { file: self.file.clone(), detail }
    }

    /// A required non-negative integer.
    pub fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?.ok_or_else(|| self.error(format!("missing field `{key}`")))
    }

    /// An optional non-negative integer.
    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| self.error(format!("`{key}` must be a non-negative integer, got {v}")))
            }
        }
    }

    /// An optional number.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| self.error(format!("`{key}` must be a number, got {v}"))),
        }
    }

    /// A number with a default.
    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }

    /// A boolean with a default.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.error(format!("`{key}` must be true or false, got {v}"))),
        }
    }

    /// An optional string.
    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| self.error(format!("`{key}` must be a string, got {v}"))),
        }
    }

    /// A required string.
    pub fn str(&self, key: &str) -> Result<&str> {
        self.opt_str(key)?.ok_or_else(|| self.error(format!("missing field `{key}`")))
    }

    /// A list of strings (absent: empty).
    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| self.error(format!("`{key}` must hold strings, got {v}"))))
                .collect(),
            Some(v) => Err(self.error(format!("`{key}` must be a list, got {v}"))),
        }
    }

    /// Token ids given as one integer or a list (`eos_token_id`); absent: empty.
    pub fn token_ids(&self, key: &str) -> Result<Vec<u32>> {
        let bad = |v: &Value| self.error(format!("`{key}` must be a token id or a list of them, got {v}"));
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(|v| v.as_u64().map(|n| n as u32).ok_or_else(|| bad(v))).collect(),
            Some(v) => v.as_u64().map(|n| vec![n as u32]).ok_or_else(|| bad(v)),
        }
    }

    /// `model_type`.
    pub fn model_type(&self) -> Result<&str> {
        self.str("model_type")
    }

    /// `head_dim`, or `hidden_size / num_attention_heads` when absent.
    pub fn head_dim(&self) -> Result<usize> {
        match self.opt_usize("head_dim")? {
            Some(d) => Ok(d),
            None => {
                let (hidden, heads) = (self.usize("hidden_size")?, self.usize("num_attention_heads")?);
                if heads == 0 || hidden % heads != 0 {
                    return Err(self.error(format!("hidden_size {hidden} is not a multiple of num_attention_heads {heads}")));
                }
                Ok(hidden / heads)
            }
        }
    }

    /// The rotary embedding settings; `layer_type` selects one entry of transformers 5's
    /// per-layer-type `rope_parameters` (Gemma 3's `sliding_attention`/`full_attention`).
    pub fn rope(&self, dims: usize, layer_type: Option<&str>) -> Result<RopeSpec> {
        let params = self.object("rope_parameters");
        let params = match (params, layer_type) {
            (Some(p), Some(t)) => p.object(t).or(Some(p)),
            (p, _) => p,
        };
        let (theta, scaling) = match &params {
            Some(p) if p.get("rope_theta").is_some() => (p.f64_or("rope_theta", 10000.0)?, Some(p.clone())),
            _ => (self.f64_or("rope_theta", 10000.0)?, self.object("rope_scaling")),
        };
        RopeSpec::from_config(dims, theta, scaling.as_ref(), self)
    }

    /// A list of numbers.
    pub fn f64_list(&self, key: &str) -> Result<Vec<f64>> {
        match self.get(key) {
            Some(Value::Array(items)) => {
                items.iter().map(|v| v.as_f64().ok_or_else(|| self.error(format!("`{key}` must hold numbers, found {v}")))).collect()
            }
            Some(v) => Err(self.error(format!("`{key}` must be a list of numbers, found {v}"))),
            None => Err(self.error(format!("missing field `{key}`"))),
        }
    }

    /// Errors naming this file.
    pub fn invalid(&self, detail: impl Into<String>) -> LmError {
        self.error(detail.into())
    }
}
