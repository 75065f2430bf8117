//! The NumPy (and MLX) peer process shared by the benchmarks: `scripts/numpy_peer.py` runs a
//! named case a number of times and reports the mean milliseconds per run.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A running `scripts/numpy_peer.py`.
pub struct NumpyPeer {
    child: Child,
    to_peer: Option<ChildStdin>,
    from_peer: BufReader<ChildStdout>,
    /// NumPy version and BLAS configuration, as the peer reported them.
    pub info: String,
}

impl NumpyPeer {
    /// Starts the peer (needs python3 with numpy).
    pub fn start() -> NumpyPeer {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut child = Command::new("python3")
            .arg(root.join("scripts/numpy_peer.py"))
            .env_remove("OPENBLAS_CORETYPE")
            .env_remove("OPENBLAS_L2_SIZE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with numpy (pip install numpy threadpoolctl)");
        let to_peer = child.stdin.take();
        let mut from_peer = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut info = String::new();
        from_peer.read_line(&mut info).expect("the peer's greeting");
        NumpyPeer { child, to_peer, from_peer, info: info.trim().to_string() }
    }

    /// Whether the peer can run MLX cases (`mlx:<case>`): its Python has `mlx`, and
    /// `RMX_BENCH_MLX` is not `0`. (The `nn_quant` benchmark, which includes this file too,
    /// has no MLX rows.)
    #[allow(dead_code)]
    pub fn has_mlx(&self) -> bool {
        !self.info.contains("\"mlx\": null") && std::env::var("RMX_BENCH_MLX").map_or(true, |v| v != "0")
    }

    /// Runs `case` `iters` times in the peer; returns its mean milliseconds per run.
    pub fn run(&mut self, case: &str, iters: usize) -> f64 {
        writeln!(self.to_peer.as_mut().expect("peer is running"), "{case} {iters}").expect("peer stdin");
        let mut line = String::new();
        self.from_peer.read_line(&mut line).expect("peer stdout");
        line.trim().parse().unwrap_or_else(|_| panic!("peer said {line:?} for {case}"))
    }
}

impl Drop for NumpyPeer {
    fn drop(&mut self) {
        drop(self.to_peer.take());
        let _ = self.child.wait();
    }
}
