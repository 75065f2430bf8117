//! Communication between processes (MLX's `mx.distributed`): a [`Group`] of ranks and the
//! collectives `all_sum`, `all_max`, `all_min`, `all_gather`, `sum_scatter`, and `send` /
//! `recv` between two ranks. They are lazy operations like any other: the communication
//! happens when the graph is evaluated, so every rank must evaluate the same collectives in
//! the same order.
//!
//! [`init`] joins the group a launcher describes with MLX's ring-backend variables —
//! `MLX_RANK` and `MLX_HOSTFILE` (JSON, one list of `"host:port"` per rank) — which is what
//! `mlx.launch --backend ring` sets, so it can start rmx programs too. Without them, `init`
//! returns the group of this process alone, where every collective is the identity (as MLX).
//! The transport is TCP between every pair of ranks ([`tcp`]); reductions run as a ring
//! (reduce-scatter, then all-gather), so every rank ends with bit-identical results.

pub(crate) mod reduce;
pub mod tcp;

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::distributed::{AllGather, AllReduce, Recv, ReduceScatter, Send};
pub use reduce::ReduceOp;
use std::fmt;
use std::sync::Arc;

/// How a group's ranks talk: implemented by the singleton group and the TCP mesh.
pub(crate) trait Communicator: std::marker::Send + Sync {
    fn rank(&self) -> usize;
    fn size(&self) -> usize;
    /// Reduces `data` (elements of `elem` bytes) across ranks in place.
    fn all_reduce(&self, data: &mut [u8], reduce: &reduce::Reducer) -> Result<()>;
    /// Every rank's `local` (equal lengths), in rank order, into `out`.
    fn all_gather(&self, local: &[u8], out: &mut [u8]) -> Result<()>;
    /// Reduces `data` (`size` equal chunks) across ranks; this rank's chunk goes to `out`.
    fn reduce_scatter(&self, data: &mut [u8], reduce: &reduce::Reducer, out: &mut [u8]) -> Result<()>;
    fn send(&self, data: &[u8], dst: usize) -> Result<()>;
    fn recv(&self, out: &mut [u8], src: usize) -> Result<()>;
}

/// The ranks taking part in collectives; cheap to clone (shared).
#[derive(Clone)]
pub struct Group {
    pub(crate) comm: Arc<dyn Communicator>,
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Group(rank {} of {})", self.rank(), self.size())
    }
}

impl Group {
    /// The group of this process alone: collectives are identities.
    pub fn singleton() -> Group {
        Group { comm: Arc::new(Singleton) }
    }

    /// This process's rank in `0..size`.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.comm.size()
    }
}

/// Joins the group described by `MLX_RANK` and `MLX_HOSTFILE` (see the module doc). Without
/// them the group of this process alone, unless `strict`, which makes their absence an error.
///
/// ```
/// let group = rmx::distributed::init(false)?;
/// assert_eq!((group.rank(), group.size()), (0, 1)); // no launcher: this process alone
/// let x = rmx::distributed::all_sum(&rmx::ones(&[2], rmx::Dtype::F32)?, &group)?;
/// assert_eq!(x.to_vec::<f32>()?, vec![1.0, 1.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn init(strict: bool) -> Result<Group> {
    match (std::env::var("MLX_RANK"), std::env::var("MLX_HOSTFILE")) {
        (Ok(rank), Ok(hostfile)) => {
            let rank: usize = rank.trim().parse().map_err(|_| Error::Distributed(format!("MLX_RANK is not a rank: {rank:?}")))?;
            let text = std::fs::read_to_string(&hostfile).map_err(|e| Error::Io { path: hostfile.clone(), detail: e.to_string() })?;
            let addresses = tcp::parse_hostfile(&text)?;
            Ok(Group { comm: Arc::new(tcp::Mesh::connect(rank, &addresses, tcp::CONNECT_TIMEOUT)?) })
        }
        _ if strict => Err(Error::Distributed("no group to join: MLX_RANK and MLX_HOSTFILE are not both set".into())),
        _ => Ok(Group::singleton()),
    }
}

/// Joins a group over TCP as `rank` of `addresses` (one per rank), waiting up to `timeout`
/// for the others; `listener` is this rank's, already bound (to its address in `addresses`).
///
/// ```
/// use std::net::TcpListener;
/// let listeners: Vec<TcpListener> = (0..2).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
/// let addresses: Vec<_> = listeners.iter().map(|l| l.local_addr()).collect::<Result<_, _>>()?;
/// let timeout = std::time::Duration::from_secs(10);
/// let sums = std::thread::scope(|s| {
///     let ranks: Vec<_> = listeners.into_iter().enumerate().map(|(rank, listener)| {
///         let addresses = &addresses;
///         s.spawn(move || -> rmx::Result<Vec<f32>> {
///             let group = rmx::distributed::connect(rank, listener, addresses, timeout)?;
///             let x = rmx::full(&[3], rank as f64 + 1.0, rmx::Dtype::F32)?;
///             rmx::distributed::all_sum(&x, &group)?.to_vec::<f32>()
///         })
///     }).collect();
///     ranks.into_iter().map(|r| r.join().unwrap()).collect::<rmx::Result<Vec<_>>>()
/// })?;
/// assert_eq!(sums, vec![vec![3.0; 3]; 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect(
    rank: usize,
    listener: std::net::TcpListener,
    addresses: &[std::net::SocketAddr],
    timeout: std::time::Duration,
) -> Result<Group> {
    Ok(Group { comm: Arc::new(tcp::Mesh::connect_with(rank, listener, addresses, timeout)?) })
}

struct Singleton;

impl Communicator for Singleton {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_reduce(&self, _: &mut [u8], _: &reduce::Reducer) -> Result<()> {
        Ok(())
    }
    fn all_gather(&self, local: &[u8], out: &mut [u8]) -> Result<()> {
        out.copy_from_slice(local);
        Ok(())
    }
    fn reduce_scatter(&self, data: &mut [u8], _: &reduce::Reducer, out: &mut [u8]) -> Result<()> {
        out.copy_from_slice(data);
        Ok(())
    }
    fn send(&self, _: &[u8], dst: usize) -> Result<()> {
        Err(Error::Distributed(format!("send to rank {dst}: this group has one rank")))
    }
    fn recv(&self, _: &mut [u8], src: usize) -> Result<()> {
        Err(Error::Distributed(format!("recv from rank {src}: this group has one rank")))
    }
}

fn reduced(op: &'static str, x: &Array, group: &Group, reduce: ReduceOp) -> Result<Array> {
    reduce::check(op, x.dtype(), reduce)?;
    if group.size() == 1 {
        return Ok(x.clone());
    }
    let prim = AllReduce { group: group.clone(), op: reduce };
    Ok(Array::from_primitive(x.shape().to_vec(), x.dtype(), Arc::new(prim), vec![crate::contiguous(x)?]))
}

/// The element-wise sum of `x` over every rank of `group` (all ranks get it).
pub fn all_sum(x: &Array, group: &Group) -> Result<Array> {
    reduced("all_sum", x, group, ReduceOp::Sum)
}

/// The element-wise maximum of `x` over every rank.
pub fn all_max(x: &Array, group: &Group) -> Result<Array> {
    reduced("all_max", x, group, ReduceOp::Max)
}

/// The element-wise minimum of `x` over every rank.
pub fn all_min(x: &Array, group: &Group) -> Result<Array> {
    reduced("all_min", x, group, ReduceOp::Min)
}

/// Every rank's `x` concatenated along axis 0, in rank order (equal shapes on every rank).
pub fn all_gather(x: &Array, group: &Group) -> Result<Array> {
    let x = if x.ndim() == 0 { crate::reshape_to(x, &[1])? } else { x.clone() };
    if group.size() == 1 {
        return Ok(x);
    }
    let mut shape = x.shape().to_vec();
    shape[0] *= group.size();
    Ok(Array::from_primitive(shape, x.dtype(), Arc::new(AllGather { group: group.clone() }), vec![crate::contiguous(&x)?]))
}

/// The sum of `x` over every rank, scattered: rank `r` gets rows `r·m .. (r+1)·m` of axis 0
/// (`m` = `x.shape[0] / size`, which must divide).
pub fn sum_scatter(x: &Array, group: &Group) -> Result<Array> {
    let op = "sum_scatter";
    reduce::check(op, x.dtype(), ReduceOp::Sum)?;
    let n = group.size();
    if x.ndim() == 0 || !x.shape()[0].is_multiple_of(n) {
        return Err(Error::shapes_detail(op, &[x.shape()], format!("axis 0 must split into {n} equal parts")));
    }
    if n == 1 {
        return Ok(x.clone());
    }
    let mut shape = x.shape().to_vec();
    shape[0] /= n;
    Ok(Array::from_primitive(shape, x.dtype(), Arc::new(ReduceScatter { group: group.clone() }), vec![crate::contiguous(x)?]))
}

fn check_peer(op: &'static str, peer: usize, group: &Group) -> Result<()> {
    if peer >= group.size() || peer == group.rank() {
        return Err(Error::arg(
            op,
            format!("rank {peer} is not another rank of this group of {} (this is rank {})", group.size(), group.rank()),
        ));
    }
    Ok(())
}

/// Sends `x` to rank `dst`; returns `x`, to keep in the graph (evaluating it sends).
pub fn send(x: &Array, dst: usize, group: &Group) -> Result<Array> {
    check_peer("send", dst, group)?;
    Ok(Array::from_primitive(x.shape().to_vec(), x.dtype(), Arc::new(Send { group: group.clone(), dst }), vec![crate::contiguous(x)?]))
}

/// Receives an array of `shape` and `dtype` from rank `src`.
pub fn recv(shape: &[usize], dtype: Dtype, src: usize, group: &Group) -> Result<Array> {
    check_peer("recv", src, group)?;
    Ok(Array::from_primitive(shape.to_vec(), dtype, Arc::new(Recv { group: group.clone(), src }), vec![]))
}

/// Receives an array shaped and typed like `x` from rank `src`.
pub fn recv_like(x: &Array, src: usize, group: &Group) -> Result<Array> {
    recv(x.shape(), x.dtype(), src, group)
}
