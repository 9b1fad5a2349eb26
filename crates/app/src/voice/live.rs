//! The calls this instance is carrying right now, so a client's "end the call" reaches the session
//! holding it. Entries leave when their guard drops, whatever way the call ended.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use switchboard_domain::ids::CallId;
use tokio::sync::watch;

/// One carried call: how to ask it to end, and how to learn that it has.
#[derive(Debug)]
struct Carried {
    stop: watch::Sender<bool>,
    /// Closes when the call's guard drops, that is when its session has finished the call.
    finished: watch::Receiver<()>,
}

/// Live calls on this instance. A std mutex: it is held for a map operation only, never across
/// an await.
#[derive(Clone, Debug, Default)]
pub struct LiveCalls {
    calls: Arc<Mutex<HashMap<CallId, Carried>>>,
}

/// Keeps a call listed while it lives.
#[derive(Debug)]
pub struct LiveGuard {
    calls: LiveCalls,
    call: CallId,
    // Dropped with the guard, which tells those waiting for the call to finish.
    _finished: watch::Sender<()>,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.calls
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.call);
    }
}

impl LiveCalls {
    /// Lists a call; the receiver becomes `true` when someone asks it to end. `None` when the
    /// call is already being carried (a second socket for one call is refused).
    #[must_use]
    pub fn register(&self, call: CallId) -> Option<(LiveGuard, watch::Receiver<bool>)> {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        if calls.contains_key(&call) {
            return None;
        }
        let (stop, stopped) = watch::channel(false);
        let (finished_tx, finished) = watch::channel(());
        calls.insert(call, Carried { stop, finished });
        Some((
            LiveGuard {
                calls: self.clone(),
                call,
                _finished: finished_tx,
            },
            stopped,
        ))
    }

    /// Asks a live call to end and waits, up to `within`, for its session to finish it: the
    /// last transcript lines written and the call stored as ended (so its analysis reads the
    /// whole conversation). `false` when this instance is not carrying the call or the session
    /// did not finish in time.
    pub async fn end_and_wait(&self, call: CallId, within: Duration) -> bool {
        let finished = {
            let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(carried) = calls.get(&call) else {
                return false;
            };
            if carried.stop.send(true).is_err() {
                return false;
            }
            carried.finished.clone()
        };
        let mut finished = finished;
        // `changed` fails once the guard's sender is gone; nothing is ever sent on it.
        tokio::time::timeout(within, async { while finished.changed().await.is_ok() {} })
            .await
            .is_ok()
    }

    /// How many calls are live here.
    #[must_use]
    pub fn count(&self) -> usize {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_call_is_listed_once_until_its_guard_drops() {
        let live = LiveCalls::default();
        let call = CallId::new();
        let (guard, mut stopped) = live.register(call).unwrap();
        assert!(live.register(call).is_none());
        assert_eq!(live.count(), 1);
        // The session finishes the call when it is told to stop.
        let session = tokio::spawn(async move {
            stopped.changed().await.unwrap();
            assert!(*stopped.borrow());
            drop(guard);
        });
        assert!(live.end_and_wait(call, Duration::from_secs(10)).await);
        session.await.unwrap();
        assert!(
            !live
                .end_and_wait(CallId::new(), Duration::from_secs(10))
                .await
        );
        assert_eq!(live.count(), 0);
        assert!(!live.end_and_wait(call, Duration::from_secs(10)).await);
        assert!(live.register(call).is_some());
    }

    #[tokio::test]
    async fn a_session_that_does_not_finish_is_waited_for_only_so_long() {
        let live = LiveCalls::default();
        let call = CallId::new();
        let (_guard, stopped) = live.register(call).unwrap();
        assert!(!live.end_and_wait(call, Duration::from_millis(50)).await);
        assert!(*stopped.borrow());
        assert_eq!(live.count(), 1);
    }
}
