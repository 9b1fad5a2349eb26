//! One reply being spoken: the conversation engine writes its text, the sentence chunker cuts it,
//! each sentence is synthesised, resampled and encoded into 20 ms channel frames, and a mark
//! follows each sentence. Everything goes to the session's driver through one bounded channel,
//! in playing order, so the driver paces frames and marks stay behind the audio they follow.
//!
//! The driver cancels a reply by dropping its task: the model stream and the synthesis stream
//! are dropped with it, which cancels them at the providers. A long tool call gets a filler line
//! (see `reply_text`).

use std::sync::Arc;

use futures_util::StreamExt as _;
use switchboard_domain::conversation::{
    CallContext, ConversationEngine, ConversationError, ConversationState, Reply, ReplyEvent,
};
use switchboard_domain::ports::{AudioStream, SpeechRequest, TextToSpeech};
use tokio::sync::mpsc;

use super::ChannelFormat;
use super::reply_text::{Filler, ReplyText, offer_filler};
use crate::frame::Framer;
use crate::pcm::{f32_sample_to_i16, i16_sample_to_f32};
use crate::resample::StreamResampler;

/// What produces a reply's text.
#[derive(Debug, Clone)]
pub(super) enum ReplyJob {
    /// The engine's opening of the call.
    Open,
    /// Fixed text, already in the conversation state.
    Say(String),
    /// A line of the session's own (a silence check-in, a goodbye), kept out of the
    /// conversation state; `then_hang_up` ends the call once it has been heard.
    Line { text: String, then_hang_up: bool },
    /// The engine's answer to the caller's utterance.
    Answer(String),
    /// The engine's answer to keys the caller entered on the keypad.
    Keys(String),
}

/// What the speaker hands the driver, in playing order.
pub(super) enum Playout {
    /// One frame in the channel's format, and its number of samples.
    Frame(Vec<u8>, usize),
    /// A mark after a sentence; `text_offset` is where the sentence ends in the spoken text.
    Mark { name: String, text_offset: usize },
    /// A sentence that could not be synthesised.
    AgentText(String),
    /// The reply is complete and all of it has been handed over.
    Done(Result<Produced, ConversationError>),
}

/// The engine's result for a reply.
pub(super) struct Produced {
    /// The conversation state after the reply, when the engine produced one.
    pub(super) state: Option<ConversationState>,
    pub(super) reply: Reply,
}

/// Everything a speaker task needs.
pub(super) struct Speaker {
    pub(super) engine: ConversationEngine,
    pub(super) context: CallContext,
    /// The state before the reply; the task works on its own copy.
    pub(super) state: ConversationState,
    pub(super) tts: Arc<dyn TextToSpeech>,
    /// Voice, pace, rate and language; the text is filled in per sentence.
    pub(super) speech: SpeechRequest,
    pub(super) format: ChannelFormat,
    /// Distinguishes this reply's marks from those of earlier replies.
    pub(super) reply_number: u64,
    pub(super) text: Arc<ReplyText>,
    pub(super) playout: mpsc::Sender<Playout>,
    /// The line to fill a long tool call with, if any.
    pub(super) filler: Option<Filler>,
}

/// The playout channel closed: the driver dropped the reply.
struct Dropped;

impl Speaker {
    /// Produces and speaks the reply; ends early when the driver stops listening.
    pub(super) async fn run(self, job: ReplyJob) {
        let Self {
            engine,
            context,
            mut state,
            tts,
            speech,
            format,
            reply_number,
            text,
            playout,
            filler,
        } = self;
        let produce =
            async {
                let sink_text = Arc::clone(&text);
                let mut sink = move |event: ReplyEvent<'_>| match event {
                    ReplyEvent::Token(token) => sink_text.push_token(token),
                    ReplyEvent::ToolStarted { .. } => sink_text.tool_started(),
                    ReplyEvent::ToolFinished { .. } => sink_text.tool_finished(),
                };
                let result =
                    match job {
                        ReplyJob::Open => engine.open_streamed(&context, &mut sink).await.map(
                            |(opened, reply)| Produced {
                                state: Some(opened),
                                reply,
                            },
                        ),
                        ReplyJob::Say(said) | ReplyJob::Line { text: said, .. } => {
                            text.push_token(&said);
                            Ok(Produced {
                                state: None,
                                reply: Reply {
                                    text: said,
                                    ..Reply::default()
                                },
                            })
                        }
                        ReplyJob::Answer(utterance) => engine
                            .respond_streamed(&context, &mut state, &utterance, &mut sink)
                            .await
                            .map(|reply| Produced {
                                state: Some(state),
                                reply,
                            }),
                        ReplyJob::Keys(keys) => engine
                            .respond_keys(&context, &mut state, &keys, &mut sink)
                            .await
                            .map(|reply| Produced {
                                state: Some(state),
                                reply,
                            }),
                    };
                // Whatever was written gets spoken, even when the model failed half way.
                text.finish();
                result
            };
        let speak = speak_sentences(&text, tts.as_ref(), speech, format, reply_number, &playout);
        let fill = async {
            if let Some(filler) = &filler {
                offer_filler(&text, filler).await;
            }
        };
        let (result, spoken, ()) = tokio::join!(produce, speak, fill);
        if spoken.is_ok() {
            // An error means the driver dropped the reply; nobody is left to tell.
            let _ = playout.send(Playout::Done(result)).await;
        }
    }
}

async fn speak_sentences(
    text: &ReplyText,
    tts: &dyn TextToSpeech,
    mut speech: SpeechRequest,
    format: ChannelFormat,
    reply_number: u64,
    playout: &mpsc::Sender<Playout>,
) -> Result<(), Dropped> {
    let mut index = 0_u32;
    while let Some(sentence) = text.next_sentence().await {
        index += 1;
        speech.text.clone_from(&sentence.text);
        let spoke = match tts.synthesize(&speech).await {
            Ok(audio) => stream_audio(audio, text, format, playout).await?,
            Err(error) => {
                tracing::warn!(%error, "speech synthesis failed; sending the sentence as text");
                false
            }
        };
        if !spoke {
            send(playout, Playout::AgentText(sentence.text.clone())).await?;
        }
        let name = format!("r{reply_number}-s{index}");
        send(
            playout,
            Playout::Mark {
                name,
                text_offset: sentence.end,
            },
        )
        .await?;
    }
    Ok(())
}

async fn send(playout: &mpsc::Sender<Playout>, item: Playout) -> Result<(), Dropped> {
    playout.send(item).await.map_err(|_| Dropped)
}

/// Converts one synthesised sentence to channel frames and hands them over. Returns whether any
/// audio was sent; the last frame is padded with silence so the mark after it falls on a frame
/// boundary.
async fn stream_audio(
    audio: AudioStream,
    text: &ReplyText,
    format: ChannelFormat,
    playout: &mpsc::Sender<Playout>,
) -> Result<bool, Dropped> {
    let AudioStream {
        sample_rate_hz,
        mut chunks,
    } = audio;
    let rate = format.sample_rate_hz();
    let (mut resampler, mut framer) = match (
        StreamResampler::new(sample_rate_hz, rate),
        Framer::<i16>::new(rate),
    ) {
        (Ok(resampler), Ok(framer)) => (resampler, framer),
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, tts.rate_hz = sample_rate_hz, "unusable synthesised audio");
            return Ok(false);
        }
    };
    let mut sent_any = false;
    let mut floats = Vec::new();
    let mut converted = Vec::new();
    let mut frames: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut ended = false;
    while !ended {
        floats.clear();
        match chunks.next().await {
            Some(Ok(chunk)) => {
                text.note_first_audio();
                if let Err(error) = resampler.process_into(
                    &chunk
                        .iter()
                        .map(|&s| i16_sample_to_f32(s))
                        .collect::<Vec<_>>(),
                    &mut floats,
                ) {
                    tracing::warn!(%error, "resampling synthesised audio failed");
                    ended = true;
                }
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "speech synthesis stream failed mid-sentence");
                ended = true;
            }
            None => ended = true,
        }
        if ended && let Err(error) = resampler.flush_into(&mut floats) {
            tracing::warn!(%error, "resampling synthesised audio failed");
        }
        converted.clear();
        converted.extend(floats.iter().map(|&s| f32_sample_to_i16(s)));
        framer.push_each(&converted, |frame| {
            let mut bytes = Vec::with_capacity(frame.len() * 2);
            format.encode_into(frame, &mut bytes);
            frames.push((bytes, frame.len()));
        });
        if ended && let Some(last) = framer.finish_padded(0) {
            let mut bytes = Vec::with_capacity(last.len() * 2);
            format.encode_into(&last, &mut bytes);
            frames.push((bytes, last.len()));
        }
        for (bytes, samples) in frames.drain(..) {
            sent_any = true;
            send(playout, Playout::Frame(bytes, samples)).await?;
        }
    }
    Ok(sent_any)
}
