//! Black-box tests: the real server on port 0, spoken to over HTTP like any client.

mod auth;
mod errors;
mod health;
mod openapi;
mod robustness;
mod support;
