//! Calls: their record, transcript and latencies, and the service that starts text calls,
//! answers their turns through the conversation engine, and ends them.

mod live;
mod model;
mod phone;
mod service;

pub use live::LiveCall;
pub use model::{
    Call, CallChannel, CallDirection, CallFilter, CallSort, CallStatus, CallTurn, NewCallTurn,
    Speaker, TurnLatency,
};
pub use phone::CallLimits;
pub use service::{
    CallError, CallPorts, CallService, CallStart, CallTarget, ExternalCall, Opened, TurnAnswer,
};
