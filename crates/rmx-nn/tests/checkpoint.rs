//! Gradient checkpointing of a module: the loss and every parameter gradient of a model
//! whose transformer block is checkpointed equal those of the plain model.

use rmx::{Array, Dtype};
use rmx_nn::{activations, Linear, Module};

/// A checkpointed block inside a model: `checkpoint` recomputes it in the backward pass.
struct Checkpointed {
    block: rmx_nn::TransformerEncoderLayer,
    head: Linear,
    checkpoint: bool,
}
rmx_nn::visit!(Checkpointed { block, head });
impl Module for Checkpointed {}

impl Checkpointed {
    fn forward(&self, x: &Array) -> rmx::Result<Array> {
        let h = if self.checkpoint {
            rmx_nn::checkpoint(&self.block, std::slice::from_ref(x), |b, a| Ok(vec![b.forward(&a[0], None)?]))?.remove(0)
        } else {
            self.block.forward(x, None)?
        };
        self.head.forward(&h)
    }
}

#[test]
fn checkpointed_module_gives_the_same_loss_and_gradients() {
    let x = rmx::random::normal(&[2, 5, 8], Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(21))).unwrap();
    let mut model = Checkpointed {
        block: rmx_nn::TransformerEncoderLayer::new(8, 2, Some(16), 0.0, activations::gelu, true).unwrap(),
        head: Linear::new(8, 1, true).unwrap(),
        checkpoint: false,
    };
    let objective = |m: &Checkpointed| Ok(vec![rmx::sum(&rmx::square(&m.forward(&x)?)?, rmx::Axes::All, false)?]);
    let (plain_loss, plain) = rmx_nn::value_and_grad(&mut model, objective).unwrap();
    model.checkpoint = true;
    let (ckpt_loss, ckpt) = rmx_nn::value_and_grad(&mut model, objective).unwrap();
    assert_eq!(plain_loss[0].item::<f32>().unwrap(), ckpt_loss[0].item::<f32>().unwrap());
    assert_eq!(plain.keys().collect::<Vec<_>>(), ckpt.keys().collect::<Vec<_>>());
    assert!(plain.keys().any(|k| k.starts_with("block.attention.")), "gradients reach the checkpointed block");
    for (name, g) in &plain {
        let diff =
            rmx::max(&rmx::abs(&rmx::subtract(g, &ckpt[name]).unwrap()).unwrap(), rmx::Axes::All, false).unwrap().item::<f32>().unwrap();
        assert!(diff < 1e-5, "{name}: {diff}");
    }
}
