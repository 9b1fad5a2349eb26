//! Owning the session's background work: a guard that aborts its task when dropped, and a helper
//! to wait on work that may not exist.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::{JoinError, JoinHandle};

/// A spawned task that is aborted when this guard is dropped, so no task outlives its owner.
pub(super) struct TaskGuard<T>(JoinHandle<T>);

impl<T: Send + 'static> TaskGuard<T> {
    pub(super) fn spawn(future: impl Future<Output = T> + Send + 'static) -> Self {
        Self(tokio::spawn(future))
    }
}

impl<T> Drop for TaskGuard<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for TaskGuard<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Waits on an optional future; forever when there is none, so a `select!` branch without work
/// never fires.
pub(super) async fn maybe<F: std::future::Future>(future: Option<F>) -> F::Output {
    match future {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}
