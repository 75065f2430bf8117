//! Fast versions of the examples that learn (the same code as `cargo run --example ...`,
//! fewer steps): each must actually learn, not merely run.

// Each example is a standalone program including the shared digits loader itself.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/char_transformer.rs"]
mod char_transformer;
#[path = "../examples/cnn_digits.rs"]
mod cnn_digits;
#[path = "../examples/linear_regression.rs"]
mod linear_regression;
#[path = "../examples/mlp_digits.rs"]
mod mlp_digits;

#[test]
fn linear_regression_recovers_the_weights() {
    let r = linear_regression::run(100, false).unwrap();
    assert!(r.max_weight_error < 0.01 && r.final_loss < 2e-4, "error {} loss {}", r.max_weight_error, r.final_loss);
}

#[test]
fn mlp_reaches_95_percent_on_digits() {
    let r = mlp_digits::run(8, false).unwrap();
    assert!(r.test_accuracy >= 0.95 && r.final_loss < 0.5, "test accuracy {} loss {}", r.test_accuracy, r.final_loss);
}

#[test]
fn cnn_learns_digits() {
    let r = cnn_digits::run(3, false).unwrap();
    assert!(r.test_accuracy >= 0.9 && r.final_loss < 1.0, "test accuracy {} loss {}", r.test_accuracy, r.final_loss);
}

#[test]
fn char_transformer_beats_the_unigram_entropy() {
    let r = char_transformer::run(150, 32, false).unwrap();
    assert!((r.validation_loss as f64) < r.unigram_entropy - 0.4, "validation {} vs unigram {}", r.validation_loss, r.unigram_entropy);
}
