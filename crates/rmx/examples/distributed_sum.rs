//! Sums an array across processes. Start it under MLX's launcher, which sets `MLX_RANK` and
//! `MLX_HOSTFILE` for each process (rmx reads the same variables as MLX's ring backend):
//!
//! ```text
//! cargo build --release --example distributed_sum
//! mlx.launch -n 3 --backend ring target/release/examples/distributed_sum
//! ```
//!
//! Alone (no launcher) it is a group of one and prints its own values.

fn main() -> rmx::Result<()> {
    let group = rmx::distributed::init(false)?;
    let (rank, size) = (group.rank(), group.size());
    let mine = rmx::full(&[4], rank as f64 + 1.0, rmx::Dtype::F32)?;
    let total = rmx::distributed::all_sum(&mine, &group)?;
    let gathered = rmx::distributed::all_gather(&rmx::full(&[1], rank as f64, rmx::Dtype::I32)?, &group)?;
    println!("rank {rank} of {size}: all_sum = {:?}, all_gather of ranks = {:?}", total.to_vec::<f32>()?, gathered.to_vec::<i32>()?);
    Ok(())
}
