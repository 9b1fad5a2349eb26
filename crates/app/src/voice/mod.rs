//! Live voice calls: the channels that carry them (Twilio Media Streams, the browser's streaming
//! socket, seed 002's utterance socket), the speech providers each agent gets, call tokens for
//! sockets, and recordings on disk. [`runner`] joins a channel to a
//! [`switchboard_audio::session::VoiceSession`] and stores what happens as it happens.

pub mod browser;
pub mod live;
pub mod recordings;
pub mod runner;
pub mod socket;
pub mod speech;
pub mod tokens;
pub mod twilio;
pub mod utterance;
pub mod voice_chat;
