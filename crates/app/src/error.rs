//! `ApiError`: the one place where failures become HTTP answers, always
//! `{"detail": "...", "status_code": N}` (plus `errors` naming each invalid field on a 422).

use std::time::Duration;

use actix_web::error::{PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use switchboard_domain::ValidationErrors;
use switchboard_domain::agent::AgentError;
use switchboard_domain::analytics::AnalyticsError;
use switchboard_domain::auth::{AuthenticateError, LoginError, RefreshError, RegisterError};
use switchboard_domain::call::CallError;
use switchboard_domain::knowledge::KnowledgeError;
use switchboard_domain::onboarding::OnboardingError;
use switchboard_domain::phone_number::PhoneNumberError;
use switchboard_domain::ports::{CalendarError, RepositoryError, TelephonyError};
use switchboard_domain::scenario::ScenarioError;
use switchboard_domain::schedule::ScheduleError;
use switchboard_domain::transcript::TranscriptError;
use switchboard_domain::webhook::WebhookError;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, in a sentence.
    #[schema(example = "password: must be at least 8 characters")]
    pub detail: String,
    /// The HTTP status, repeated for clients that only see the body.
    #[schema(example = 422)]
    pub status_code: u16,
    /// On 422: each invalid field and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<FieldErrorBody>>)]
    pub errors: Option<ValidationErrors>,
}

/// One invalid field (documentation of `ValidationErrors`).
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub message: String,
}

/// A failure that reaches the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("too many requests; retry in {} s", retry_after_secs(*.0))]
    RateLimited(Duration),
    /// A limit on things at once (live calls) rather than on a rate: no time to wait is known.
    #[error("{0}")]
    LimitReached(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    /// A provider refused or failed at fetching something the client asked for; the detail
    /// says which and why.
    #[error("{0}")]
    BadGateway(String),
    /// A provider failed at something the client asked for (seed 002 documents a 500 when
    /// speech recognition fails); the detail says which.
    #[error("{0}")]
    ProviderFailed(String),
    /// Anything the client cannot act on. Logged here, once, with its causes; the client sees a
    /// generic sentence.
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

fn retry_after_secs(after: Duration) -> u64 {
    // Round up: a client retrying after the advertised seconds must not be refused again.
    after.as_millis().div_ceil(1000).max(1) as u64
}

impl ApiError {
    /// The answer for a status produced outside our handlers (for example actix's 405), keeping
    /// `detail` readable.
    #[must_use]
    pub fn for_status(status: StatusCode, detail: String) -> Self {
        match status.as_u16() {
            400 => Self::BadRequest(detail),
            401 => Self::Unauthorized(detail),
            403 => Self::Forbidden(detail),
            404 => Self::NotFound(detail),
            405 => Self::MethodNotAllowed(detail),
            409 => Self::Conflict(detail),
            413 => Self::PayloadTooLarge(detail),
            415 => Self::UnsupportedMediaType(detail),
            422 => Self::Unprocessable(detail),
            502 => Self::BadGateway(detail),
            503 => Self::ServiceUnavailable(detail),
            _ if status.is_client_error() => Self::BadRequest(detail),
            _ => Self::Unexpected(anyhow::anyhow!("{status}: {detail}")),
        }
    }
}

impl ApiError {
    /// A 422 naming one field.
    #[must_use]
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = ValidationErrors::new();
        errors.add(field, message);
        Self::Invalid(errors)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) | Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited(_) | Self::LimitReached(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::ProviderFailed(_) | Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let Self::Unexpected(cause) = self {
            tracing::error!(error.cause_chain = ?cause, "request failed unexpectedly");
        }
        let body = ErrorBody {
            detail: self.to_string(),
            status_code: status.as_u16(),
            errors: match self {
                Self::Invalid(errors) => Some(errors.clone()),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        match self {
            Self::RateLimited(after) => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs(*after)));
            }
            Self::Unauthorized(_) => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            _ => {}
        }
        response.json(body)
    }
}

impl From<RepositoryError> for ApiError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

impl From<CalendarError> for ApiError {
    /// Not connected, and revoked, are 409: the organisation's state, not the request, is at
    /// fault, and connecting again resolves it.
    fn from(e: CalendarError) -> Self {
        match e {
            CalendarError::NotConnected | CalendarError::Disconnected => {
                Self::Conflict(e.to_string())
            }
            CalendarError::Rejected(message) => {
                Self::Unprocessable(format!("Google Calendar refused the request: {message}"))
            }
            CalendarError::Unavailable(message) => {
                Self::ServiceUnavailable(format!("Google Calendar is unavailable: {message}"))
            }
            CalendarError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::NotFound => Self::NotFound(e.to_string()),
            AgentError::Invalid(errors) => Self::Invalid(errors),
            AgentError::NotAcceptingCalls { .. } => Self::Conflict(e.to_string()),
            AgentError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::DaysOutOfRange => Self::field("days", e.to_string()),
            AnalyticsError::AgentNotFound => Self::NotFound(e.to_string()),
            AnalyticsError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<ScenarioError> for ApiError {
    fn from(e: ScenarioError) -> Self {
        match e {
            ScenarioError::NotFound => Self::NotFound(e.to_string()),
            ScenarioError::Invalid(errors) => Self::Invalid(errors),
            ScenarioError::LimitReached { .. } => Self::Conflict(e.to_string()),
            ScenarioError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<PhoneNumberError> for ApiError {
    fn from(e: PhoneNumberError) -> Self {
        match e {
            PhoneNumberError::NotFound => Self::NotFound(e.to_string()),
            PhoneNumberError::Invalid(errors) => Self::Invalid(errors),
            PhoneNumberError::NumberTaken => Self::Conflict(e.to_string()),
            PhoneNumberError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::NotFound
            | CallError::Ended
            | CallError::AgentNotFound
            | CallError::ScenarioNotFound => Self::NotFound(e.to_string()),
            CallError::EmptyMessage => Self::BadRequest(e.to_string()),
            CallError::Invalid(errors) => Self::Invalid(errors),
            CallError::AgentUnavailable(_) | CallError::Busy => Self::Conflict(e.to_string()),
            CallError::ModelNotConfigured { .. } | CallError::ModelFailed(_) => {
                Self::ServiceUnavailable(e.to_string())
            }
            CallError::TooManyCalls { .. } => Self::LimitReached(e.to_string()),
            CallError::Telephony(error) => match error {
                TelephonyError::Rejected(_) => Self::BadRequest(error.to_string()),
                TelephonyError::NoSuchCall => Self::NotFound(error.to_string()),
                TelephonyError::Unavailable(_) => Self::ServiceUnavailable(error.to_string()),
                TelephonyError::Unexpected(cause) => Self::Unexpected(cause),
            },
            CallError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::NotFound | WebhookError::DeliveryNotFound => {
                Self::NotFound(e.to_string())
            }
            WebhookError::Invalid(errors) => Self::Invalid(errors),
            WebhookError::LimitReached { .. }
            | WebhookError::Disabled
            | WebhookError::DeliveryInFlight => Self::Conflict(e.to_string()),
            WebhookError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> Self {
        match e {
            ScheduleError::NotFound => Self::NotFound(e.to_string()),
            ScheduleError::Invalid(errors) => Self::Invalid(errors),
            ScheduleError::NotCancelable { .. } => Self::Conflict(e.to_string()),
            ScheduleError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<TranscriptError> for ApiError {
    fn from(e: TranscriptError) -> Self {
        match e {
            TranscriptError::InvalidSid(_) => Self::BadRequest(e.to_string()),
            TranscriptError::NotFound => Self::NotFound(e.to_string()),
            TranscriptError::NotConfigured => Self::ServiceUnavailable(e.to_string()),
            TranscriptError::Source(_) => Self::BadGateway(e.to_string()),
            TranscriptError::Invalid(errors) => Self::Invalid(errors),
            TranscriptError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<KnowledgeError> for ApiError {
    fn from(e: KnowledgeError) -> Self {
        match e {
            KnowledgeError::NotFound(_) => Self::NotFound(e.to_string()),
            KnowledgeError::Unsupported { .. } => Self::UnsupportedMediaType(e.to_string()),
            KnowledgeError::Unreadable { .. } => Self::Unprocessable(e.to_string()),
            KnowledgeError::Invalid(errors) => Self::Invalid(errors),
            KnowledgeError::Unavailable(_) => Self::ServiceUnavailable(e.to_string()),
            KnowledgeError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<OnboardingError> for ApiError {
    fn from(e: OnboardingError) -> Self {
        match e {
            OnboardingError::Invalid(errors) => Self::Invalid(errors),
            OnboardingError::StepsMissing { .. } | OnboardingError::NumberTaken => {
                Self::Conflict(e.to_string())
            }
            OnboardingError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Invalid(errors) => Self::Invalid(errors),
            RegisterError::EmailTaken => Self::Conflict(e.to_string()),
            RegisterError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => Self::Unauthorized(e.to_string()),
            LoginError::Inactive => Self::Forbidden(e.to_string()),
            LoginError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::Invalid | RefreshError::Expired | RefreshError::Reused => {
                Self::Unauthorized(e.to_string())
            }
            RefreshError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(e: AuthenticateError) -> Self {
        match e {
            AuthenticateError::Invalid
            | AuthenticateError::Expired
            | AuthenticateError::Revoked => Self::Unauthorized(e.to_string()),
            AuthenticateError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

/// Query strings that do not parse: 422 naming the problem.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::Unprocessable(format!("invalid query string: {err}")).into()
}

/// Path segments that do not parse (a malformed id) name nothing that exists: 404.
pub fn path_error(err: PathError, req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound(format!("no resource at {} ({err})", req.path())).into()
}
