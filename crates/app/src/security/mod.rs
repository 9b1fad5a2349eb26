//! Adapters for the credential ports: argon2id password hashing, JWT access tokens, and the
//! server's secret key.

mod argon;
mod jwt;
mod secret_key;

pub use argon::Argon2Hasher;
pub use jwt::JwtTokens;
pub use secret_key::{SecretKeyError, resolve_secret_key};
