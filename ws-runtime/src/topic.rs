//! Fan-out: one message to every subscribed connection.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ws_core::CloseCode;

use crate::ctx::{Addr, SendError};

/// What [`Topic::publish`] does for a subscriber whose mailbox is full.
///
/// A publisher never waits on the slowest subscriber unless it asks to:
/// [`Topic::publish_wait`] waits for room at every subscriber instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Close the subscriber's connection with 1013 "try again later" (RFC
    /// 6455 §7.4.1, IANA registry) and unsubscribe it: a client that cannot
    /// keep up is told so, and every message it does get is in order with
    /// none missing. The default.
    #[default]
    Close,
    /// Skip this message for that subscriber; it stays subscribed and gets
    /// later messages, so it may miss some.
    Drop,
}

/// What one publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Published {
    /// Subscribers whose mailbox took the message.
    pub delivered: usize,
    /// Subscribers that missed it under [`Overflow::Drop`].
    pub dropped: usize,
    /// Subscribers closed with 1013 under [`Overflow::Close`].
    pub closed: usize,
    /// Subscribers whose connection had ended; they are gone from the topic.
    pub gone: usize,
}

/// A set of connections that receive every message published to it; cheap
/// to clone (all clones are the same topic).
///
/// Messages are cloned per subscriber, so make them cheap to clone: share
/// payloads as [`Bytes`](ws_core::Bytes) or [`Text`](ws_core::Text) and a
/// broadcast is encoded once.
///
/// # Examples
///
/// ```
/// use ws_runtime::{Overflow, Topic};
///
/// #[derive(Clone)]
/// enum Notice { Said(String) }
///
/// let room: Topic<Notice> = Topic::new();
/// let lossy: Topic<Notice> = Topic::with_overflow(Overflow::Drop);
/// assert_eq!(room.len(), 0);
/// let outcome = room.publish(Notice::Said("nobody listens".into()));
/// assert_eq!(outcome.delivered, 0);
/// ```
pub struct Topic<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    subscribers: Mutex<Vec<Addr<T>>>,
    overflow: Overflow,
}

impl<T> Clone for Topic<T> {
    fn clone(&self) -> Topic<T> {
        Topic {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field(
                "subscribers",
                &self.inner.subscribers.lock().map_or(0, |s| s.len()),
            )
            .field("overflow", &self.inner.overflow)
            .finish()
    }
}

impl<T: Clone + Send + 'static> Default for Topic<T> {
    fn default() -> Topic<T> {
        Topic::new()
    }
}

impl<T: Clone + Send + 'static> Topic<T> {
    /// An empty topic that closes subscribers which cannot keep up
    /// ([`Overflow::Close`]).
    pub fn new() -> Topic<T> {
        Topic::with_overflow(Overflow::Close)
    }

    /// An empty topic with a policy for full mailboxes.
    pub fn with_overflow(overflow: Overflow) -> Topic<T> {
        Topic {
            inner: Arc::new(Inner {
                subscribers: Mutex::new(Vec::new()),
                overflow,
            }),
        }
    }

    /// The policy for full mailboxes.
    pub fn overflow(&self) -> Overflow {
        self.inner.overflow
    }

    fn subscribers(&self) -> MutexGuard<'_, Vec<Addr<T>>> {
        // A panic elsewhere while holding the lock leaves a valid Vec.
        self.inner
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a connection; subscribing it twice has no further effect.
    pub fn subscribe(&self, addr: Addr<T>) {
        let mut subscribers = self.subscribers();
        if !subscribers.iter().any(|s| s.same_connection(&addr)) {
            subscribers.push(addr);
        }
    }

    /// Removes a connection.
    pub fn unsubscribe(&self, addr: &Addr<T>) {
        self.subscribers().retain(|s| !s.same_connection(addr));
    }

    /// Subscribers now (ended connections leave at the next publish).
    pub fn len(&self) -> usize {
        self.subscribers().len()
    }

    /// Whether nobody is subscribed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Delivers `msg` to every subscriber without waiting; a full mailbox
    /// gets the topic's [`Overflow`] policy, an ended connection is dropped.
    pub fn publish(&self, msg: T) -> Published {
        let overflow = self.inner.overflow;
        let mut outcome = Published::default();
        self.subscribers()
            .retain(|addr| match addr.try_send(msg.clone()) {
                Ok(()) => {
                    outcome.delivered += 1;
                    true
                }
                Err(SendError::Full(_)) => match overflow {
                    Overflow::Drop => {
                        outcome.dropped += 1;
                        true
                    }
                    Overflow::Close => {
                        addr.close(CloseCode::TRY_AGAIN_LATER);
                        outcome.closed += 1;
                        false
                    }
                },
                Err(SendError::Closed(_)) => {
                    outcome.gone += 1;
                    false
                }
            });
        outcome
    }

    /// Delivers `msg` to every subscriber, waiting for room in each full
    /// mailbox in turn (the publisher goes at the pace of the slowest).
    pub async fn publish_wait(&self, msg: T) -> Published {
        let subscribers: Vec<Addr<T>> = self.subscribers().clone();
        let mut outcome = Published::default();
        for addr in &subscribers {
            match addr.send(msg.clone()).await {
                Ok(()) => outcome.delivered += 1,
                Err(_) => {
                    outcome.gone += 1;
                    self.unsubscribe(addr);
                }
            }
        }
        outcome
    }
}
