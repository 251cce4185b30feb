//! The server's graceful-shutdown signal, cheap to check on every wake.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use tokio_util::sync::{
    CancellationToken, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};

/// Graceful shutdown: a token to wait on, and a flag to read without the
/// token's lock. Clones signal the same shutdown.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shutdown {
    token: CancellationToken,
    signalled: Arc<AtomicBool>,
}

impl Shutdown {
    /// Starts the shutdown: every waiter wakes.
    pub(crate) fn signal(&self) {
        // The flag first: a waiter woken by the token must find it set.
        self.signalled.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// Completes once the shutdown is signalled.
    pub(crate) fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// Completes once the shutdown is signalled, borrowing nothing: for a
    /// wait whose task also borrows the connection mutably.
    pub(crate) fn cancelled_owned(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }
}

/// A connection's wait on the shutdown across many wakes.
///
/// Polling the token's future takes two locks (the token's state and its
/// waiter list), on every wake of a busy connection. Once polled with the
/// task's waker, the future wakes that task when the shutdown comes; until
/// then, or until the task's waker changes, a load of the flag is enough.
pub(crate) struct Watch<'a, 'b> {
    shutdown: &'a Shutdown,
    cancelled: Pin<&'b mut WaitForCancellationFuture<'a>>,
    /// The waker the token's future last registered.
    registered: Option<Waker>,
}

/// The shutdown as a connection's wait polls it.
pub(crate) trait ShutdownWait {
    /// Ready once the shutdown is signalled.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()>;

    /// Whether the last poll registered `waker`: a task polled with the
    /// same waker as before is woken by what it polled then.
    fn registered_with(&self, waker: &Waker) -> bool;
}

impl<T: ShutdownWait + ?Sized> ShutdownWait for &mut T {
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_shutdown(cx)
    }

    fn registered_with(&self, waker: &Waker) -> bool {
        (**self).registered_with(waker)
    }
}

/// The plain future: polled in full every time, remembering nothing. For
/// a hibernated connection, whose wakes are rare and whose every byte counts.
impl ShutdownWait for Pin<&mut WaitForCancellationFutureOwned> {
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.as_mut().poll(cx)
    }

    fn registered_with(&self, _waker: &Waker) -> bool {
        false
    }
}

impl<'a, 'b> Watch<'a, 'b> {
    /// Watches `shutdown` through `cancelled`, its pinned future.
    pub(crate) fn new(
        shutdown: &'a Shutdown,
        cancelled: Pin<&'b mut WaitForCancellationFuture<'a>>,
    ) -> Self {
        Watch {
            shutdown,
            cancelled,
            registered: None,
        }
    }
}

impl ShutdownWait for Watch<'_, '_> {
    fn registered_with(&self, waker: &Waker) -> bool {
        self.registered
            .as_ref()
            .is_some_and(|registered| registered.will_wake(waker))
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let current = self.registered_with(cx.waker());
        if current && !self.shutdown.signalled.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        let polled = self.cancelled.as_mut().poll(cx);
        if polled.is_pending() && !current {
            self.registered = Some(cx.waker().clone());
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use super::*;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Counter {
        fn wakes(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A fresh waker and the count of its wakes.
    fn counting_waker() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    #[test]
    fn a_watch_wakes_the_task_that_polled_it_and_then_completes() {
        let shutdown = Shutdown::default();
        let cancelled = pin!(shutdown.cancelled());
        let mut watch = Watch::new(&shutdown, cancelled);
        let (counter, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(watch.poll_shutdown(&mut cx).is_pending());
        assert!(watch.registered_with(&waker));
        // Later polls with the same waker only read the flag.
        assert!(watch.poll_shutdown(&mut cx).is_pending());
        shutdown.signal();
        assert_eq!(counter.wakes(), 1);
        assert!(watch.poll_shutdown(&mut cx).is_ready());
    }

    #[test]
    fn a_watch_polled_with_a_new_waker_wakes_that_one() {
        let shutdown = Shutdown::default();
        let cancelled = pin!(shutdown.cancelled());
        let mut watch = Watch::new(&shutdown, cancelled);
        let (_, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        assert!(
            watch
                .poll_shutdown(&mut Context::from_waker(&first_waker))
                .is_pending()
        );
        assert!(!watch.registered_with(&second_waker));
        assert!(
            watch
                .poll_shutdown(&mut Context::from_waker(&second_waker))
                .is_pending()
        );
        assert!(watch.registered_with(&second_waker));
        shutdown.signal();
        assert_eq!(second.wakes(), 1, "the waker of the last poll is woken");
    }

    #[test]
    fn a_watch_made_after_the_signal_is_ready_at_once() {
        let shutdown = Shutdown::default();
        shutdown.signal();
        let cancelled = pin!(shutdown.cancelled());
        let mut watch = Watch::new(&shutdown, cancelled);
        let (_, waker) = counting_waker();
        assert!(
            watch
                .poll_shutdown(&mut Context::from_waker(&waker))
                .is_ready()
        );
    }
}
