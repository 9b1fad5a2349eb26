//! Twilio for Switchboard: the Media Streams WebSocket protocol a phone call's audio travels
//! over ([`media`]), the TwiML that connects a call to it ([`twiml`]), and the `X-Twilio-Signature`
//! check every Twilio webhook must pass ([`signature`]).

pub mod media;
pub mod signature;
pub mod twiml;
