//! Test support for Switchboard: a harness that runs the real server on port 0 against a throw-away
//! database, a clock tests can move, and loopback fakes that speak each provider's wire protocol
//! ([`FakeOpenAi`] so far).

mod clock;
mod openai;
mod server;

pub use clock::ManualClock;
pub use openai::{EmbeddingReply, FAKE_OPENAI_KEY, FakeOpenAi, RecordedRequest, Reply};
pub use server::{TestApp, TestAppBuilder, TestDatabaseKind};
