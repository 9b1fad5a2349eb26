//! Port traits: what the domain needs from the outside world, named by role. Adapters in other
//! crates implement them; each trait's documentation is the contract every adapter is held to.

mod agents;
mod clock;
mod onboarding;
mod rate_limit;
mod repositories;
mod security;

pub use agents::{
    AgentRepository, InsertScenarioError, PhoneNumberRepository, SavePhoneNumberError,
    ScenarioRepository,
};
pub use clock::{Clock, SystemClock};
pub use onboarding::OnboardingRepository;
pub use rate_limit::{Quota, RateDecision, RateLimiter};
pub use repositories::{
    AccountRepository, CreateAccountError, RepositoryError, RotateOutcome, SessionRepository,
};
pub use security::{AccessClaims, AccessTokenError, AccessTokens, PasswordHasher};
