//! The calls this instance is carrying right now, so a client's "end the call" reaches the session
//! holding it. Entries leave when their guard drops, whatever way the call ended.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use switchboard_domain::ids::CallId;
use tokio::sync::watch;

/// Live calls on this instance. A std mutex: it is held for a map operation only, never across
/// an await.
#[derive(Clone, Debug, Default)]
pub struct LiveCalls {
    calls: Arc<Mutex<HashMap<CallId, watch::Sender<bool>>>>,
}

/// Keeps a call listed while it lives.
#[derive(Debug)]
pub struct LiveGuard {
    calls: LiveCalls,
    call: CallId,
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
        calls.insert(call, stop);
        Some((
            LiveGuard {
                calls: self.clone(),
                call,
            },
            stopped,
        ))
    }

    /// Asks a live call to end; `false` when this instance is not carrying it.
    pub fn hang_up(&self, call: CallId) -> bool {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&call)
            .is_some_and(|stop| stop.send(true).is_ok())
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

    #[test]
    fn a_call_is_listed_once_until_its_guard_drops() {
        let live = LiveCalls::default();
        let call = CallId::new();
        let (guard, stopped) = live.register(call).unwrap();
        assert!(live.register(call).is_none());
        assert_eq!(live.count(), 1);
        assert!(live.hang_up(call));
        assert!(*stopped.borrow());
        assert!(!live.hang_up(CallId::new()));
        drop(guard);
        assert_eq!(live.count(), 0);
        assert!(!live.hang_up(call));
        assert!(live.register(call).is_some());
    }
}
