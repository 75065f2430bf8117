//! `CustomVjp`: the node a `custom_vjp` function's outputs go through. Its inputs are the
//! primals followed by the outputs the wrapped function computed; evaluation shares those
//! outputs' buffers, and the reverse rule is the user's.

use super::Primitive;
use crate::array::Array;
use crate::error::Result;
use std::fmt;
use std::sync::Arc;

/// A user reverse rule: `(primals, cotangents of the outputs, outputs) -> cotangents of the
/// primals`.
pub type VjpRule = Arc<dyn Fn(&[Array], &[Array], &[Array]) -> Result<Vec<Array>> + Send + Sync>;

/// Output `index` of a function with a user-supplied vjp over `primals` inputs.
pub struct CustomVjp {
    pub primals: usize,
    pub rule: VjpRule,
}

impl fmt::Debug for CustomVjp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomVjp({} primals)", self.primals)
    }
}

impl Primitive for CustomVjp {
    fn name(&self) -> &'static str {
        "custom_vjp"
    }

    fn cse_key(&self) -> Option<String> {
        None // two rules over the same inputs are different functions
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        for (out, computed) in outputs.iter().zip(&inputs[self.primals..]) {
            out.set_storage(computed.storage()?);
        }
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], outputs: &[Array]) -> Result<Vec<Array>> {
        let (primals, computed) = inputs.split_at(self.primals);
        let grads = (self.rule)(primals, cotangents, outputs)?;
        if grads.len() != primals.len() {
            return Err(crate::Error::arg(
                "custom_vjp",
                format!("the vjp rule returned {} cotangents for {} primals", grads.len(), primals.len()),
            ));
        }
        argnums
            .iter()
            .map(|&i| if i < self.primals { Ok(grads[i].clone()) } else { crate::zeros_like(&computed[i - self.primals]) })
            .collect()
    }
}
