//! The TCP transport: one connection between every pair of ranks (the lower rank listens,
//! the higher connects and introduces itself), messages framed with their length so that
//! ranks disagreeing about a shape get an error instead of a hang. Reductions run as a ring
//! over the connections to the next and previous rank: a reduce-scatter (each rank ends with
//! one chunk reduced over all ranks, in ring order) then an all-gather of the chunks, so
//! every rank holds the same bits. Each exchange sends on a helper thread while receiving, so
//! neither side blocks on a full socket buffer.

use super::reduce::Reducer;
use super::Communicator;
use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long [`Mesh::connect`] waits for the other ranks to appear.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads MLX's ring hostfile: a JSON list with one list of `"host:port"` per rank (the first
/// address of each is used).
pub fn parse_hostfile(text: &str) -> Result<Vec<SocketAddr>> {
    let bad = |detail: String| Error::Format { format: "hostfile", detail };
    let ranks: Vec<Vec<String>> = serde_json::from_str(text).map_err(|e| bad(format!("expected [[\"host:port\", ...], ...]: {e}")))?;
    ranks
        .iter()
        .enumerate()
        .map(|(rank, addresses)| {
            let first = addresses.first().ok_or_else(|| bad(format!("rank {rank} has no address")))?;
            first
                .to_socket_addrs()
                .map_err(|e| bad(format!("rank {rank}: {first:?}: {e}")))?
                .next()
                .ok_or_else(|| bad(format!("rank {rank}: {first:?} resolves to nothing")))
        })
        .collect()
}

/// One peer's connection: a reading and a writing handle of the same socket.
struct Link {
    reader: Mutex<TcpStream>,
    writer: Mutex<TcpStream>,
}

/// Every pair of ranks connected by TCP.
pub struct Mesh {
    rank: usize,
    links: Vec<Option<Link>>,
}

fn fail(what: String) -> Error {
    Error::Distributed(what)
}

impl Mesh {
    /// Joins the group as `rank` of `addresses.len()`: listens on its own address, connects
    /// to every lower rank and accepts every higher one, within `timeout`.
    pub fn connect(rank: usize, addresses: &[SocketAddr], timeout: Duration) -> Result<Mesh> {
        let listener = TcpListener::bind(
            addresses.get(rank).ok_or_else(|| fail(format!("rank {rank} is not in the hostfile of {} ranks", addresses.len())))?,
        )
        .map_err(|e| fail(format!("rank {rank}: listening on {}: {e}", addresses[rank])))?;
        Mesh::connect_with(rank, listener, addresses, timeout)
    }

    /// [`Mesh::connect`] with this rank's listener already bound.
    pub fn connect_with(rank: usize, listener: TcpListener, addresses: &[SocketAddr], timeout: Duration) -> Result<Mesh> {
        let size = addresses.len();
        let deadline = Instant::now() + timeout;
        let mut streams: Vec<Option<TcpStream>> = (0..size).map(|_| None).collect();
        for (peer, address) in addresses.iter().enumerate().take(rank) {
            let mut stream = loop {
                match TcpStream::connect_timeout(address, Duration::from_millis(500)) {
                    Ok(s) => break s,
                    Err(e) if Instant::now() > deadline => {
                        return Err(fail(format!("rank {rank}: connecting to rank {peer} at {address}: {e}")))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            };
            stream.write_all(&(rank as u64).to_le_bytes()).map_err(|e| fail(format!("rank {rank}: greeting rank {peer}: {e}")))?;
            streams[peer] = Some(stream);
        }
        listener.set_nonblocking(true).map_err(|e| fail(e.to_string()))?;
        while streams.iter().skip(rank + 1).any(Option::is_none) {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).map_err(|e| fail(e.to_string()))?;
                    let mut who = [0u8; 8];
                    stream.read_exact(&mut who).map_err(|e| fail(format!("rank {rank}: reading a peer's rank: {e}")))?;
                    let peer = u64::from_le_bytes(who) as usize;
                    if peer <= rank || peer >= size || streams[peer].is_some() {
                        return Err(fail(format!("rank {rank}: unexpected peer rank {peer}")));
                    }
                    streams[peer] = Some(stream);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() <= deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => {
                    let missing: Vec<usize> = (rank + 1..size).filter(|&p| streams[p].is_none()).collect();
                    return Err(fail(format!("rank {rank}: waiting for ranks {missing:?}: {e}")));
                }
            }
        }
        let links = streams
            .into_iter()
            .map(|s| {
                s.map(|s| -> Result<Link> {
                    s.set_nodelay(true).map_err(|e| fail(e.to_string()))?;
                    let writer = s.try_clone().map_err(|e| fail(e.to_string()))?;
                    Ok(Link { reader: Mutex::new(s), writer: Mutex::new(writer) })
                })
                .transpose()
            })
            .collect::<Result<_>>()?;
        Ok(Mesh { rank, links })
    }

    fn link(&self, peer: usize) -> Result<&Link> {
        self.links.get(peer).and_then(Option::as_ref).ok_or_else(|| fail(format!("rank {}: no connection to rank {peer}", self.rank)))
    }

    fn write(&self, peer: usize, data: &[u8]) -> Result<()> {
        let mut w = self.link(peer)?.writer.lock().unwrap_or_else(|e| e.into_inner());
        let framed = (data.len() as u64).to_le_bytes();
        w.write_all(&framed).and_then(|_| w.write_all(data)).map_err(|e| fail(format!("rank {}: sending to rank {peer}: {e}", self.rank)))
    }

    fn read(&self, peer: usize, out: &mut [u8]) -> Result<()> {
        let mut r = self.link(peer)?.reader.lock().unwrap_or_else(|e| e.into_inner());
        let lost = |e: std::io::Error| fail(format!("rank {}: receiving from rank {peer}: {e}", self.rank));
        let mut len = [0u8; 8];
        r.read_exact(&mut len).map_err(lost)?;
        let len = u64::from_le_bytes(len) as usize;
        if len != out.len() {
            return Err(fail(format!(
                "rank {}: rank {peer} sent {len} bytes where {} were expected (shapes or dtypes differ between ranks)",
                self.rank,
                out.len()
            )));
        }
        r.read_exact(out).map_err(lost)
    }

    /// Sends `data` to `to` while receiving `out` from `from`.
    fn exchange(&self, to: usize, data: &[u8], from: usize, out: &mut [u8]) -> Result<()> {
        std::thread::scope(|s| {
            let sending = s.spawn(|| self.write(to, data));
            let received = self.read(from, out);
            let sent = sending.join().unwrap_or_else(|_| Err(fail("the sending thread panicked".into())));
            sent.and(received)
        })
    }

    fn ranks(&self) -> usize {
        self.links.len()
    }

    /// Byte range of chunk `c` of `n` elements of `elem` bytes split in `size` parts.
    fn chunk(&self, c: usize, elements: usize, elem: usize) -> Range<usize> {
        let size = self.ranks();
        (c * elements / size) * elem..((c + 1) * elements / size) * elem
    }

    /// Ring reduce-scatter over `data`: afterwards chunk `rank` holds the reduction.
    fn ring_reduce_scatter(&self, data: &mut [u8], reduce: &Reducer) -> Result<()> {
        let (n, r) = (self.ranks(), self.rank);
        let (next, prev) = ((r + 1) % n, (r + n - 1) % n);
        let elements = data.len() / reduce.elem;
        for step in 0..n - 1 {
            let send = self.chunk((r + 2 * n - step - 1) % n, elements, reduce.elem);
            let into = self.chunk((r + 2 * n - step - 2) % n, elements, reduce.elem);
            let mut incoming = vec![0u8; into.len()];
            self.exchange(next, &data[send], prev, &mut incoming)?;
            (reduce.apply)(&mut data[into], &incoming);
        }
        Ok(())
    }

    /// Ring all-gather of equal-size slots of `out`, this rank's already in place.
    fn ring_all_gather(&self, out: &mut [u8], slot: impl Fn(usize) -> Range<usize>) -> Result<()> {
        let (n, r) = (self.ranks(), self.rank);
        let (next, prev) = ((r + 1) % n, (r + n - 1) % n);
        for step in 0..n - 1 {
            let (outgoing, incoming) = disjoint(out, slot((r + n - step) % n), slot((r + 2 * n - step - 1) % n));
            self.exchange(next, outgoing, prev, incoming)?;
        }
        Ok(())
    }
}

/// `data[send]` to read and `data[into]` to write at once (the ranges do not overlap).
fn disjoint(data: &mut [u8], send: Range<usize>, into: Range<usize>) -> (&[u8], &mut [u8]) {
    if send.start < into.start {
        let (head, tail) = data.split_at_mut(into.start);
        (&head[send], &mut tail[..into.len()])
    } else {
        let (head, tail) = data.split_at_mut(send.start);
        (&tail[..send.len()], &mut head[into])
    }
}

impl Communicator for Mesh {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.ranks()
    }

    fn all_reduce(&self, data: &mut [u8], reduce: &Reducer) -> Result<()> {
        self.ring_reduce_scatter(data, reduce)?;
        let elements = data.len() / reduce.elem;
        self.ring_all_gather(data, |c| self.chunk(c, elements, reduce.elem))
    }

    fn all_gather(&self, local: &[u8], out: &mut [u8]) -> Result<()> {
        let len = local.len();
        out[self.rank * len..(self.rank + 1) * len].copy_from_slice(local);
        self.ring_all_gather(out, |c| c * len..(c + 1) * len)
    }

    fn reduce_scatter(&self, data: &mut [u8], reduce: &Reducer, out: &mut [u8]) -> Result<()> {
        self.ring_reduce_scatter(data, reduce)?;
        let elements = data.len() / reduce.elem;
        out.copy_from_slice(&data[self.chunk(self.rank, elements, reduce.elem)]);
        Ok(())
    }

    fn send(&self, data: &[u8], dst: usize) -> Result<()> {
        self.write(dst, data)
    }

    fn recv(&self, out: &mut [u8], src: usize) -> Result<()> {
        self.read(src, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostfiles_as_mlx_launch_writes_them_and_malformed_ones() {
        let ok = parse_hostfile(r#"[["127.0.0.1:32323"], ["127.0.0.1:32324", "10.0.0.2:5000"]]"#).unwrap();
        assert_eq!(ok.iter().map(|a| a.port()).collect::<Vec<_>>(), vec![32323, 32324]);
        for bad in ["", "{}", r#"[["127.0.0.1"]]"#, "[[]]", r#"[["host-that-does-not-exist.invalid:1"]]"#] {
            let err = parse_hostfile(bad).unwrap_err();
            assert!(matches!(err, Error::Format { format: "hostfile", .. }), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_missing_peer_is_an_error_after_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let me = listener.local_addr().unwrap();
        let absent = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap(); // closed again
        let err = Mesh::connect_with(0, listener, &[me, absent], Duration::from_millis(200)).err().unwrap();
        assert!(err.to_string().contains("waiting for ranks [1]"), "{err}");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let me = listener.local_addr().unwrap();
        let err = Mesh::connect_with(1, listener, &[absent, me], Duration::from_millis(200)).err().unwrap();
        assert!(err.to_string().contains("connecting to rank 0"), "{err}");
    }
}
