//! mlx-lm's mixed-precision quantization recipes (`--quant-predicate`), modelled on
//! llama.cpp's `Q4_K_M`-style choices: the output head, and `v_proj` / `down_proj` of the first
//! and last eighth of the layers and of every third layer between, get the high bit width;
//! every other quantized layer the low one.
//!
//! | recipe | low | high |
//! |---|---|---|
//! | `mixed_2_6` | 2 | 6 |
//! | `mixed_3_4` | 3 | 4 |
//! | `mixed_3_6` | 3 | 6 |
//! | `mixed_4_6` | 4 | 6 |

use crate::error::{LmError, Result};
use rmx_nn::QuantizeSpec;

/// The recipe names `rmx-lm convert --quant-predicate` accepts.
pub const RECIPES: &[&str] = &["mixed_2_6", "mixed_3_4", "mixed_3_6", "mixed_4_6"];

/// A recipe applied to a model of `layers` layers.
#[derive(Clone, Copy, Debug)]
pub struct MixedRecipe {
    low: u32,
    high: u32,
    group_size: usize,
    layers: usize,
}

impl MixedRecipe {
    /// The recipe `name` for a model of `layers` decoder layers.
    ///
    /// ```
    /// use rmx_lm::quant_recipe::MixedRecipe;
    /// let r = MixedRecipe::new("mixed_3_6", 64, 16)?;
    /// assert_eq!(r.spec_for("lm_head").bits, 6);
    /// assert_eq!(r.spec_for("model.layers.0.mlp.down_proj").bits, 6); // first eighth
    /// assert_eq!(r.spec_for("model.layers.2.mlp.down_proj").bits, 3);
    /// assert_eq!(r.spec_for("model.layers.4.mlp.down_proj").bits, 6); // (4 - 2) % 3 == 2
    /// assert_eq!(r.spec_for("model.layers.4.mlp.up_proj").bits, 3);
    /// assert!(MixedRecipe::new("mixed_5_7", 64, 16).is_err());
    /// # Ok::<(), rmx_lm::LmError>(())
    /// ```
    pub fn new(name: &str, group_size: usize, layers: usize) -> Result<MixedRecipe> {
        let (low, high) = match name {
            "mixed_2_6" => (2, 6),
            "mixed_3_4" => (3, 4),
            "mixed_3_6" => (3, 6),
            "mixed_4_6" => (4, 6),
            other => return Err(LmError::Request(format!("unknown quantization recipe '{other}' (known: {})", RECIPES.join(", ")))),
        };
        Ok(MixedRecipe { low, high, group_size, layers })
    }

    /// The two settings the recipe uses (low bits, high bits).
    pub fn specs(&self) -> [QuantizeSpec; 2] {
        [self.low, self.high].map(|bits| QuantizeSpec { group_size: self.group_size, bits, mode: rmx::QuantMode::Affine })
    }

    /// The quantization of the layer at module path `path` (its layer index is the first
    /// numeric path component; layers outside the stack count as layer 0).
    pub fn spec_for(&self, path: &str) -> QuantizeSpec {
        let index = path.split('.').find_map(|p| p.parse::<usize>().ok()).unwrap_or(0);
        let eighth = self.layers / 8;
        let more_bits = index < eighth || index >= 7 * self.layers / 8 || (index as isize - eighth as isize).rem_euclid(3) == 2;
        let last = path.rsplit('.').next().unwrap_or(path);
        let high = path == "lm_head" || last == "lm_head" || (more_bits && matches!(last, "v_proj" | "down_proj"));
        QuantizeSpec { group_size: self.group_size, bits: if high { self.high } else { self.low }, mode: rmx::QuantMode::Affine }
    }
}
