//! Whole calls: speaking sentence by sentence, barge-in, failures, timeouts, the recording, the
//! local VAD and marks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

// ---- a whole call -----------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_whole_call_speaks_sentence_by_sentence_and_records_the_transcript() {
    let mut call = Setup::new(&[GREETING, ANSWER]).start();

    // The greeting: two sentences of 200 ms each, 10 mu-law frames of 160 bytes per sentence,
    // a mark after each, then the transcript line once both marks have come back.
    let greeting = call.until(true, is_agent_line).await;
    assert_eq!(frames(&greeting), 20);
    assert_eq!(marks(&greeting), ["r1-s1", "r1-s2"]);
    assert!(greeting.iter().all(|e| match e {
        OutboundEvent::Audio(bytes) => bytes.len() == 160,
        _ => true,
    }));
    let mark_at = greeting
        .iter()
        .position(|e| matches!(e, OutboundEvent::Mark(_)))
        .unwrap();
    assert_eq!(
        frames(&greeting[..mark_at]),
        10,
        "the mark follows its sentence"
    );
    let said = line(greeting.last().unwrap());
    assert_eq!(said.text, GREETING);
    assert_eq!(said.latency, None, "an opening answers nobody");
    assert_eq!(
        call.tts.sentences(),
        ["Hello, this is Acme bookings.", "How can I help you today?"]
    );
    // Paced: within a sentence frames leave exactly 20 ms apart.
    for pair in call.frame_times[..10].windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_millis(20));
    }

    // Caller audio reaches the recogniser at its rate (8 kHz mu-law in, 16 kHz out).
    for _ in 0..10 {
        call.inbound
            .send(InboundFrame::Audio(vec![0xFF; 160]))
            .await
            .unwrap();
    }
    call.caller_says("I'd like a table for two").await;
    let caller = line(&call.next().await).clone();
    assert_eq!(caller.speaker, Who::Customer);
    assert_eq!(caller.text, "I'd like a table for two");
    assert!(call.stt.samples.load(Ordering::SeqCst) >= 9 * 320);

    let answer = call.until(true, is_agent_line).await;
    assert_eq!(marks(&answer), ["r2-s1", "r2-s2", "r2-s3"]);
    assert_eq!(frames(&answer), 30);
    let reply = line(answer.last().unwrap());
    assert_eq!(reply.text, ANSWER);
    assert!(!reply.interrupted);
    let latency = reply.latency.unwrap();
    let (token, audio, frame) = (
        latency.first_token_ms.unwrap(),
        latency.first_audio_ms.unwrap(),
        latency.first_frame_ms.unwrap(),
    );
    // Ten words at 10 ms each before the first sentence is complete, then 50 ms of synthesis.
    assert!(
        token >= 10 && audio >= token + 50 && frame >= audio,
        "{latency:?}"
    );

    let (outcome, rest) = call.hang_up().await;
    assert_eq!(rest, [OutboundEvent::Ended(SessionEnd::Hangup)]);
    assert_eq!(outcome.end, SessionEnd::Hangup);
    assert_eq!(
        roles(&outcome.state),
        [
            (ChatRole::Assistant, GREETING.to_owned()),
            (ChatRole::User, "I'd like a table for two".to_owned()),
            (ChatRole::Assistant, ANSWER.to_owned()),
        ]
    );
    let speakers: Vec<_> = outcome.transcript.iter().map(|l| l.speaker).collect();
    assert_eq!(speakers, [Who::Agent, Who::Customer, Who::Agent]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_the_session_and_its_tasks() {
    let mut call = Setup::new(&[GREETING]).start();
    call.until(true, is_agent_line).await;
    call.shutdown.send(true).unwrap();
    let rest = call
        .until(false, |e| matches!(e, OutboundEvent::Ended(_)))
        .await;
    assert_eq!(rest, [OutboundEvent::Ended(SessionEnd::Shutdown)]);
    let outcome = call.session.await.unwrap();
    assert_eq!(outcome.end, SessionEnd::Shutdown);
    // The recogniser's stream was closed, not just abandoned.
    assert_eq!(call.stt.closed.load(Ordering::SeqCst), 1);
}

// ---- barge-in ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn barge_in_before_the_first_sentence_played_keeps_none_of_the_reply() {
    let (mut call, _) = answering(Setup::new(&[GREETING, ANSWER])).await;
    // Speech alone pauses the agent; the caller's first word confirms the interruption.
    // (Briefly: the model is still streaming, and the cut must cancel it.)
    call.stt_event(SttEvent::SpeechStarted).await;
    assert_quiet(&mut call, Duration::from_millis(40)).await;
    call.stt_event(SttEvent::Interim {
        text: "Actually".into(),
    })
    .await;
    let cut = call.until(false, |e| *e == OutboundEvent::Clear).await;
    assert!(
        cut.len() < 12,
        "the reply stopped within its first sentence"
    );
    // (While paused, the speaker may have gone on preparing the next sentence.)
    let synthesised = call.tts.sentences().len();
    // Nothing was heard, so no agent line; the model's stream was dropped mid-reply.
    call.caller_says("Actually, make it three").await;
    let next = line(&call.next().await).clone();
    assert_eq!(next.speaker, Who::Customer);
    assert_eq!(call.model.cancelled.load(Ordering::SeqCst), 1);
    assert_eq!(
        call.tts.sentences().len(),
        synthesised,
        "no sentence synthesised after the cut"
    );

    let (outcome, _) = call.hang_up().await;
    assert_eq!(
        roles(&outcome.state),
        [
            (ChatRole::Assistant, GREETING.to_owned()),
            (ChatRole::User, "I'd like a table for two".to_owned()),
            (ChatRole::User, "Actually, make it three".to_owned()),
        ]
    );
    assert_eq!(outcome.state.caller_turns, 2);
}

#[tokio::test(start_paused = true)]
async fn barge_in_after_one_sentence_keeps_the_heard_sentence() {
    // Instant tokens: the model has finished before the caller speaks.
    let mut setup = Setup::new(&[GREETING, ANSWER]);
    setup.model = FakeModel::new(0, &[GREETING, ANSWER]);
    let (mut call, _) = answering(setup).await;
    let first = call
        .until(false, |e| matches!(e, OutboundEvent::Mark(_)))
        .await;
    assert_eq!(marks(&first), ["r2-s1"]);
    call.inbound
        .send(InboundFrame::Mark("r2-s1".into()))
        .await
        .unwrap();
    call.stt_event(SttEvent::Interim {
        text: "wait".into(),
    })
    .await;
    call.until(false, |e| *e == OutboundEvent::Clear).await;
    let cut = line(&call.next().await).clone();
    assert_eq!(cut.speaker, Who::Agent);
    assert_eq!(cut.text, "Sure, a table for two is possible.");
    assert!(cut.interrupted);
    // Echoes of cleared marks change nothing.
    call.inbound
        .send(InboundFrame::Mark("r2-s2".into()))
        .await
        .unwrap();

    let (outcome, _) = call.hang_up().await;
    assert_eq!(
        roles(&outcome.state),
        [
            (ChatRole::Assistant, GREETING.to_owned()),
            (ChatRole::User, "I'd like a table for two".to_owned()),
            (
                ChatRole::Assistant,
                "Sure, a table for two is possible.".to_owned()
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn speech_after_the_reply_was_heard_is_not_a_barge_in() {
    let mut call = Setup::new(&[GREETING, ANSWER, "Done."]).start();
    call.until(true, is_agent_line).await;
    call.caller_says("I'd like a table for two").await;
    call.until(true, is_agent_line).await;
    call.stt_event(SttEvent::SpeechStarted).await;
    call.caller_says("At seven").await;
    let next = line(&call.next().await).clone();
    assert_eq!(
        next.speaker,
        Who::Customer,
        "no Clear before the caller's line"
    );
    assert_eq!(next.text, "At seven");
    let answer = call.until(true, is_agent_line).await;
    assert_eq!(line(answer.last().unwrap()).text, "Done.");
    let (outcome, _) = call.hang_up().await;
    assert_eq!(outcome.state.messages.len(), 5);
    assert_eq!(call_model_cancellations(&outcome), 0);
}

fn call_model_cancellations(outcome: &SessionOutcome) -> usize {
    outcome
        .transcript
        .iter()
        .filter(|line| line.interrupted)
        .count()
}

// ---- failures, timeouts and the recording -----------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_sentence_that_cannot_be_synthesised_is_sent_as_text() {
    let mut setup = Setup::new(&[GREETING]);
    setup.tts.fail_on = Some("How can I help".into());
    let mut call = setup.start();
    let greeting = call.until(true, is_agent_line).await;
    assert_eq!(frames(&greeting), 10, "only the first sentence has audio");
    let text_at = greeting
        .iter()
        .position(|e| *e == OutboundEvent::AgentText("How can I help you today?".into()))
        .unwrap();
    assert_eq!(greeting[text_at + 1], OutboundEvent::Mark("r1-s2".into()));
    assert_eq!(line(greeting.last().unwrap()).text, GREETING);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_recogniser_stream_is_reopened_without_ending_the_call() {
    let mut call = Setup::new(&[GREETING, "Of course."]).start();
    call.until(true, is_agent_line).await;
    // The provider drops the connection: its event stream ends.
    let replacement = call.stt.prepare();
    call.stt_events = replacement;
    call.caller_says("Are you still there?").await;
    let caller = line(&call.next().await).clone();
    assert_eq!(caller.text, "Are you still there?");
    assert_eq!(call.stt.opened.load(Ordering::SeqCst), 2);
    let answer = call.until(true, is_agent_line).await;
    assert_eq!(line(answer.last().unwrap()).text, "Of course.");
}

#[tokio::test(start_paused = true)]
async fn audio_heard_while_the_recogniser_reconnects_reaches_it_afterwards() {
    let mut call = Setup::new(&[GREETING]).start();
    call.until(true, is_agent_line).await;
    // The stream ends, and no new one can be opened for now.
    let before = call.stt.samples.load(Ordering::SeqCst);
    let (gone, _) = tokio::sync::mpsc::channel(1);
    call.stt_events = gone;
    // On the paused clock this only lets the session take in the end of its stream.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let quiet = crate::codec::mulaw::encode(&[0_i16; 160]);
    for _ in 0..10 {
        call.inbound
            .send(InboundFrame::Audio(quiet.clone()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(call.stt.samples.load(Ordering::SeqCst), before);
    // Once a stream opens, the ten frames (320 samples each at 16 kHz, less what the resampler
    // still holds) reach it.
    call.stt_events = call.stt.prepare();
    eventually("the audio heard meanwhile to reach the new stream", || {
        call.stt.samples.load(Ordering::SeqCst) >= before + 8 * 320
    })
    .await;
    assert_eq!(call.stt.opened.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn silence_ends_the_call_after_the_timeout() {
    let mut setup = Setup::new(&[GREETING]);
    setup.config.silence_timeout = Some(Duration::from_secs(8));
    let mut call = setup.start();
    call.until(true, is_agent_line).await;
    let heard_at = Instant::now();
    let rest = call
        .until(false, |e| matches!(e, OutboundEvent::Ended(_)))
        .await;
    assert_eq!(rest, [OutboundEvent::Ended(SessionEnd::SilenceTimeout)]);
    assert_eq!(Instant::now() - heard_at, Duration::from_secs(8));
}

#[tokio::test(start_paused = true)]
async fn the_recording_has_the_caller_left_and_the_agent_right_in_time() {
    let mut setup = Setup::new(&[GREETING]);
    setup.config.record_max = Some(Duration::from_secs(60));
    let mut call = setup.start();
    call.until(true, is_agent_line).await;
    let caller_from = Instant::now();
    let loud = crate::codec::mulaw::encode(&[8000_i16, -8000].repeat(80));
    for _ in 0..25 {
        call.inbound
            .send(InboundFrame::Audio(loud.clone()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = call.started;
    let first_frame = call.frame_times[0];
    let (outcome, _) = call.hang_up().await;
    let wav = outcome.recording.unwrap();
    let mut reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let (left, right): (Vec<i16>, Vec<i16>) =
        samples.chunks(2).map(|pair| (pair[0], pair[1])).unzip();
    let at = |instant: Instant| usize::try_from((instant - started).as_millis()).unwrap() * 8;
    let loud_in = |track: &[i16], from: usize, to: usize| {
        track[from.min(track.len())..to.min(track.len())]
            .iter()
            .any(|s| s.unsigned_abs() > 1000)
    };
    // The greeting plays on the right while the caller is silent on the left.
    assert!(!loud_in(&right, 0, at(first_frame)));
    assert!(loud_in(&right, at(first_frame), at(first_frame) + 3200));
    assert!(!loud_in(&left, 0, at(caller_from).saturating_sub(160)));
    // Then the caller speaks on the left, and the agent is silent.
    let caller_at = at(caller_from);
    assert!(loud_in(&left, caller_at, caller_at + 4000));
    assert!(!loud_in(&right, caller_at + 160, caller_at + 4000));
}

// ---- the local voice activity detector ----------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_end_of_speech_asks_the_recogniser_to_finalize() {
    let mut call = Setup::new(&[GREETING]).start();
    call.until(true, is_agent_line).await;
    assert_eq!(call.stt.finalized.load(Ordering::SeqCst), 0);
    let audio = caller_audio(&call, Duration::from_millis(600), Duration::from_secs(1));
    let stt = Arc::clone(&call.stt);
    eventually("a finalize", || stt.finalized.load(Ordering::SeqCst) == 1).await;
    // The VAD ends speech after 600 ms of silence: not before.
    audio.await.unwrap();
    assert_eq!(call.stt.finalized.load(Ordering::SeqCst), 1);
    let (outcome, _) = call.hang_up().await;
    assert_eq!(outcome.end, SessionEnd::Hangup);
}

#[tokio::test(start_paused = true)]
async fn the_vad_alone_ends_the_turn_with_the_finals_collected() {
    let mut call = Setup::new(&[GREETING, ANSWER]).start();
    call.until(true, is_agent_line).await;
    let audio = caller_audio(&call, Duration::from_millis(600), Duration::from_secs(1));
    // The recogniser settles the words but never says the speech is over.
    call.stt_event(SttEvent::Final {
        text: "A table for two".into(),
        speech_final: false,
    })
    .await;
    let started = Instant::now();
    let caller = line(&call.next().await).clone();
    assert_eq!(caller.speaker, Who::Customer);
    assert_eq!(caller.text, "A table for two");
    // 600 ms of tone, then the VAD's 600 ms of silence.
    assert!(Instant::now() - started >= Duration::from_millis(1150));
    let answer = call.until(true, is_agent_line).await;
    let reply = line(answer.last().unwrap());
    assert_eq!(reply.text, ANSWER);
    // Latency counts from where the VAD heard the speech end, 600 ms before it was sure.
    let waited = reply.latency.unwrap().final_transcript_ms;
    assert!((580..=620).contains(&waited), "{waited}");
    audio.await.unwrap();
    call.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn the_vad_alone_catches_a_barge_in() {
    let (mut call, _) = answering(Setup::new(&[GREETING, ANSWER])).await;
    // No recogniser events at all: only the caller's audio.
    let audio = caller_audio(&call, Duration::from_secs(2), Duration::ZERO);
    let cut = call.until(false, |e| *e == OutboundEvent::Clear).await;
    assert!(
        frames(&cut) < 15,
        "the reply stopped once the caller had spoken: {} frames",
        frames(&cut)
    );
    audio.abort();
    call.caller_says("Actually, make it three").await;
    let next = line(&call.next().await).clone();
    assert_eq!(next.speaker, Who::Customer);
    let (outcome, _) = call.hang_up().await;
    assert_eq!(outcome.state.caller_turns, 2);
}

// ---- marks ------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn marks_never_echoed_count_as_heard_after_the_grace_period() {
    let mut setup = Setup::new(&[GREETING]);
    setup.config.silence_timeout = Some(Duration::from_secs(5));
    let mut call = setup.start();
    // The channel never echoes a mark.
    let greeting = call.until(false, is_agent_line).await;
    let said = line(greeting.last().unwrap());
    assert_eq!(said.text, GREETING);
    assert!(!said.interrupted);
    let last_frame = *call.frame_times.last().unwrap();
    assert_eq!(
        Instant::now() - last_frame,
        Duration::from_millis(20) + Duration::from_secs(2),
        "settled the grace period after the last frame finished playing"
    );
    // The reply is settled, so the silence timeout runs again.
    let rest = call
        .until(false, |e| matches!(e, OutboundEvent::Ended(_)))
        .await;
    assert_eq!(rest, [OutboundEvent::Ended(SessionEnd::SilenceTimeout)]);
    let outcome = call.session.await.unwrap();
    assert_eq!(
        roles(&outcome.state),
        [(ChatRole::Assistant, GREETING.to_owned())]
    );
}

#[tokio::test(start_paused = true)]
async fn an_answer_while_the_last_marks_are_late_is_a_turn_not_a_backchannel() {
    let mut call = Setup::new(&[GREETING, "Great."]).start();
    // The greeting plays to its end; the channel is slow to echo its marks.
    let greeting = call
        .until(false, |e| *e == OutboundEvent::Mark("r1-s2".into()))
        .await;
    assert_eq!(frames(&greeting), 20);
    tokio::time::sleep(Duration::from_millis(40)).await;
    // "Yes." is a backchannel word, but the agent has finished: it answers the question.
    call.caller_says("Yes.").await;
    let heard = line(&call.next().await).clone();
    assert_eq!((heard.speaker, heard.text.as_str()), (Who::Agent, GREETING));
    let caller = line(&call.next().await).clone();
    assert_eq!(
        (caller.speaker, caller.text.as_str()),
        (Who::Customer, "Yes.")
    );
    let answer = call.until(true, is_agent_line).await;
    assert_eq!(line(answer.last().unwrap()).text, "Great.");
    let (outcome, _) = call.hang_up().await;
    assert_eq!(
        roles(&outcome.state),
        [
            (ChatRole::Assistant, GREETING.to_owned()),
            (ChatRole::User, "Yes.".to_owned()),
            (ChatRole::Assistant, "Great.".to_owned()),
        ]
    );
}
