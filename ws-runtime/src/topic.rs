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
    subscribers: Mutex<Subscribers<T>>,
    overflow: Overflow,
}

/// `subscribe` leaves shorter lists alone: at most this many ended
/// subscribers wait there for the next publish.
const PRUNE_MIN: usize = 16;

/// The subscribed addresses, and when [`Topic::subscribe`] next drops the
/// ended ones among them.
///
/// A publish drops ended subscribers as it meets them, but a topic nobody
/// publishes to (a quiet room that users join and leave) would otherwise
/// keep every ended connection's `Addr`, and with it its mailbox, without
/// bound. So `subscribe` prunes too, once the list has doubled since it
/// was last known to hold only live subscribers: each O(n) prune follows
/// at least n/2 subscribes (O(1) per subscribe on average), and the list
/// never grows past twice the live subscribers at the last prune (or
/// [`PRUNE_MIN`]).
struct Subscribers<T> {
    addrs: Vec<Addr<T>>,
    /// The length at which `subscribe` prunes next.
    prune_at: usize,
}

impl<T> Subscribers<T> {
    fn new() -> Subscribers<T> {
        Subscribers {
            addrs: Vec::new(),
            prune_at: PRUNE_MIN,
        }
    }

    /// Records that every subscriber in the list was live just now.
    fn all_live(&mut self) {
        self.prune_at = self.addrs.len().saturating_mul(2).max(PRUNE_MIN);
    }

    /// Drops subscribers whose connection has ended.
    fn prune(&mut self) {
        self.addrs.retain(|addr| !addr.is_closed());
        self.all_live();
    }
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
                &self.inner.subscribers.lock().map_or(0, |s| s.addrs.len()),
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
                subscribers: Mutex::new(Subscribers::new()),
                overflow,
            }),
        }
    }

    /// The policy for full mailboxes.
    pub fn overflow(&self) -> Overflow {
        self.inner.overflow
    }

    fn subscribers(&self) -> MutexGuard<'_, Subscribers<T>> {
        // A panic elsewhere while holding the lock leaves a valid list.
        self.inner
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a connection; subscribing it twice has no further effect.
    ///
    /// Also drops ended subscribers once the list has doubled since it last
    /// held only live ones, so a topic nobody publishes to does not keep
    /// every connection that ever subscribed.
    pub fn subscribe(&self, addr: Addr<T>) {
        let mut subscribers = self.subscribers();
        if subscribers.addrs.len() >= subscribers.prune_at {
            subscribers.prune();
        }
        if !subscribers.addrs.iter().any(|s| s.same_connection(&addr)) {
            subscribers.addrs.push(addr);
        }
    }

    /// Removes a connection.
    pub fn unsubscribe(&self, addr: &Addr<T>) {
        self.subscribers()
            .addrs
            .retain(|s| !s.same_connection(addr));
    }

    /// Subscribers now, counting ended connections not dropped yet: they
    /// leave at the next publish, or when a subscribe prunes the list.
    pub fn len(&self) -> usize {
        self.subscribers().addrs.len()
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
        let mut subscribers = self.subscribers();
        subscribers
            .addrs
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
        // Every subscriber left just took a message (or was live and full).
        subscribers.all_live();
        outcome
    }

    /// Delivers `msg` to every subscriber, waiting for room in each full
    /// mailbox in turn (the publisher goes at the pace of the slowest).
    pub async fn publish_wait(&self, msg: T) -> Published {
        let subscribers: Vec<Addr<T>> = self.subscribers().addrs.clone();
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

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::{PRUNE_MIN, Topic};
    use crate::ctx::Addr;

    /// An address and its connection's end of the mailbox: dropping the
    /// receiver ends the connection, as the driver does when it ends.
    fn connection() -> (Addr<u32>, mpsc::Receiver<u32>) {
        let (sender, receiver) = mpsc::channel(1);
        (Addr::new(sender), receiver)
    }

    #[test]
    fn subscribing_drops_ended_subscribers_once_the_list_doubled() {
        let topic = Topic::<u32>::new();
        let live: Vec<_> = (0..100).map(|_| connection()).collect();
        for (addr, _) in &live {
            topic.subscribe(addr.clone());
        }
        for _ in 0..10_000 {
            let (addr, receiver) = connection();
            topic.subscribe(addr);
            drop(receiver);
            assert!(
                topic.len() <= 2 * live.len(),
                "{} subscribers kept for {} live ones",
                topic.len(),
                live.len()
            );
        }
        let outcome = topic.publish(7);
        assert_eq!(outcome.delivered, live.len());
        assert!(outcome.gone <= live.len());
        assert_eq!(topic.len(), live.len());
    }

    #[test]
    fn a_short_list_waits_for_a_publish() {
        let topic = Topic::<u32>::new();
        for _ in 0..PRUNE_MIN {
            let (addr, receiver) = connection();
            topic.subscribe(addr);
            drop(receiver);
        }
        // Not pruned yet: under the minimum, ended subscribers leave at
        // the next publish.
        assert_eq!(topic.len(), PRUNE_MIN);
        let (addr, _receiver) = connection();
        topic.subscribe(addr);
        assert_eq!(topic.len(), 1);
        assert_eq!(topic.publish(1).gone, 0);
    }
}
