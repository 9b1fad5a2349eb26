//! The HTTP plumbing every provider adapter needs and none should write again: an [`ApiKey`]
//! that never prints, a [`RetryPolicy`] (exponential backoff with equal jitter, capped, honouring
//! the server's [`retry_after`]), an HTTP [`client`] that follows no redirect, [`endpoint`]s
//! under a base URL that keep its path, bounded body reads ([`read_body`]), error answers read
//! once ([`ErrorAnswer`]), and text that is safe to put in an error ([`error_text`], [`shorten`],
//! [`describe`]).
//!
//! Nothing here knows a provider: each adapter keeps its own headers, error shapes, failure type
//! and mapping onto its port's errors, and uses these pieces to build them.

mod client;
mod key;
mod response;
mod retry;

pub use client::{InvalidBase, client, endpoint};
pub use key::ApiKey;
pub use response::{
    BodyError, ErrorAnswer, MESSAGE_CHARS, describe, error_text, read_body, shorten,
};
pub use retry::{Retry, RetryPolicy, Retryable, retry_after};
