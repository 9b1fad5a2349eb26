//! Authentication: sessions with rotating refresh tokens, short-lived access tokens, and the
//! service that registers, logs in, refreshes, logs out and authenticates.

mod service;
mod session;

pub use service::{
    AuthService, AuthenticateError, ClientInfo, Issued, LoginError, Principal, RefreshError,
    RegisterError, RegisterInput, TokenPolicy,
};
pub use session::{
    NewRefreshToken, NewSession, RefreshSecret, RefreshTokenRecord, Session, TokenDigest,
};
