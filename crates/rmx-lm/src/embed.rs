//! Sentence embeddings as sentence-transformers computes them: tokenize (truncating to the
//! model's `max_seq_length`), run the encoder on a padded batch, pool the token states (mean
//! over real tokens, or the first token) and L2-normalize when the model's `modules.json`
//! lists a `Normalize` step.

use crate::config::Config;
use crate::error::{LmError, Result};
use crate::models::bert::Bert;
use crate::tokenizer::Tokenizer;
use rmx::{Array, Dtype};
use std::path::Path;

/// How token states become one vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

/// A sentence encoder loaded from a model directory.
#[derive(Debug)]
pub struct Embedder {
    pub model: Bert,
    pub tokenizer: Tokenizer,
    pub pooling: Pooling,
    pub normalize: bool,
    pub max_length: usize,
}

impl Embedder {
    /// Loads a BERT model directory (with sentence-transformers' `modules.json`,
    /// `1_Pooling/config.json` and `sentence_bert_config.json` when present).
    pub fn load(dir: &Path) -> Result<Embedder> {
        let model = Bert::load(dir)?;
        let tokenizer = Tokenizer::load(dir)?;
        let pooling_file = dir.join("1_Pooling/config.json");
        let pooling = if pooling_file.exists() && Config::load(&pooling_file)?.bool_or("pooling_mode_cls_token", false)? {
            Pooling::Cls
        } else {
            Pooling::Mean
        };
        let modules = dir.join("modules.json");
        let normalize =
            modules.exists() && std::fs::read_to_string(&modules).map_err(|e| LmError::file(&modules, e))?.contains("models.Normalize");
        let st_config = dir.join("sentence_bert_config.json");
        let max_length = if st_config.exists() { Config::load(&st_config)?.opt_usize("max_seq_length")? } else { None };
        let max_length = max_length.unwrap_or(usize::MAX).min(model.max_positions());
        Ok(Embedder { model, tokenizer, pooling, normalize, max_length })
    }

    /// One vector per text.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch: Vec<Vec<u32>> = Vec::with_capacity(texts.len());
        for text in texts {
            let mut ids = self.tokenizer.encode(text, true)?;
            if ids.len() > self.max_length {
                // Keep the final special token ([SEP]) as the tokenizer's truncation does.
                let last = *ids.last().expect("non-empty");
                ids.truncate(self.max_length - 1);
                ids.push(last);
            }
            batch.push(ids);
        }
        let t = batch.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let b = batch.len();
        let mut ids = vec![0u32; b * t];
        let mut mask = vec![0f32; b * t];
        for (row, seq) in batch.iter().enumerate() {
            ids[row * t..row * t + seq.len()].copy_from_slice(seq);
            mask[row * t..row * t + seq.len()].iter_mut().for_each(|m| *m = 1.0);
        }
        let mask = Array::from_slice(&mask, &[b, t])?;
        let hidden = rmx::astype(&self.model.forward(&Array::from_slice(&ids, &[b, t])?, &mask)?, Dtype::F32)?;
        let pooled = match self.pooling {
            Pooling::Mean => {
                let m = rmx::expand_dims(&mask, &[-1])?;
                let total = rmx::sum(&rmx::multiply(&hidden, &m)?, 1, false)?;
                rmx::divide(&total, &rmx::maximum(&rmx::sum(&m, 1, false)?, 1e-9)?)?
            }
            Pooling::Cls => {
                rmx::squeeze(&rmx::slice(&hidden, &[0, 0, 0], &[b as isize, 1, hidden.shape()[2] as isize], &[1, 1, 1])?, Some(&[1]))?
            }
        };
        let pooled = if self.normalize {
            let norm = rmx::sqrt(&rmx::sum(&rmx::square(&pooled)?, -1, true)?)?;
            rmx::divide(&pooled, &rmx::maximum(&norm, 1e-12)?)?
        } else {
            pooled
        };
        let dims = pooled.shape()[1];
        Ok(pooled.to_vec::<f32>()?.chunks(dims).map(<[f32]>::to_vec).collect())
    }
}
