//! A TCP connection that sends frozen bytes (the plain exposition, see
//! [`crate::exposition::frozen`]) without copying them: `vmsplice` hands their pages to a
//! pipe by reference and `splice` moves them to the socket, as nginx's `sendfile` sends
//! files from the page cache. Everything else (response heads, the `process_*` tail, TLS
//! records, small bodies) is written as usual. The order of bytes on the wire is the order
//! hyper writes them: what sits in the pipe goes out before anything written after it.
//! Where the kernel refuses (no pipes left, a seccomp filter), the connection falls back
//! to ordinary writes for good.

use std::io::{self, IoSlice};
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice, vmsplice};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use crate::exposition::frozen::leading_run;

/// The pipe's size asked for (Linux's default ceiling for unprivileged processes): fewer,
/// larger moves than the 64 KiB default.
const PIPE_BYTES: i32 = 1 << 20;

/// `stream`, sending frozen bytes by reference.
#[derive(Debug)]
pub struct SplicingStream {
    stream: TcpStream,
    /// Made at the first frozen write: (read end, write end).
    pipe: Option<(OwnedFd, OwnedFd)>,
    /// Bytes in the pipe, not yet on the socket.
    pending: usize,
    /// The kernel refused a pipe or a vmsplice: ordinary writes only.
    disabled: bool,
    /// Bytes sent by reference so far.
    spliced: u64,
}

impl SplicingStream {
    /// Wraps `stream`.
    pub fn new(stream: TcpStream) -> Self {
        SplicingStream {
            stream,
            pipe: None,
            pending: 0,
            disabled: false,
            spliced: 0,
        }
    }

    /// How many bytes went out by reference rather than copied.
    pub fn spliced_bytes(&self) -> u64 {
        self.spliced
    }

    /// Moves what is in the pipe to the socket; ready when the pipe is empty.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending > 0 {
            let Some((read_end, _)) = &self.pipe else {
                self.pending = 0;
                break;
            };
            ready!(self.stream.poll_write_ready(cx))?;
            let s = &self.stream;
            let moved = s.try_io(Interest::WRITABLE, || {
                splice(
                    read_end,
                    None,
                    s,
                    None,
                    self.pending,
                    SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE,
                )
                .map_err(io::Error::from)
            });
            match moved {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.pending -= n.min(self.pending),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Hands the frozen `bufs` (contiguous runs of them) to the empty pipe; how many bytes
    /// it took, or `None` when the kernel refuses (then nothing was taken).
    fn fill_pipe(&mut self, bufs: &[IoSlice<'_>]) -> Option<usize> {
        if self.pipe.is_none() {
            let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).ok()?;
            // A smaller pipe works too, only with more moves.
            let _ = fcntl(&w, FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
            self.pipe = Some((r, w));
        }
        let (_, write_end) = self.pipe.as_ref()?;
        match vmsplice(write_end, bufs, SpliceFFlags::SPLICE_F_NONBLOCK) {
            Ok(n) if n > 0 => Some(n),
            _ => None,
        }
    }
}

impl AsyncRead for SplicingStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SplicingStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        let Some(first) = bufs.iter().position(|b| !b.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        let bufs = &bufs[first..];
        let (frozen, run) = if this.disabled {
            (false, bufs.len())
        } else {
            leading_run(bufs)
        };
        if frozen {
            match this.fill_pipe(&bufs[..run]) {
                Some(n) => {
                    this.pending = n;
                    this.spliced += n as u64;
                    // Start moving at once; what is left goes before the next write.
                    if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                        return Poll::Ready(Err(e));
                    }
                    return Poll::Ready(Ok(n));
                }
                None => {
                    tracing::debug!("vmsplice refused: this connection copies its bodies");
                    this.disabled = true;
                }
            }
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, &bufs[..run])
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Buf as _, Bytes};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn frozen_bytes(len: usize) -> Bytes {
        let mut m = memmap2::MmapMut::map_anon(len).expect("map");
        for (i, b) in m.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let map = m.make_read_only().expect("read-only");
        Bytes::from_owner(crate::exposition::frozen::Frozen::new(map))
    }

    /// A loopback connection: the splicing writer (with this send buffer, if any) and a task
    /// that reads everything the other end gets.
    async fn connected(
        send_buffer: Option<u32>,
    ) -> (SplicingStream, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(bytes) = send_buffer {
            socket.set_send_buffer_size(bytes).expect("sndbuf");
        }
        let (client, accepted) = tokio::join!(socket.connect(addr), listener.accept());
        let (mut reader, _) = accepted.expect("accept");
        let read = tokio::spawn(async move {
            let mut got = Vec::new();
            reader.read_to_end(&mut got).await.expect("read");
            got
        });
        (SplicingStream::new(client.expect("connect")), read)
    }

    /// Writes `parts` in order as hyper does: vectored writes of what is left.
    async fn write_parts(w: &mut SplicingStream, mut parts: Vec<Bytes>) {
        while !parts.is_empty() {
            let slices: Vec<IoSlice<'_>> = parts.iter().map(|b| IoSlice::new(b)).collect();
            let mut n = w.write_vectored(&slices).await.expect("write");
            assert!(n > 0, "a write made no progress");
            while n > 0 {
                let first = &mut parts[0];
                let k = n.min(first.len());
                first.advance(k);
                n -= k;
                if first.is_empty() {
                    parts.remove(0);
                }
            }
        }
        w.flush().await.expect("flush");
        w.shutdown().await.expect("shutdown");
    }

    #[tokio::test]
    async fn frozen_bytes_go_by_reference_in_order_with_the_rest() {
        // A small send buffer, so the pipe fills and drains many times.
        let (mut writer, read) = connected(Some(16 * 1024)).await;

        let body = frozen_bytes(3 << 20);
        let parts = vec![
            Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n"),
            body.slice(..100_000),
            body.slice(100_000..),
            Bytes::from_static(b"# tail, copied\n"),
            body.slice(5..17),
        ];
        let expected: Vec<u8> = parts.iter().flat_map(|b| b.iter().copied()).collect();
        write_parts(&mut writer, parts).await;
        let got = read.await.expect("reader");
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "the bytes arrived changed or out of order");
        assert_eq!(
            writer.spliced_bytes(),
            (3 << 20) + 12,
            "every frozen byte went by reference"
        );
    }

    #[tokio::test]
    async fn ordinary_bytes_are_written_as_usual() {
        let (mut writer, read) = connected(None).await;
        let big = Bytes::from(vec![7u8; 1 << 20]);
        write_parts(&mut writer, vec![Bytes::from_static(b"head"), big.clone()]).await;
        let got = read.await.expect("reader");
        assert_eq!(&got[..4], b"head");
        assert!(got[4..] == big[..]);
        assert_eq!(writer.spliced_bytes(), 0);
    }
}
