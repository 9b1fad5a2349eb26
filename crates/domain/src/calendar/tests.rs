//! `CalendarService` over in-memory stand-ins of its ports and a clock the tests move: when the
//! access token is refreshed (within the margin, once after a refusal), what a revoked grant
//! does to the connection, and the errors a caller sees.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use super::*;
use crate::ports::{EventTime, GrantedTokens, OAuthTokens, RepositoryError};

/// How long the tokens the fake provider grants live.
const GRANTED_LIFETIME_SECS: i64 = 3600;

struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn new() -> Self {
        // A fixed instant: nothing here may depend on the real time.
        Self(Mutex::new(
            DateTime::parse_from_rfc3339("2024-03-01T09:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ))
    }

    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// What the fake provider answers a refresh with.
#[derive(Clone, Copy)]
enum RefreshAnswer {
    Grant,
    InvalidGrant,
    Unavailable,
}

struct ProviderState {
    /// Access tokens the calendar calls accept.
    accepted: BTreeSet<String>,
    /// Whether every access token is refused, granted ones included.
    refuse_all: bool,
    refresh: RefreshAnswer,
    /// The refresh tokens refreshes were asked with, in order.
    refreshes: Vec<String>,
    /// The access tokens calendar calls were made with, in order.
    calls: Vec<String>,
    issued: u32,
}

/// A calendar provider that grants numbered access tokens and accepts only those it was told
/// to (or granted).
struct FakeProvider(Mutex<ProviderState>);

impl FakeProvider {
    fn new() -> Self {
        Self(Mutex::new(ProviderState {
            accepted: BTreeSet::new(),
            refuse_all: false,
            refresh: RefreshAnswer::Grant,
            refreshes: Vec::new(),
            calls: Vec::new(),
            issued: 0,
        }))
    }

    fn accept(&self, access_token: &str) {
        self.0.lock().unwrap().accepted.insert(access_token.into());
    }

    /// Refuses every access token, granted ones included, from now on.
    fn refuse_all(&self) {
        self.0.lock().unwrap().refuse_all = true;
    }

    /// Refuses the access tokens accepted so far (revoked elsewhere); new grants still work.
    fn forget_accepted(&self) {
        self.0.lock().unwrap().accepted.clear();
    }

    fn answer_refreshes_with(&self, answer: RefreshAnswer) {
        self.0.lock().unwrap().refresh = answer;
    }

    fn refreshes(&self) -> Vec<String> {
        self.0.lock().unwrap().refreshes.clone()
    }

    fn calls(&self) -> Vec<String> {
        self.0.lock().unwrap().calls.clone()
    }

    fn grant(state: &mut ProviderState, refresh_token: Option<&str>) -> GrantedTokens {
        state.issued += 1;
        let access_token = format!("access-{}", state.issued);
        state.accepted.insert(access_token.clone());
        GrantedTokens {
            access_token,
            refresh_token: refresh_token.map(ToOwned::to_owned),
            expires_in: Duration::seconds(GRANTED_LIFETIME_SECS),
            scope: Some("calendar".into()),
        }
    }

    fn call(&self, access_token: &str) -> Result<(), CalendarProviderError> {
        let mut state = self.0.lock().unwrap();
        state.calls.push(access_token.to_owned());
        if !state.refuse_all && state.accepted.contains(access_token) {
            Ok(())
        } else {
            Err(CalendarProviderError::Unauthorized)
        }
    }
}

fn event(id: &str) -> CalendarEvent {
    let at = DateTime::parse_from_rfc3339("2024-03-01T10:00:00Z").unwrap();
    CalendarEvent {
        id: id.to_owned(),
        summary: Some("Dentist".into()),
        description: None,
        location: None,
        start: EventTime::At(at),
        end: EventTime::At(at + Duration::minutes(30)),
        attendees: Vec::new(),
        html_link: None,
    }
}

#[async_trait]
impl CalendarProvider for FakeProvider {
    fn name(&self) -> &str {
        "fake"
    }

    fn authorization_url(&self, state: &str) -> String {
        format!("https://consent.example/?state={state}")
    }

    async fn exchange_code(&self, code: &str) -> Result<GrantedTokens, CalendarProviderError> {
        let mut state = self.0.lock().unwrap();
        match code {
            "first-consent" => Ok(Self::grant(&mut state, Some("refresh-1"))),
            "again" => Ok(Self::grant(&mut state, None)),
            _ => Err(CalendarProviderError::InvalidGrant(
                "Malformed auth code.".into(),
            )),
        }
    }

    async fn refresh(&self, refresh_token: &str) -> Result<GrantedTokens, CalendarProviderError> {
        let mut state = self.0.lock().unwrap();
        state.refreshes.push(refresh_token.to_owned());
        match state.refresh {
            RefreshAnswer::Grant => Ok(Self::grant(&mut state, None)),
            RefreshAnswer::InvalidGrant => Err(CalendarProviderError::InvalidGrant(
                "Token has been expired or revoked.".into(),
            )),
            RefreshAnswer::Unavailable => Err(CalendarProviderError::Unavailable(
                "the token endpoint answered 503".into(),
            )),
        }
    }

    async fn list_events(
        &self,
        access_token: &str,
        _calendar_id: &str,
        _from: DateTime<Utc>,
        _max: u32,
    ) -> Result<Vec<CalendarEvent>, CalendarProviderError> {
        self.call(access_token)?;
        Ok(vec![event("evt-1")])
    }

    async fn free_busy(
        &self,
        access_token: &str,
        _calendar_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BusyPeriod>, CalendarProviderError> {
        self.call(access_token)?;
        Ok(vec![BusyPeriod {
            start: from,
            end: to,
        }])
    }

    async fn insert_event(
        &self,
        access_token: &str,
        _calendar_id: &str,
        new: &NewCalendarEvent,
    ) -> Result<CalendarEvent, CalendarProviderError> {
        self.call(access_token)?;
        let mut created = event("evt-new");
        created.summary = Some(new.summary.clone());
        Ok(created)
    }
}

/// The repository port over a map, keeping its contract (one connection per organisation, a
/// token update without a refresh token keeps the old one).
#[derive(Default)]
struct InMemoryConnections(Mutex<HashMap<OrganizationId, CalendarConnection>>);

impl InMemoryConnections {
    fn get(&self, organization: OrganizationId) -> Option<CalendarConnection> {
        self.0.lock().unwrap().get(&organization).cloned()
    }
}

#[async_trait]
impl CalendarConnectionRepository for InMemoryConnections {
    async fn save(&self, connection: &CalendarConnection) -> Result<(), RepositoryError> {
        self.0
            .lock()
            .unwrap()
            .insert(connection.organization_id, connection.clone());
        Ok(())
    }

    async fn find(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<CalendarConnection>, RepositoryError> {
        Ok(self.get(organization))
    }

    async fn update_tokens(
        &self,
        organization: OrganizationId,
        tokens: &OAuthTokens,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut connections = self.0.lock().unwrap();
        let Some(connection) = connections.get_mut(&organization) else {
            return Ok(false);
        };
        let refresh_token = tokens
            .refresh_token
            .clone()
            .or_else(|| connection.tokens.refresh_token.clone());
        connection.tokens = OAuthTokens {
            refresh_token,
            ..tokens.clone()
        };
        connection.updated_at = at;
        Ok(true)
    }

    async fn mark_disconnected(
        &self,
        organization: OrganizationId,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut connections = self.0.lock().unwrap();
        let Some(connection) = connections.get_mut(&organization) else {
            return Ok(false);
        };
        connection.status = ConnectionStatus::Disconnected;
        connection.updated_at = at;
        Ok(true)
    }

    async fn delete(&self, organization: OrganizationId) -> Result<bool, RepositoryError> {
        Ok(self.0.lock().unwrap().remove(&organization).is_some())
    }
}

struct World {
    service: CalendarService,
    provider: Arc<FakeProvider>,
    connections: Arc<InMemoryConnections>,
    clock: Arc<TestClock>,
    organization: OrganizationId,
}

impl World {
    fn new() -> Self {
        let provider = Arc::new(FakeProvider::new());
        let connections = Arc::new(InMemoryConnections::default());
        let clock = Arc::new(TestClock::new());
        let service = CalendarService::new(
            Arc::clone(&provider) as Arc<dyn CalendarProvider>,
            Arc::clone(&connections) as Arc<dyn CalendarConnectionRepository>,
            Arc::clone(&clock) as Arc<dyn Clock>,
        );
        Self {
            service,
            provider,
            connections,
            clock,
            organization: OrganizationId::new(),
        }
    }

    /// A connected calendar whose access token the provider accepts and which expires
    /// `expires_in` from now.
    async fn connected(expires_in: Duration) -> Self {
        let world = Self::new();
        let now = world.clock.now();
        world.provider.accept("stored-access");
        world
            .connections
            .save(&CalendarConnection {
                organization_id: world.organization,
                user_id: UserId::new(),
                provider: "fake".into(),
                tokens: OAuthTokens {
                    access_token: "stored-access".into(),
                    refresh_token: Some("stored-refresh".into()),
                    expires_at: now + expires_in,
                    scope: None,
                },
                status: ConnectionStatus::Connected,
                calendar_id: PRIMARY_CALENDAR.into(),
                connected_at: now,
                updated_at: now,
            })
            .await
            .unwrap();
        world
    }

    fn stored(&self) -> CalendarConnection {
        self.connections
            .get(self.organization)
            .expect("a connection")
    }

    async fn upcoming(&self) -> Result<Vec<CalendarEvent>, CalendarError> {
        self.service.upcoming_events(self.organization, 10).await
    }
}

#[tokio::test]
async fn without_a_connection_calls_are_not_connected_and_reach_no_provider() {
    let world = World::new();

    assert!(matches!(
        world.upcoming().await,
        Err(CalendarError::NotConnected)
    ));
    let now = world.clock.now();
    assert!(matches!(
        world
            .service
            .busy(world.organization, now, now + Duration::hours(1))
            .await,
        Err(CalendarError::NotConnected)
    ));
    assert!(
        !world
            .service
            .is_connected(world.organization)
            .await
            .unwrap()
    );
    assert!(world.provider.calls().is_empty());
    assert!(world.provider.refreshes().is_empty());
}

#[tokio::test]
async fn a_token_beyond_the_margin_is_used_as_stored() {
    let world = World::connected(Duration::seconds(REFRESH_MARGIN_SECS + 1)).await;

    let events = world.upcoming().await.unwrap();

    assert_eq!(events, vec![event("evt-1")]);
    assert_eq!(world.provider.calls(), ["stored-access"]);
    assert!(world.provider.refreshes().is_empty());
    assert_eq!(world.stored().tokens.access_token, "stored-access");
}

#[tokio::test]
async fn a_token_expiring_within_the_margin_is_refreshed_before_the_call() {
    let world = World::connected(Duration::hours(1)).await;
    // The clock moves to exactly the margin before expiry: the token could expire on the way.
    world
        .clock
        .advance(Duration::hours(1) - Duration::seconds(REFRESH_MARGIN_SECS));
    let refreshed_at = world.clock.now();

    world.upcoming().await.unwrap();

    assert_eq!(world.provider.refreshes(), ["stored-refresh"]);
    assert_eq!(world.provider.calls(), ["access-1"]);
    let stored = world.stored();
    assert_eq!(stored.tokens.access_token, "access-1");
    assert_eq!(
        stored.tokens.refresh_token.as_deref(),
        Some("stored-refresh"),
        "a refresh that gives no refresh token keeps the old one"
    );
    assert_eq!(
        stored.tokens.expires_at,
        refreshed_at + Duration::seconds(GRANTED_LIFETIME_SECS),
        "the new expiry counts from the service's clock"
    );
    assert_eq!(stored.updated_at, refreshed_at);
    assert_eq!(stored.status, ConnectionStatus::Connected);

    // The new token is fresh: the next call uses it without refreshing again.
    world.upcoming().await.unwrap();
    assert_eq!(world.provider.refreshes().len(), 1);
    assert_eq!(world.provider.calls(), ["access-1", "access-1"]);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_for_every_kind_of_call() {
    let world = World::connected(Duration::hours(1)).await;
    world.clock.advance(Duration::hours(2));
    let now = world.clock.now();

    let busy = world
        .service
        .busy(world.organization, now, now + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(busy.len(), 1);
    world.clock.advance(Duration::hours(2));
    let created = world
        .service
        .create_event(
            world.organization,
            &NewCalendarEvent {
                summary: "Call back".into(),
                description: None,
                start: now + Duration::hours(3),
                end: now + Duration::hours(4),
                attendee_email: None,
                time_zone: "UTC".into(),
            },
        )
        .await
        .unwrap();

    assert_eq!(created.summary.as_deref(), Some("Call back"));
    assert_eq!(world.provider.refreshes().len(), 2);
    assert_eq!(world.provider.calls(), ["access-1", "access-2"]);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_call_retried() {
    let world = World::connected(Duration::hours(1)).await;
    // Revoked elsewhere (or the clocks disagree): the stored token looks fresh but is refused.
    world.provider.forget_accepted();

    let events = world.upcoming().await.unwrap();

    assert_eq!(events, vec![event("evt-1")]);
    assert_eq!(world.provider.refreshes(), ["stored-refresh"]);
    assert_eq!(world.provider.calls(), ["stored-access", "access-1"]);
    assert_eq!(world.stored().tokens.access_token, "access-1");
}

#[tokio::test]
async fn a_token_refused_again_after_the_refresh_is_not_refreshed_in_a_loop() {
    let world = World::connected(Duration::hours(1)).await;
    world.provider.refuse_all();

    let result = world.upcoming().await;

    assert!(
        matches!(result, Err(CalendarError::Disconnected)),
        "{result:?}"
    );
    assert_eq!(world.provider.refreshes().len(), 1);
    assert_eq!(world.provider.calls().len(), 2);
}

#[tokio::test]
async fn a_revoked_grant_marks_the_connection_disconnected() {
    let world = World::connected(Duration::seconds(10)).await;
    world
        .provider
        .answer_refreshes_with(RefreshAnswer::InvalidGrant);
    world.clock.advance(Duration::minutes(5));
    let revoked_at = world.clock.now();

    let result = world.upcoming().await;

    assert!(
        matches!(result, Err(CalendarError::Disconnected)),
        "{result:?}"
    );
    let stored = world.stored();
    assert_eq!(stored.status, ConnectionStatus::Disconnected);
    assert_eq!(stored.updated_at, revoked_at);
    assert!(world.provider.calls().is_empty());
    assert!(
        !world
            .service
            .is_connected(world.organization)
            .await
            .unwrap()
    );

    // Once disconnected, nothing is asked of the provider until the user connects again.
    assert!(matches!(
        world.upcoming().await,
        Err(CalendarError::Disconnected)
    ));
    assert_eq!(world.provider.refreshes().len(), 1);
}

#[tokio::test]
async fn a_grant_revoked_after_a_refused_token_marks_the_connection_disconnected() {
    let world = World::connected(Duration::hours(1)).await;
    world.provider.forget_accepted();
    world
        .provider
        .answer_refreshes_with(RefreshAnswer::InvalidGrant);

    let result = world.upcoming().await;

    assert!(
        matches!(result, Err(CalendarError::Disconnected)),
        "{result:?}"
    );
    assert_eq!(world.stored().status, ConnectionStatus::Disconnected);
    assert_eq!(world.provider.calls(), ["stored-access"]);
}

#[tokio::test]
async fn an_unavailable_token_endpoint_leaves_the_connection_connected() {
    let world = World::connected(Duration::seconds(10)).await;
    world
        .provider
        .answer_refreshes_with(RefreshAnswer::Unavailable);

    let result = world.upcoming().await;

    assert!(
        matches!(result, Err(CalendarError::Unavailable(_))),
        "{result:?}"
    );
    let stored = world.stored();
    assert_eq!(stored.status, ConnectionStatus::Connected);
    assert_eq!(stored.tokens.access_token, "stored-access");
    assert!(world.provider.calls().is_empty());
}

#[tokio::test]
async fn connecting_counts_the_expiry_from_the_clock_and_keeps_an_earlier_refresh_token() {
    let world = World::new();
    let user = UserId::new();
    let connected_at = world.clock.now();

    let connection = world
        .service
        .connect(world.organization, user, "first-consent")
        .await
        .unwrap();

    assert_eq!(connection, world.stored());
    assert_eq!(connection.status, ConnectionStatus::Connected);
    assert_eq!(connection.provider, "fake");
    assert_eq!(connection.calendar_id, PRIMARY_CALENDAR);
    assert_eq!(
        connection.tokens.refresh_token.as_deref(),
        Some("refresh-1")
    );
    assert_eq!(
        connection.tokens.expires_at,
        connected_at + Duration::seconds(GRANTED_LIFETIME_SECS)
    );

    // A second consent gives no refresh token: the first one is kept.
    world.clock.advance(Duration::minutes(10));
    let again = world
        .service
        .connect(world.organization, user, "again")
        .await
        .unwrap();
    assert_eq!(again.tokens.access_token, "access-2");
    assert_eq!(again.tokens.refresh_token.as_deref(), Some("refresh-1"));
    assert_eq!(again.connected_at, connected_at + Duration::minutes(10));

    let refused = world
        .service
        .connect(world.organization, user, "used-code")
        .await;
    assert!(
        matches!(refused, Err(ConnectError::CodeRefused(_))),
        "{refused:?}"
    );
    assert_eq!(world.stored(), again, "a refused code changes nothing");
}
