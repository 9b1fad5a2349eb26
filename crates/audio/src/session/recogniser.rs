//! The session's link to speech-to-text: opening the stream (and reopening it, with backoff,
//! when it drops), resampling the caller's audio to its rate, and a feeder task that owns the
//! sink, so a slow provider never stalls the driver.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use switchboard_domain::ports::{
    SpeechError, SpeechToText, SttConfig, SttEvent, SttEvents, SttStream,
};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::tasks::{TaskGuard, maybe};
use crate::AudioError;
use crate::pcm::{f32_sample_to_i16, i16_sample_to_f32};
use crate::resample::StreamResampler;

/// The first wait before reopening a dropped speech-to-text stream; it doubles up to the cap.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long closing the speech-to-text stream may take when the call ends.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What the feeder task passes to the speech-to-text sink, in order.
enum Command {
    Audio(Vec<i16>),
    /// The caller stopped speaking (as the local VAD heard it): ask the recogniser to settle
    /// what it has, so the final transcript comes without waiting for its own endpointing.
    Finalize,
}

/// An open speech-to-text stream: audio goes to the feeder task, which owns the sink.
struct Link {
    commands: mpsc::Sender<Command>,
    events: SttEvents,
    feeder: TaskGuard<()>,
}

/// What the recogniser has for the driver.
pub(super) enum Wake {
    Event(Option<Result<SttEvent, SpeechError>>),
    Opened(Result<SttStream, SpeechError>),
    Retry,
}

/// Speech-to-text for one call.
pub(super) struct Recogniser {
    port: Arc<dyn SpeechToText>,
    config: SttConfig,
    /// Caller frames waiting for the sink; beyond this they are dropped.
    buffer_frames: usize,
    resampler: StreamResampler,
    /// The frame as floats, the resampler's input, and its output; kept to reuse them.
    input: Vec<f32>,
    output: Vec<f32>,
    link: Option<Link>,
    /// Caller audio heard while no stream is open (the first one still connecting, or a dropped
    /// one being reopened), at most `buffer_frames` pieces, the newest kept; sent first when a
    /// stream opens, so a caller who speaks early is not cut off.
    waiting: VecDeque<Vec<i16>>,
    opening: Option<TaskGuard<Result<SttStream, SpeechError>>>,
    retry_at: Option<Instant>,
    backoff: Duration,
    dropped_frames: u64,
}

impl Recogniser {
    /// A recogniser for caller audio at `channel_rate_hz`, not yet open.
    ///
    /// # Errors
    ///
    /// `AudioError::UnsupportedSampleRate` or `AudioError::FrameDuration` when the rates are
    /// unusable.
    pub(super) fn new(
        port: Arc<dyn SpeechToText>,
        config: SttConfig,
        channel_rate_hz: u32,
        buffer_frames: usize,
    ) -> Result<Self, AudioError> {
        let resampler = StreamResampler::new(channel_rate_hz, config.sample_rate_hz)?;
        Ok(Self {
            port,
            config,
            buffer_frames,
            resampler,
            input: Vec::new(),
            output: Vec::new(),
            link: None,
            waiting: VecDeque::new(),
            opening: None,
            retry_at: None,
            backoff: RETRY_FIRST,
            dropped_frames: 0,
        })
    }

    /// Starts opening a stream.
    pub(super) fn open(&mut self) {
        let port = Arc::clone(&self.port);
        let config = self.config.clone();
        self.opening = Some(TaskGuard::spawn(async move { port.open(config).await }));
    }

    /// Waits for the recogniser's next event, its stream opening, or the time to reopen it.
    pub(super) async fn next(&mut self) -> Wake {
        tokio::select! {
            biased;
            event = maybe(self.link.as_mut().map(|link| link.events.next())) => Wake::Event(event),
            opened = maybe(self.opening.as_mut()) => Wake::Opened(
                opened.unwrap_or_else(|error| Err(SpeechError::Unavailable(error.to_string()))),
            ),
            () = maybe(self.retry_at.map(sleep_until)) => Wake::Retry,
        }
    }

    /// Handles what [`Recogniser::next`] returned; the caller's speech events come back for the
    /// driver, everything else (a drop, an opening, a retry) is dealt with here.
    pub(super) fn handle(&mut self, wake: Wake) -> Option<SttEvent> {
        match wake {
            Wake::Event(Some(Ok(event))) => return Some(event),
            Wake::Event(Some(Err(error))) => {
                tracing::warn!(%error, "speech-to-text stream failed; reopening it");
                self.dropped();
            }
            Wake::Event(None) => {
                tracing::warn!("speech-to-text stream ended; reopening it");
                self.dropped();
            }
            Wake::Opened(result) => {
                self.opening = None;
                match result {
                    Ok(stream) => self.attach(stream),
                    Err(error) => {
                        tracing::warn!(%error, "could not open speech-to-text; retrying");
                        self.schedule_retry();
                    }
                }
            }
            Wake::Retry => {
                self.retry_at = None;
                self.open();
            }
        }
        None
    }

    fn attach(&mut self, stream: SttStream) {
        let SttStream { mut sink, events } = stream;
        let (commands, mut pending) = mpsc::channel(self.buffer_frames);
        let feeder = TaskGuard::spawn(async move {
            while let Some(command) = pending.recv().await {
                let sent = match command {
                    Command::Audio(samples) => sink.send_audio(&samples).await,
                    Command::Finalize => sink.finalize().await,
                };
                if let Err(error) = sent {
                    // The event stream reports the drop; the driver reopens from there.
                    tracing::warn!(%error, "sending to speech-to-text failed");
                    return;
                }
            }
            // The driver closed the channel: the call is over.
            if let Err(error) = sink.close().await {
                tracing::debug!(%error, "closing speech-to-text failed");
            }
        });
        // What the caller said while no stream was open goes first; the channel holds as many
        // pieces as the waiting queue, so none is refused.
        for samples in self.waiting.drain(..) {
            let _ = commands.try_send(Command::Audio(samples));
        }
        self.link = Some(Link {
            commands,
            events,
            feeder,
        });
        self.backoff = RETRY_FIRST;
        // A new stream starts at a fresh point in time: do not carry half an old chunk over.
        self.resampler.reset();
    }

    fn dropped(&mut self) {
        self.link = None;
        self.schedule_retry();
    }

    fn schedule_retry(&mut self) {
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(RETRY_MAX);
    }

    /// Sends one decoded caller frame, resampled to the recogniser's rate.
    pub(super) fn feed(&mut self, decoded: &[i16]) {
        self.output.clear();
        self.input.clear();
        self.input
            .extend(decoded.iter().map(|&s| i16_sample_to_f32(s)));
        if let Err(error) = self.resampler.process_into(&self.input, &mut self.output) {
            tracing::warn!(%error, "resampling caller audio failed");
            return;
        }
        if self.output.is_empty() {
            return;
        }
        let samples: Vec<i16> = self.output.iter().map(|&s| f32_sample_to_i16(s)).collect();
        let Some(link) = &self.link else {
            if self.waiting.len() == self.buffer_frames {
                self.waiting.pop_front();
            }
            self.waiting.push_back(samples);
            return;
        };
        // Never wait on the recogniser here: a stalled provider must not stall the agent's
        // audio. Frames it cannot take are dropped and counted.
        if link.commands.try_send(Command::Audio(samples)).is_err() {
            self.dropped_frames += 1;
            if self.dropped_frames.is_power_of_two() {
                tracing::warn!(
                    stt.dropped_frames = self.dropped_frames,
                    "speech-to-text is not keeping up; dropping caller audio"
                );
            }
        }
    }

    /// Asks the recogniser to settle the caller's words now. Like audio, the request never
    /// waits: if the feeder is backed up, the recogniser's own endpointing still ends the turn.
    pub(super) fn finalize(&mut self) {
        if let Some(link) = &self.link
            && link.commands.try_send(Command::Finalize).is_err()
        {
            tracing::debug!("speech-to-text is backed up; not asking it to finalize");
        }
    }

    /// Ends the stream: closing the command channel lets the feeder close the sink, which may
    /// take a moment.
    pub(super) async fn close(&mut self) {
        self.opening = None;
        self.retry_at = None;
        if let Some(link) = self.link.take() {
            drop(link.commands);
            drop(link.events);
            let _ = tokio::time::timeout(CLOSE_GRACE, link.feeder).await;
        }
    }
}
