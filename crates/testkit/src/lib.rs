//! Test support for Switchboard: a harness that runs the real server on port 0 against a throw-away
//! database, a clock tests can move, contract suites every adapter of a port must pass, and
//! loopback fakes that speak each provider's wire protocol ([`FakeOpenAi`], [`FakePinecone`]).

mod clock;
mod contracts;
mod deepgram;
mod http1;
mod openai;
mod pinecone;
mod server;

pub use clock::ManualClock;
pub use contracts::vector_store_contract;
pub use deepgram::{
    DEFAULT_DEEPGRAM_PHRASE, FAKE_DEEPGRAM_KEY, FakeDeepgram, LiveConnection, TranscriptionRequest,
};
pub use openai::{EmbeddingReply, FAKE_OPENAI_KEY, FakeOpenAi, RecordedRequest, Reply};
pub use pinecone::{FAKE_PINECONE_KEY, FakePinecone, PineconeRequest, StoredVector};
pub use server::{TestApp, TestAppBuilder, TestDatabaseKind};
