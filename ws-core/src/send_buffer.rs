//! Bytes waiting to be written, ready for one vectored write.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Payloads up to this size are copied next to their header so that many
/// small frames leave in one contiguous write; larger ones are queued as
/// shared `Bytes` (no copy) and leave in the same vectored write.
pub const INLINE_PAYLOAD_MAX: usize = 4096;

/// The outgoing byte queue of a connection: frame headers and small payloads
/// copied into one growing buffer, large payloads shared without copying.
///
/// It implements [`bytes::Buf`], so a runtime writes it with
/// `write_buf`/`write_vectored` and advances by what the socket took.
#[derive(Debug, Default)]
pub struct SendBuffer {
    /// Segments that come before `open`, oldest first.
    segments: VecDeque<Bytes>,
    /// The buffer new headers and small payloads are appended to; its bytes
    /// come after every segment.
    open: BytesMut,
    len: usize,
}

impl SendBuffer {
    /// An empty buffer; allocates nothing until the first frame.
    pub fn new() -> SendBuffer {
        SendBuffer::default()
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Releases the memory of an empty buffer (hibernation); the next frame
    /// allocates again.
    pub fn release(&mut self) {
        if self.is_empty() {
            self.open = BytesMut::new();
            self.segments = VecDeque::new();
        }
    }

    /// Appends bytes, copying.
    pub(crate) fn put_slice(&mut self, bytes: &[u8]) {
        self.open.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    /// The open buffer, for writing a header or a payload in place; the caller
    /// reports what it wrote with [`SendBuffer::wrote`].
    pub(crate) fn open_mut(&mut self) -> &mut BytesMut {
        &mut self.open
    }

    /// Accounts for `n` bytes written into [`SendBuffer::open_mut`].
    pub(crate) fn wrote(&mut self, n: usize) {
        self.len += n;
    }

    /// Appends a payload: copied when small, shared when large.
    pub(crate) fn put_shared(&mut self, payload: Bytes) {
        if payload.len() <= INLINE_PAYLOAD_MAX {
            self.put_slice(&payload);
            return;
        }
        if !self.open.is_empty() {
            self.segments.push_back(self.open.split().freeze());
        }
        self.len += payload.len();
        self.segments.push_back(payload);
    }
}

impl Buf for SendBuffer {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        match self.segments.front() {
            Some(segment) => segment,
            None => &self.open,
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.len, "advanced past the end of the send buffer");
        if cnt == self.len {
            // All written, the usual case: the open buffer is emptied where
            // it stands rather than advanced, so the next frames are written
            // over the same bytes without moving or reallocating anything.
            self.segments.clear();
            self.open.clear();
            self.len = 0;
            return;
        }
        self.len -= cnt;
        while cnt > 0 {
            match self.segments.front_mut() {
                Some(segment) if segment.len() <= cnt => {
                    cnt -= segment.len();
                    self.segments.pop_front();
                }
                Some(segment) => {
                    segment.advance(cnt);
                    return;
                }
                None => {
                    self.open.advance(cnt);
                    return;
                }
            }
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let chunks = self
            .segments
            .iter()
            .map(|segment| &segment[..])
            .chain(std::iter::once(&self.open[..]))
            .filter(|chunk| !chunk.is_empty());
        let mut filled = 0;
        for (slot, chunk) in dst.iter_mut().zip(chunks) {
            *slot = IoSlice::new(chunk);
            filled += 1;
        }
        filled
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn drain(buf: &mut SendBuffer) -> Vec<u8> {
        let mut out = Vec::new();
        while buf.has_remaining() {
            let chunk = buf.chunk().to_vec();
            out.extend_from_slice(&chunk);
            buf.advance(chunk.len());
        }
        out
    }

    #[test]
    fn small_payloads_batch_into_one_chunk() {
        let mut buf = SendBuffer::new();
        buf.put_slice(b"ab");
        buf.put_shared(Bytes::from_static(b"cd"));
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(buf.chunks_vectored(&mut slices), 1);
        assert_eq!(drain(&mut buf), b"abcd");
    }

    #[test]
    fn large_payloads_are_shared_in_order() {
        let big = Bytes::from(vec![7u8; INLINE_PAYLOAD_MAX + 1]);
        let mut buf = SendBuffer::new();
        buf.put_slice(b"h1");
        buf.put_shared(big.clone());
        buf.put_slice(b"h2");
        assert_eq!(buf.len(), big.len() + 4);
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(buf.chunks_vectored(&mut slices), 3);
        let mut expected = b"h1".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"h2");
        // Advance across a segment boundary in odd steps.
        let mut out = Vec::new();
        while buf.has_remaining() {
            let take = buf.chunk().len().min(1000);
            out.extend_from_slice(&buf.chunk()[..take]);
            buf.advance(take);
        }
        assert_eq!(out, expected);
        assert!(buf.is_empty());
        buf.release();
    }
}
