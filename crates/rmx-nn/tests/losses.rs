//! The 14 losses against MLX (`scripts/gen_nn_goldens.py`), each with the arguments and
//! reduction the generator used; bad arguments are errors.

mod common;

use common::{assert_close, golden};
use rmx_nn::activations::log_softmax;
use rmx_nn::losses::{self, Reduction as R};

#[test]
fn losses_match_mlx() {
    let g = golden();
    let a = |k: &str| g[&format!("loss.{k}")].clone();
    let (logits, cls, probs, w) = (a("logits"), a("classes"), a("probs"), a("weights"));
    let (p, t, bt) = (a("p"), a("t"), a("bt"));
    let vars = rmx::add(rmx::abs(&t).unwrap(), 0.1).unwrap();
    let sign_t = rmx::sign(&t).unwrap();
    let row = |x: &rmx::Array, i: isize| rmx::squeeze(&rmx::slice(x, &[i, 0], &[i + 1, 4], &[1, 1]).unwrap(), Some(&[0])).unwrap();
    let cases = [
        ("ce_none", losses::cross_entropy(&logits, &cls, None, -1, 0.0, R::None)),
        ("ce_mean_smooth", losses::cross_entropy(&logits, &cls, None, -1, 0.1, R::Mean)),
        ("ce_probs_sum", losses::cross_entropy(&logits, &probs, None, -1, 0.0, R::Sum)),
        ("ce_weighted", losses::cross_entropy(&logits, &cls, Some(&w), -1, 0.0, R::Mean)),
        ("bce_logits", losses::binary_cross_entropy(&p, &bt, None, true, R::Mean)),
        ("bce_probs_sum", losses::binary_cross_entropy(&rmx::sigmoid(&p).unwrap(), &bt, None, false, R::Sum)),
        ("l1", losses::l1_loss(&p, &t, R::Mean)),
        ("mse_sum", losses::mse_loss(&p, &t, R::Sum)),
        ("nll", losses::nll_loss(&log_softmax(&logits, -1).unwrap(), &cls, -1, R::None)),
        ("gauss", losses::gaussian_nll_loss(&p, &t, &vars, false, 1e-6, R::Mean)),
        ("gauss_full", losses::gaussian_nll_loss(&p, &t, &vars, true, 1e-6, R::Sum)),
        ("kl", losses::kl_div_loss(&log_softmax(&p, -1).unwrap(), &log_softmax(&t, -1).unwrap(), -1, R::None)),
        ("smooth_l1", losses::smooth_l1_loss(&p, &t, 0.5, R::Mean)),
        ("hinge", losses::hinge_loss(&p, &sign_t, R::None)),
        ("huber", losses::huber_loss(&p, &t, 0.7, R::None)),
        ("log_cosh", losses::log_cosh_loss(&p, &t, R::None)),
        ("cosine", losses::cosine_similarity_loss(&p, &t, 1, 1e-8, R::None)),
        ("margin", losses::margin_ranking_loss(&row(&p, 0), &row(&p, 1), &row(&sign_t, 2), 0.2, R::None)),
        ("triplet", losses::triplet_loss(&p, &t, &a("neg"), -1, 2.0, 0.5, 1e-6, R::Mean)),
    ];
    for (name, got) in cases {
        assert_close(name, &got.unwrap(), &a(name), 2e-5);
    }
}

#[test]
fn bad_loss_arguments_are_errors() {
    let x = rmx::zeros(&[3, 4], rmx::Dtype::F32).unwrap();
    let wrong = rmx::zeros(&[4, 3], rmx::Dtype::F32).unwrap();
    assert!(losses::mse_loss(&x, &wrong, R::Mean).unwrap_err().to_string().contains("mse_loss"));
    let targets = rmx::zeros(&[3, 4, 5], rmx::Dtype::I32).unwrap();
    assert!(losses::cross_entropy(&x, &targets, None, -1, 0.0, R::Mean).is_err());
    let cls = rmx::zeros(&[3], rmx::Dtype::I32).unwrap();
    assert!(losses::cross_entropy(&x, &cls, None, -1, 1.5, R::Mean).is_err());
}
