//! Test support for Switchboard: a harness that runs the real server on port 0 against a throw-away
//! database, a clock tests can move, and (as providers arrive) loopback fakes that speak each
//! provider's wire protocol.

mod clock;
mod server;

pub use clock::ManualClock;
pub use server::{TestApp, TestAppBuilder, TestDatabaseKind};
