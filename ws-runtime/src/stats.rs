//! Server counters: connections, messages and bytes, readable while serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ws_core::Frame;

/// Counters kept by a connection between two flushes, so the shared atomics
/// are touched once per batch of frames, not once per frame.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    // Frames of one pass of a connection's loop (at most a few read
    // buffers' and a mailbox batch's worth) fit 32 bits.
    pub(crate) received: [u32; 5],
    pub(crate) sent: [u32; 5],
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) protocol_errors: u64,
}

/// A frame's kind, the index of its counter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Text = 0,
    Binary = 1,
    Ping = 2,
    Pong = 3,
    Close = 4,
}

impl Kind {
    pub(crate) fn of(frame: &Frame) -> Kind {
        match frame {
            Frame::Text(_) => Kind::Text,
            Frame::Binary(_) => Kind::Binary,
            Frame::Ping(_) => Kind::Ping,
            Frame::Pong(_) => Kind::Pong,
            Frame::Close(_) => Kind::Close,
        }
    }
}

impl Tally {
    pub(crate) fn count_received(&mut self, kind: Kind) {
        if let Some(count) = self.received.get_mut(kind as usize) {
            *count = count.saturating_add(1);
        }
    }

    pub(crate) fn count_sent(&mut self, kind: Kind) {
        if let Some(count) = self.sent.get_mut(kind as usize) {
            *count = count.saturating_add(1);
        }
    }

    fn is_empty(&self) -> bool {
        self.bytes_in == 0
            && self.bytes_out == 0
            && self.protocol_errors == 0
            && self.received == [0; 5]
            && self.sent == [0; 5]
    }
}

#[derive(Debug, Default)]
struct Counters {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    handshakes_refused: AtomicU64,
    received: [AtomicU64; 5],
    sent: [AtomicU64; 5],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    protocol_errors: AtomicU64,
}

/// A live view of a server's counters; clone it freely (`Server::stats`).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    counters: Arc<Counters>,
}

/// Per-opcode message counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByOpcode {
    /// Text messages.
    pub text: u64,
    /// Binary messages.
    pub binary: u64,
    /// Pings.
    pub ping: u64,
    /// Pongs.
    pub pong: u64,
    /// Close frames.
    pub close: u64,
}

impl ByOpcode {
    fn read(counts: &[AtomicU64; 5]) -> ByOpcode {
        let [text, binary, ping, pong, close] =
            counts.each_ref().map(|c| c.load(Ordering::Relaxed));
        ByOpcode {
            text,
            binary,
            ping,
            pong,
            close,
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// WebSocket connections open now.
    pub connections_open: u64,
    /// WebSocket connections upgraded since the server started.
    pub connections_total: u64,
    /// Upgrade requests answered with an HTTP error or rejected by `init`.
    pub handshakes_refused: u64,
    /// Messages and control frames received, whole messages counted once.
    pub received: ByOpcode,
    /// Messages and control frames sent.
    pub sent: ByOpcode,
    /// Bytes read from WebSocket connections.
    pub bytes_in: u64,
    /// Bytes written to WebSocket connections.
    pub bytes_out: u64,
    /// Connections failed for breaking the protocol (closes 1002, 1007, 1009).
    pub protocol_errors: u64,
}

impl Stats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &self.counters;
        StatsSnapshot {
            connections_open: c.connections_open.load(Ordering::Relaxed),
            connections_total: c.connections_total.load(Ordering::Relaxed),
            handshakes_refused: c.handshakes_refused.load(Ordering::Relaxed),
            received: ByOpcode::read(&c.received),
            sent: ByOpcode::read(&c.sent),
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            bytes_out: c.bytes_out.load(Ordering::Relaxed),
            protocol_errors: c.protocol_errors.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn opened(&self) {
        self.counters
            .connections_open
            .fetch_add(1, Ordering::Relaxed);
        self.counters
            .connections_total
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self) {
        self.counters
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.counters
            .handshakes_refused
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a connection's tally and clears it.
    pub(crate) fn flush(&self, tally: &mut Tally) {
        if tally.is_empty() {
            return;
        }
        let c = &self.counters;
        for (counter, n) in c.received.iter().zip(tally.received) {
            if n > 0 {
                counter.fetch_add(u64::from(n), Ordering::Relaxed);
            }
        }
        for (counter, n) in c.sent.iter().zip(tally.sent) {
            if n > 0 {
                counter.fetch_add(u64::from(n), Ordering::Relaxed);
            }
        }
        c.bytes_in.fetch_add(tally.bytes_in, Ordering::Relaxed);
        c.bytes_out.fetch_add(tally.bytes_out, Ordering::Relaxed);
        if tally.protocol_errors > 0 {
            c.protocol_errors
                .fetch_add(tally.protocol_errors, Ordering::Relaxed);
        }
        *tally = Tally::default();
    }
}
