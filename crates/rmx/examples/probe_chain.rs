use rmx::{Array, Result};
use std::time::Instant;

fn chain8(a: &[Array]) -> Result<Vec<Array>> {
    let y = rmx::add(&rmx::multiply(&a[0], &a[1])?, &a[2])?;
    let inner = rmx::erf(&rmx::multiply(&y, std::f64::consts::FRAC_1_SQRT_2)?)?;
    let gelu = rmx::multiply(&rmx::multiply(&y, 0.5)?, &rmx::add(&inner, 1.0)?)?;
    Ok(vec![rmx::multiply(&gelu, &rmx::sigmoid(&y)?)?])
}
fn one(f: fn(&Array) -> Result<Array>) -> impl Fn(&[Array]) -> Result<Vec<Array>> {
    move |a: &[Array]| Ok(vec![f(&rmx::add(&rmx::multiply(&a[0], &a[1])?, &a[2])?)?])
}

fn time(label: &str, rows: usize, reps: usize, f: &dyn Fn(&[Array]) -> Result<Vec<Array>>) {
    let x = rmx::random::uniform(-3.0, 3.0, &[rows, 4096], rmx::Dtype::F32, None).unwrap();
    let w = rmx::random::uniform(-1.0, 1.0, &[4096], rmx::Dtype::F32, None).unwrap();
    let b = rmx::random::uniform(-1.0, 1.0, &[4096], rmx::Dtype::F32, None).unwrap();
    let inputs = [x, w, b];
    rmx::eval(&inputs).unwrap();
    let c = rmx::compile(f);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            rmx::eval(&c.call(&inputs).unwrap()).unwrap();
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    let n = (rows * 4096) as f64;
    println!("{label:>12} rows {rows:5}: {:8.3} ms  {:6.3} ns/elem", best * 1e3, best * 1e9 / n);
}

fn main() {
    for rows in [16, 4096] {
        let reps = if rows == 16 { 2000 } else { 5 };
        time("chain8", rows, reps, &chain8);
        time("mul_add", rows, reps, &|a: &[Array]| Ok(vec![rmx::add(&rmx::multiply(&a[0], &a[1])?, &a[2])?]));
        time("erf", rows, reps, &one(rmx::erf));
        time("sigmoid", rows, reps, &one(rmx::sigmoid));
        time("exp", rows, reps, &one(rmx::exp));
    }
}
