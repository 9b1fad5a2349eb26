//! Live phone calls under load: N simulated Twilio calls placed at once against one server whose
//! providers are the instant loopback fakes (OpenAI for the reply, Deepgram listening, ElevenLabs
//! speaking), reporting the turn latency a caller hears and the server's CPU per call
//! (docs/performance.md, "Live calls under load").
//!
//! Each call rings the signed voice webhook, opens the media stream the TwiML names, and sends
//! 20 ms frames at real-time pace for its whole life, as a phone line does: silence until the
//! greeting's mark comes back, 600 ms of tone (speech to the fake recogniser), then silence until
//! the first frame of the reply arrives. The time from the last speech frame sent to that frame
//! is the turn latency; it includes the recogniser's endpointing (the fake Deepgram finalises
//! only after the stream's `endpointing` milliseconds of silence audio, set by the session's
//! `SttConfig`), which is read from the recogniser's handshake and subtracted too. The caller
//! then hears the reply out (its mark) and 100 ms more, so the server stores the turn with its
//! own latency steps, which are read back and reported, and hangs up.
//!
//! CPU is read from `/proc/self/task/*/schedstat` (nanoseconds; `utime + stime` from `stat`
//! where the kernel keeps no schedstat) before and after the run: actix's worker threads, the
//! server's other threads (acceptor, blocking pool, the database's connection threads), and the
//! whole process, which also carries the simulator and the fakes on the `load-client` runtime.
//! The server's warnings during the run are counted by message (dropped frames summed).
//!
//! `cargo bench -p switchboard-tests --bench voice_load` runs N = 1, 10, 100, 500;
//! `VOICE_LOAD_CALLS=1,10` chooses the set; `SWITCHBOARD_TEST_DATABASE=postgres` the database;
//! `SWITCHBOARD_TEST_LOG=<filter>` prints the server's logs. Without `--bench` (as
//! `cargo test --all-targets` runs it) one call is placed, as a smoke test that fails when the
//! call does.

#![expect(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use switchboard_testkit::{
    FakeDeepgram, FakeElevenLabs, FakeOpenAi, Reply, StreamEvent, TestApp, TwilioCall, TwimlStream,
    tone, twilio_signature,
};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

const CALLER: &str = "+14155550100";
const OUR_NUMBER: &str = "+14155550199";
/// The greeting and the reply are one sentence each, so one mark follows each: the greeting's
/// says it has played, the reply's that the caller heard it out. The fake voice speaks 8 ms per
/// character: about 0.55 s and 0.72 s of audio.
const GREETING: &str = "Thank you for calling Luigi's, this is Ava, how can I help you today?";
const REPLY: &str =
    "Of course, a table for two tonight is no problem at all, what time would you like to come?";
/// Caller speech: a tone loud enough for any voice activity detector.
const SPEECH_HZ: f32 = 300.0;
const SPEECH_MS: u32 = 600;
const FRAME: Duration = Duration::from_millis(20);
/// Samples in one 20 ms frame at 8 kHz.
const FRAME_SAMPLES: usize = 160;
/// Bytes one 20 ms caller frame becomes on the recogniser's stream (PCM16 at 16 kHz).
const STT_BYTES_PER_FRAME: u64 = 640;
/// Frames the caller stays on the line after the reply has played (100 ms).
const LINGER_FRAMES: usize = 5;
/// How long any one step of a call may take before the call counts as failed.
const STEP_DEADLINE: Duration = Duration::from_secs(60);
const DEFAULT_CALLS: &[usize] = &[1, 10, 100, 500];

fn main() -> anyhow::Result<()> {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let counts = match std::env::var("VOICE_LOAD_CALLS") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .context("VOICE_LOAD_CALLS must be a comma-separated list of call counts")?,
        Err(_) if benchmarking => DEFAULT_CALLS.to_vec(),
        Err(_) => vec![1],
    };
    let warnings = Warnings::install()?;
    // The simulator and the fakes run here; the server runs on actix's own worker threads, so
    // the two are told apart by thread name.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load-client")
        .enable_all()
        .build()?;
    let ticks_per_second = clock_ticks_per_second();
    let mut rows = Vec::new();
    for &n in &counts {
        let run = runtime.block_on(run(n, &warnings, ticks_per_second))?;
        run.print_details(n);
        rows.push((n, run));
    }
    print_table(&rows);
    let failed: usize = rows.iter().map(|(_, run)| run.failures.len()).sum();
    anyhow::ensure!(benchmarking || failed == 0, "{failed} calls failed");
    Ok(())
}

// ---- one run ---------------------------------------------------------------------------------

/// What one call measured.
struct CallFigures {
    call_id: String,
    /// The voice webhook's answer.
    ring: Duration,
    /// From opening the stream to the greeting's mark.
    greeting: Duration,
    /// From the last speech frame sent to the first reply frame received.
    turn: Duration,
    /// Silent frames sent between the speech and the reply.
    silent_frames_after_speech: u64,
    frames_sent: u64,
    /// The latest the pacer sent a frame after its due time.
    max_late: Duration,
    /// From ringing to hanging up.
    duration: Duration,
}

/// What a run of N calls measured.
struct Run {
    calls: Vec<CallFigures>,
    /// What the server stored of each completed call.
    stored: Vec<StoredCall>,
    failures: Vec<String>,
    wall: Duration,
    /// Until the last call was stored as ended, after the last hang-up.
    settle: Duration,
    endpointing_ms: Option<u64>,
    stt_bytes: u64,
    cpu: CpuDelta,
    warnings: BTreeMap<String, WarningCount>,
    database: &'static str,
}

async fn run(n: usize, warnings: &Warnings, ticks_per_second: f64) -> anyhow::Result<Run> {
    let openai = FakeOpenAi::start().await?;
    openai.set_default_reply(Reply::text(REPLY));
    let elevenlabs = FakeElevenLabs::start().await?;
    let deepgram = FakeDeepgram::start().await?;
    let app = TestApp::builder()
        .with_openai(&openai)
        .with_elevenlabs(&elevenlabs)
        .with_deepgram(&deepgram)
        .with_twilio()
        .spawn()
        .await?;
    let database = match app.database_kind {
        switchboard_testkit::TestDatabaseKind::Sqlite => "SQLite",
        switchboard_testkit::TestDatabaseKind::Postgres => "PostgreSQL",
    };
    let token = app.signed_in_user().await?;
    set_up_line(&app, &token).await?;
    let app = Arc::new(app);

    warnings.clear();
    let before = CpuSnapshot::take(ticks_per_second)?;
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for index in 0..n {
        calls.spawn(place_call(Arc::clone(&app), format!("CA{index:032x}")));
    }
    let mut figures = Vec::with_capacity(n);
    let mut failures = Vec::new();
    while let Some(joined) = calls.join_next().await {
        match joined {
            Ok(Ok(call)) => figures.push(call),
            Ok(Err(error)) => failures.push(format!("{error:#}")),
            Err(error) => failures.push(error.to_string()),
        }
    }
    let hung_up = Instant::now();
    if let Err(error) = wait_until_all_ended(&app, &token).await {
        failures.push(format!("{error:#}"));
    }
    let wall = started.elapsed();
    let settle = hung_up.elapsed();
    let after = CpuSnapshot::take(ticks_per_second)?;

    // Every stream has closed once its call is stored; the last bytes are counted by then.
    let live = deepgram.live_connections();
    let endpointing_ms = live
        .iter()
        .filter_map(|c| c.param("endpointing")?.parse::<u64>().ok())
        .max();
    let stt_bytes = live.iter().map(|c| c.audio_bytes as u64).sum();
    let mut stored = Vec::with_capacity(figures.len());
    for call in &figures {
        match stored_call(&app, &token, &call.call_id).await {
            Ok(call) => stored.push(call),
            Err(error) => failures.push(format!("reading the stored call: {error:#}")),
        }
    }
    Ok(Run {
        stored,
        calls: figures,
        failures,
        wall,
        settle,
        endpointing_ms,
        stt_bytes,
        cpu: CpuDelta::between(&before, &after),
        warnings: warnings.take(),
        database,
    })
}

/// An agent answering `OUR_NUMBER`, greeting with `GREETING`.
async fn set_up_line(app: &TestApp, token: &str) -> anyhow::Result<()> {
    let agent = expect_json(
        app.post_json(
            "/api/v1/agents",
            &json!({
                "name": "Ava",
                "system_prompt": "You book tables at Luigi's.",
                "first_message": GREETING,
                "voice": {"provider": "elevenlabs", "voice_id": "voice-ava"},
            }),
            Some(token),
        )
        .await?,
        201,
    )
    .await?;
    let agent = agent["id"].as_str().unwrap_or_default();
    expect_json(
        app.post_json(
            "/api/v1/phone-numbers",
            &json!({"number": OUR_NUMBER, "assigned_agent_id": agent}),
            Some(token),
        )
        .await?,
        201,
    )
    .await?;
    Ok(())
}

async fn expect_json(response: reqwest::Response, status: u16) -> anyhow::Result<Value> {
    let got = response.status();
    let body = response.text().await?;
    anyhow::ensure!(got == status, "expected {status}, got {got}: {body}");
    Ok(serde_json::from_str(&body)?)
}

/// Waits until no call is in progress any more: the server has stored every call's end.
async fn wait_until_all_ended(app: &TestApp, token: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + STEP_DEADLINE;
    loop {
        let page = expect_json(
            app.get("/api/v1/calls?status=in_progress", Some(token))
                .await?,
            200,
        )
        .await?;
        if page["total"] == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "calls still in progress a minute after the last hang-up: {}",
            page["total"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The server's own account of a call: how it ended, and the reply's latencies (from the end of
/// the caller's speech as the server's voice activity detector saw it).
struct StoredCall {
    end_reason: String,
    transcript_ms: Option<u64>,
    first_token_ms: Option<u64>,
    first_audio_ms: Option<u64>,
    first_frame_ms: Option<u64>,
}

async fn stored_call(app: &TestApp, token: &str, call_id: &str) -> anyhow::Result<StoredCall> {
    let call = expect_json(
        app.get(&format!("/api/v1/calls/{call_id}"), Some(token))
            .await?,
        200,
    )
    .await?;
    let latency = call["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .map(|turn| &turn["latency"])
        .find(|latency| latency.is_object())
        .cloned()
        .unwrap_or(Value::Null);
    Ok(StoredCall {
        end_reason: call["end_reason"].as_str().unwrap_or("none").to_owned(),
        transcript_ms: latency["transcript_ms"].as_u64(),
        first_token_ms: latency["first_token_ms"].as_u64(),
        first_audio_ms: latency["first_audio_ms"].as_u64(),
        first_frame_ms: latency["first_frame_ms"].as_u64(),
    })
}

// ---- one call --------------------------------------------------------------------------------

/// Twilio's side of one call, sending a frame every 20 ms from connect to hang-up.
struct Line {
    call: TwilioCall,
    pace: tokio::time::Interval,
    frames_sent: u64,
    max_late: Duration,
}

impl Line {
    /// Waits for the next frame's due time.
    async fn tick(&mut self) {
        let due = self.pace.tick().await;
        self.max_late = self.max_late.max(due.elapsed());
    }

    /// Sends one frame (160 samples).
    async fn send(&mut self, frame: &[i16]) -> anyhow::Result<()> {
        // `speak` paces with a fresh interval whose first tick is immediate: one frame goes now.
        self.call.speak(frame).await?;
        self.frames_sent += 1;
        Ok(())
    }
}

async fn place_call(app: Arc<TestApp>, call_sid: String) -> anyhow::Result<CallFigures> {
    let rang = Instant::now();
    let answer = ring(&app, &call_sid).await?;
    let ring = rang.elapsed();
    let stream = TwimlStream::from_twiml(&answer)?;
    let call_id = stream
        .parameter("call_id")
        .context("the TwiML names no call_id")?
        .to_owned();
    let connected = Instant::now();
    let call = TwilioCall::connect(&stream, &call_sid).await?;
    let mut pace = tokio::time::interval(FRAME);
    // A line that fell behind catches up, so the audio clock (which the recogniser's
    // endpointing counts) keeps to real time on average.
    pace.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut line = Line {
        call,
        pace,
        frames_sent: 0,
        max_late: Duration::ZERO,
    };
    let silent = [0_i16; FRAME_SAMPLES];

    // Silence until the greeting has played: its mark comes back after all of its audio.
    let deadline = Instant::now() + STEP_DEADLINE;
    let greeting_end = loop {
        line.tick().await;
        line.send(&silent).await?;
        if let Some(at) = line.call.heard(|heard| {
            heard
                .events
                .iter()
                .position(|e| matches!(e, StreamEvent::Mark(_)))
        }) {
            break at + 1;
        }
        anyhow::ensure!(Instant::now() < deadline, "no greeting within a minute");
    };
    let greeting = connected.elapsed();

    for frame in tone(SPEECH_HZ, SPEECH_MS, 8000, 8000).chunks(FRAME_SAMPLES) {
        line.tick().await;
        line.send(frame).await?;
    }
    let spoke = Instant::now();

    // Silence until the reply's first frame arrives.
    let deadline = spoke + STEP_DEADLINE;
    let mut silent_frames_after_speech = 0;
    let replied = loop {
        let reply = line.call.wait_for(
            "the reply's first frame",
            deadline.saturating_duration_since(Instant::now()),
            |heard| {
                heard.events[greeting_end..]
                    .iter()
                    .any(|e| matches!(e, StreamEvent::Media(_)))
                    .then(Instant::now)
            },
        );
        tokio::select! {
            biased;
            replied = reply => break replied?,
            due = line.pace.tick() => line.max_late = line.max_late.max(due.elapsed()),
        }
        line.send(&silent).await?;
        silent_frames_after_speech += 1;
    };
    let turn = replied.saturating_duration_since(spoke);

    // The caller listens to the short reply to its end (its mark) and stays on the line a
    // moment longer, so that its echo of the mark reaches the server apart from the hang-up
    // and the server stores the turn with its latencies; then it hangs up.
    loop {
        line.tick().await;
        line.send(&silent).await?;
        let played = line.call.heard(|heard| {
            heard.events[greeting_end..]
                .iter()
                .any(|e| matches!(e, StreamEvent::Mark(_)))
        });
        if played {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the reply did not end within a minute"
        );
    }
    for _ in 0..LINGER_FRAMES {
        line.tick().await;
        line.send(&silent).await?;
    }
    let (frames_sent, max_late) = (line.frames_sent, line.max_late);
    line.call.hang_up().await?;
    let duration = rang.elapsed();
    Ok(CallFigures {
        call_id,
        ring,
        greeting,
        turn,
        silent_frames_after_speech,
        frames_sent,
        max_late,
        duration,
    })
}

/// Posts Twilio's signed voice webhook for a call to `OUR_NUMBER`; returns the TwiML.
async fn ring(app: &TestApp, call_sid: &str) -> anyhow::Result<String> {
    let url = app.url("/telephony/twilio/voice");
    let params = [
        ("CallSid", call_sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", CALLER),
        ("To", OUR_NUMBER),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    let answer = app
        .request(reqwest::Method::POST, "/telephony/twilio/voice")
        .header("x-twilio-signature", twilio_signature(&url, &params))
        .form(&params)
        .send()
        .await?;
    anyhow::ensure!(
        answer.status() == 200,
        "the voice webhook answered {}",
        answer.status()
    );
    Ok(answer.text().await?)
}

// ---- CPU -------------------------------------------------------------------------------------

/// Which threads CPU is counted for, by the name the thread gave itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ThreadGroup {
    /// actix's HTTP workers (`actix-rt|system:..|arbiter:..` or `actix-server worker ..`): every
    /// socket, and every task the server spawns from them (voice sessions, provider clients).
    ServerWorkers,
    /// Other server threads: actix's acceptor, the blocking pools of the workers' runtimes
    /// (file writes), the database driver's connection threads.
    ServerOther,
    /// The benchmark's own runtime: the Twilio simulator and the provider fakes.
    Client,
    Other,
}

impl ThreadGroup {
    fn of(name: &str) -> Self {
        if name.starts_with("actix-rt") || name.starts_with("actix-server w") {
            Self::ServerWorkers
        } else if name.starts_with("actix")
            || name.starts_with("sqlx")
            || name.starts_with("tokio-")
        {
            Self::ServerOther
        } else if name.starts_with("load-client") {
            Self::Client
        } else {
            Self::Other
        }
    }
}

/// One thread's CPU time so far.
struct ThreadCpu {
    name: String,
    /// `utime + stime` from `stat`, in seconds (clock-tick resolution, 10 ms).
    stat: f64,
    /// Time on a CPU from `schedstat`, in seconds (nanosecond resolution), when the kernel
    /// keeps it.
    sched: Option<f64>,
    /// Time spent runnable but waiting for a CPU, from `schedstat`, in seconds: how much the
    /// thread was held up by everything else on the machine.
    waited: Option<f64>,
}

/// CPU time per live thread, and for the whole process.
struct CpuSnapshot {
    threads: HashMap<u32, ThreadCpu>,
    /// The whole process's `utime + stime`, in seconds, threads that have ended included.
    process: f64,
}

/// `utime + stime` from a `/proc/.../stat` line: fields 14 and 15, counted after the command
/// name, which is in parentheses and may itself contain spaces.
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

impl CpuSnapshot {
    fn take(ticks_per_second: f64) -> anyhow::Result<Self> {
        let mut threads = HashMap::new();
        for entry in std::fs::read_dir("/proc/self/task")? {
            let entry = entry?;
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            // A thread may end between listing and reading; it is simply not counted.
            let (Ok(comm), Ok(stat)) = (
                std::fs::read_to_string(entry.path().join("comm")),
                std::fs::read_to_string(entry.path().join("stat")),
            ) else {
                continue;
            };
            let Some(ticks) = stat_ticks(&stat) else {
                continue;
            };
            let schedstat =
                std::fs::read_to_string(entry.path().join("schedstat")).unwrap_or_default();
            let mut nanoseconds = schedstat
                .split_whitespace()
                .map(|field| field.parse::<u64>().ok().map(|ns| ns as f64 / 1e9));
            let sched = nanoseconds.next().flatten();
            let waited = nanoseconds.next().flatten();
            threads.insert(
                tid,
                ThreadCpu {
                    name: comm.trim().to_owned(),
                    stat: ticks as f64 / ticks_per_second,
                    sched,
                    waited,
                },
            );
        }
        let process = stat_ticks(&std::fs::read_to_string("/proc/self/stat")?)
            .context("unreadable /proc/self/stat")? as f64
            / ticks_per_second;
        Ok(Self { threads, process })
    }
}

/// CPU seconds spent during a run.
struct CpuDelta {
    /// Per group of threads, from `schedstat` where every thread has it, else from `stat`.
    groups: BTreeMap<ThreadGroup, f64>,
    /// The same from `stat` alone, to cross-check.
    groups_stat: BTreeMap<ThreadGroup, f64>,
    /// Per group, the time its threads waited for a CPU while runnable.
    waited: BTreeMap<ThreadGroup, f64>,
    precise: bool,
    /// Thread names seen in each group, with their counts.
    names: BTreeMap<ThreadGroup, BTreeMap<String, usize>>,
    process: f64,
}

impl CpuDelta {
    fn between(before: &CpuSnapshot, after: &CpuSnapshot) -> Self {
        let precise = after.threads.values().all(|t| t.sched.is_some());
        let mut groups = BTreeMap::new();
        let mut groups_stat = BTreeMap::new();
        let mut waited = BTreeMap::new();
        let mut names: BTreeMap<ThreadGroup, BTreeMap<String, usize>> = BTreeMap::new();
        for (tid, now) in &after.threads {
            // Threads started during the run started from zero.
            let earlier = before.threads.get(tid);
            let stat = now.stat - earlier.map_or(0.0, |t| t.stat);
            let sched = now.sched.unwrap_or(0.0) - earlier.and_then(|t| t.sched).unwrap_or(0.0);
            let group = ThreadGroup::of(&now.name);
            *groups.entry(group).or_insert(0.0) += if precise { sched } else { stat };
            *groups_stat.entry(group).or_insert(0.0) += stat;
            *waited.entry(group).or_insert(0.0) +=
                now.waited.unwrap_or(0.0) - earlier.and_then(|t| t.waited).unwrap_or(0.0);
            // Thread names carry numbers; the family is what matters.
            let family = now
                .name
                .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == ' ');
            *names
                .entry(group)
                .or_default()
                .entry(family.to_owned())
                .or_insert(0) += 1;
        }
        Self {
            groups,
            groups_stat,
            waited,
            precise,
            names,
            process: after.process - before.process,
        }
    }

    fn group(&self, group: ThreadGroup) -> f64 {
        self.groups.get(&group).copied().unwrap_or(0.0)
    }
}

/// The kernel's clock ticks per second (`USER_HZ`), which `/proc` counts CPU time in.
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        // 100 on every Linux architecture in common use.
        .unwrap_or(100.0)
}

// ---- the server's warnings -------------------------------------------------------------------

/// Counts the server's warnings by message (summing a `frames.dropped` or
/// `stt.dropped_frames` field when there is one), so a run says what went wrong under load.
/// A std mutex: events are recorded from synchronous tracing callbacks on many threads.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<BTreeMap<String, WarningCount>>>);

/// How often the server warned one message.
#[derive(Default)]
struct WarningCount {
    count: u64,
    /// The sum of the dropped-frame counts the warnings carried.
    dropped: u64,
    /// The other fields of the first one.
    example: String,
}

impl Warnings {
    fn install() -> anyhow::Result<Self> {
        let warnings = Self::default();
        let layer = warnings
            .clone()
            .with_filter(tracing_subscriber::filter::LevelFilter::WARN);
        // SWITCHBOARD_TEST_LOG=<filter> shows the server's logs too, as in the black-box tests
        // (the server under test cannot install its own subscriber next to this one).
        let log = std::env::var("SWITCHBOARD_TEST_LOG").ok().map(|filter| {
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(tracing_subscriber::EnvFilter::new(filter))
        });
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(layer).with(log),
        )?;
        Ok(warnings)
    }

    fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn take(&self) -> BTreeMap<String, WarningCount> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[derive(Default)]
struct WarningFields {
    message: String,
    /// The other fields, `name=value`.
    fields: String,
    dropped: u64,
}

impl Visit for WarningFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if matches!(field.name(), "frames.dropped" | "stt.dropped_frames") {
            self.dropped = self.dropped.max(value);
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = WarningFields::default();
        event.record(&mut fields);
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = counts.entry(fields.message).or_default();
        if entry.count == 0 {
            entry.example = fields.fields;
        }
        entry.count += 1;
        entry.dropped += fields.dropped;
    }
}

// ---- the report ------------------------------------------------------------------------------

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted_ms(calls: &[CallFigures], of: impl Fn(&CallFigures) -> Duration) -> Vec<f64> {
    let mut values: Vec<f64> = calls.iter().map(|c| of(c).as_secs_f64() * 1000.0).collect();
    values.sort_by(f64::total_cmp);
    values
}

impl Run {
    fn print_details(&self, n: usize) {
        let ms = |of: fn(&CallFigures) -> Duration| {
            let v = sorted_ms(&self.calls, of);
            format!(
                "median {:.0} ms, p99 {:.0} ms",
                percentile(&v, 0.5),
                percentile(&v, 0.99)
            )
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n== {n} concurrent calls ({}): {} completed, {} failed, {:.1} s wall ({:.1} s after the last hang-up until every call was stored)",
            self.database,
            self.calls.len(),
            self.failures.len(),
            self.wall.as_secs_f64(),
            self.settle.as_secs_f64()
        );
        for failure in self.failures.iter().take(5) {
            let _ = writeln!(out, "   failed: {failure}");
        }
        let _ = writeln!(out, "   webhook answer:        {}", ms(|c| c.ring));
        let _ = writeln!(
            out,
            "   stream open to greeting played: {}",
            ms(|c| c.greeting)
        );
        let _ = writeln!(out, "   turn latency:          {}", ms(|c| c.turn));
        let steps = |of: fn(&StoredCall) -> Option<u64>| {
            let mut v: Vec<f64> = self
                .stored
                .iter()
                .filter_map(of)
                .map(|ms| ms as f64)
                .collect();
            v.sort_by(f64::total_cmp);
            format!(
                "median {:.0} ms, p99 {:.0} ms ({} turns)",
                percentile(&v, 0.5),
                percentile(&v, 0.99),
                v.len()
            )
        };
        let _ = writeln!(
            out,
            "   server's own steps, from the end of speech as its VAD saw it:\n     final transcript {}\n     then first token {}\n     then first synthesised audio {}\n     then first frame out {}",
            steps(|c| c.transcript_ms),
            steps(|c| c.first_token_ms?.checked_sub(c.transcript_ms?)),
            steps(|c| c.first_audio_ms?.checked_sub(c.first_token_ms?)),
            steps(|c| c.first_frame_ms?.checked_sub(c.first_audio_ms?)),
        );
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for call in &self.stored {
            *reasons.entry(call.end_reason.as_str()).or_default() += 1;
        }
        let _ = writeln!(out, "   stored end reasons: {reasons:?}");
        let silent: Vec<f64> = {
            let mut v: Vec<f64> = self
                .calls
                .iter()
                .map(|c| c.silent_frames_after_speech as f64)
                .collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let _ = writeln!(
            out,
            "   silent frames sent before the reply: median {:.0}, p99 {:.0}; recogniser endpointing {}",
            percentile(&silent, 0.5),
            percentile(&silent, 0.99),
            self.endpointing_ms
                .map_or_else(|| "unknown".to_owned(), |ms| format!("{ms} ms"))
        );
        let _ = writeln!(
            out,
            "   simulator pacing: worst lateness of a frame per call, {}",
            ms(|c| c.max_late)
        );
        let sent: u64 = self.calls.iter().map(|c| c.frames_sent).sum();
        let _ = writeln!(
            out,
            "   caller audio reaching the recogniser: {:.1} % ({} of {} frames)",
            100.0 * self.stt_bytes as f64 / (sent * STT_BYTES_PER_FRAME).max(1) as f64,
            self.stt_bytes / STT_BYTES_PER_FRAME,
            sent
        );
        let wall = self.wall.as_secs_f64();
        let source = if self.cpu.precise {
            "schedstat"
        } else {
            "stat"
        };
        for (group, seconds) in &self.cpu.groups {
            let names: Vec<String> = self.cpu.names[group]
                .iter()
                .map(|(name, count)| format!("{name} x{count}"))
                .collect();
            let _ = writeln!(
                out,
                "   cpu {group:?}: {seconds:.3} s ({source}; stat says {:.2} s) = {:.1} % of a core, waited {:.2} s for a CPU ({})",
                self.cpu.groups_stat.get(group).copied().unwrap_or(0.0),
                100.0 * seconds / wall,
                self.cpu.waited.get(group).copied().unwrap_or(0.0),
                names.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "   cpu whole process (stat, ended threads included): {:.2} s = {:.1} % of a core",
            self.cpu.process,
            100.0 * self.cpu.process / wall
        );
        for (message, warned) in &self.warnings {
            let _ = write!(out, "   server warned {}x: {message}", warned.count);
            if warned.dropped > 0 {
                let _ = write!(out, " (frames dropped: {})", warned.dropped);
            }
            let _ = writeln!(out, " [first:{}]", warned.example);
        }
        print!("{out}");
    }
}

fn print_table(rows: &[(usize, Run)]) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nLive calls under load. Turn latency: from the caller's last speech frame sent to the \
         first reply frame received; it includes the recogniser's endpointing silence, which \
         \"minus endpointing\" subtracts (the endpointing the session asked the recogniser for). \
         CPU per call: CPU time / N / the run's wall time, in % of one core; per call-second: \
         CPU time / the sum of the calls' durations (ring to hang-up), and the calls one core \
         carries at that rate.\n"
    );
    let _ = writeln!(
        out,
        "| calls | completed | turn latency median / p99 | minus endpointing median / p99 | server workers CPU per call | server, all threads, per call | whole process per call | server (all threads) per call-second | calls per core | wall |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for (n, run) in rows {
        let turns = sorted_ms(&run.calls, |c| c.turn);
        let endpointing = run.endpointing_ms.map_or(f64::NAN, |ms| ms as f64);
        let wall = run.wall.as_secs_f64();
        let per_call = |seconds: f64| format!("{:.2} %", 100.0 * seconds / (*n as f64) / wall);
        let server = run.cpu.group(ThreadGroup::ServerWorkers);
        let server_all = server + run.cpu.group(ThreadGroup::ServerOther);
        let call_seconds: f64 = run.calls.iter().map(|c| c.duration.as_secs_f64()).sum();
        let per_call_second = 100.0 * server_all / call_seconds;
        let _ = writeln!(
            out,
            "| {n} | {} | {:.0} / {:.0} ms | {:.0} / {:.0} ms | {} | {} | {} | {per_call_second:.2} % | {:.0} | {wall:.1} s |",
            run.calls.len(),
            percentile(&turns, 0.5),
            percentile(&turns, 0.99),
            percentile(&turns, 0.5) - endpointing,
            percentile(&turns, 0.99) - endpointing,
            per_call(server),
            per_call(server_all),
            per_call(run.cpu.process),
            100.0 / per_call_second,
        );
    }
    print!("{out}");
}
