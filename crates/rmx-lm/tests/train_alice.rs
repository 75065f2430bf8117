//! A short run of the script that trains the bundled default model: the tokenizer is learned,
//! the loss falls, and the directory it writes loads and generates through the public API.

#[path = "../examples/train_alice.rs"]
mod train_alice;

#[test]
fn a_short_training_run_writes_a_loadable_model() {
    let dir = std::env::temp_dir().join(format!("rmx-alice-test-{}", std::process::id()));
    let report = train_alice::run(&dir, 30, false).unwrap();
    assert!(report.train_loss < 6.2, "loss {} did not fall from ln(1024) = 6.93", report.train_loss);
    let loaded = rmx_lm::load(&dir).unwrap();
    let params = rmx_lm::GenerateParams { max_tokens: 8, ..Default::default() };
    let out = rmx_lm::generate_text(&loaded, "Alice", &params, &mut |_| true).unwrap();
    assert_eq!(out.tokens.len(), 8);
    std::fs::remove_dir_all(&dir).unwrap();
}
