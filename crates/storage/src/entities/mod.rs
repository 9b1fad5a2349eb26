//! sea-orm entities, one module per table. They stay inside this crate.

pub mod organization;
pub mod refresh_token;
pub mod session;
pub mod user;
