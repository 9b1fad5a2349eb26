//! Adapters for the credential ports: argon2id password hashing, JWT access tokens, signed OAuth
//! states, and the server's secret key.

mod argon;
mod jwt;
mod oauth_state;
mod secret_key;

pub use argon::Argon2Hasher;
pub use jwt::JwtTokens;
pub use oauth_state::{OAuthStates, STATE_TTL_MINUTES, StateError, StateOwner};
pub use secret_key::{SecretKeyError, resolve_secret_key};
