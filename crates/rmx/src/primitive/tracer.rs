//! `CompileTracer`: the stand-in `compile` passes to a function while tracing it. It has a
//! shape and a dtype but no value, so evaluating it (inside the function, or after it
//! escaped the trace) is an error that says why.

use super::Primitive;
use crate::array::Array;
use crate::error::{Error, Result};

/// An input of a function being traced by `compile`.
#[derive(Debug)]
pub struct CompileTracer;

impl Primitive for CompileTracer {
    fn name(&self) -> &'static str {
        "compile_tracer"
    }

    fn eval_cpu(&self, _: &[Array], _: &[Array]) -> Result<()> {
        Err(Error::Eval(
            "cannot evaluate a compile tracer: a compiled function may not read its inputs' values (eval, item, to_vec) \
             while it is traced, and arrays computed during the trace cannot be used outside it"
                .into(),
        ))
    }

    fn cse_key(&self) -> Option<String> {
        None
    }
}
