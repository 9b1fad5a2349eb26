//! Turn-taking: interruptions judged before the agent stops, fillers, silence check-ins and
//! keypad entries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

// ---- interruptions ----------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn backchannel_words_neither_interrupt_nor_become_a_turn() {
    let (mut call, first) = answering(Setup::new(&[GREETING, ANSWER])).await;
    call.stt_event(SttEvent::SpeechStarted).await;
    call.stt_event(SttEvent::Interim {
        text: "uh-huh".into(),
    })
    .await;
    assert_quiet(&mut call, Duration::from_millis(200)).await;
    call.stt_event(SttEvent::Final {
        text: "Uh-huh.".into(),
        speech_final: true,
    })
    .await;
    let rest = call.until(true, is_agent_line).await;
    assert!(!rest.contains(&OutboundEvent::Clear));
    assert_eq!(customer_lines(&rest), ["Uh-huh."], "kept in the transcript");
    assert_eq!(frames(&first) + frames(&rest), 30, "the whole reply played");
    let reply = line(rest.last().unwrap());
    assert_eq!(reply.text, ANSWER);
    assert!(!reply.interrupted);

    let model = Arc::clone(&call.model);
    let (outcome, _) = call.hang_up().await;
    assert_eq!(model.cancelled.load(Ordering::SeqCst), 0);
    assert_eq!(outcome.state.caller_turns, 1, "a backchannel is not a turn");
    assert_eq!(
        roles(&outcome.state),
        [
            (ChatRole::Assistant, GREETING.to_owned()),
            (ChatRole::User, "I'd like a table for two".to_owned()),
            (ChatRole::Assistant, ANSWER.to_owned()),
        ]
    );
    let speakers: Vec<_> = outcome.transcript.iter().map(|l| l.speaker).collect();
    assert_eq!(
        speakers,
        [Who::Agent, Who::Customer, Who::Customer, Who::Agent]
    );
}

#[tokio::test(start_paused = true)]
async fn an_unconfirmed_interruption_resumes_where_it_paused() {
    let (mut call, first) = answering(Setup::new(&[GREETING, ANSWER])).await;
    // A cough: the recogniser hears speech start, and then nothing.
    let paused_at = Instant::now();
    call.stt_event(SttEvent::SpeechStarted).await;
    let resumed = call
        .until(false, |e| matches!(e, OutboundEvent::Audio(_)))
        .await;
    assert_eq!(resumed.len(), 1, "nothing was sent while paused");
    assert_eq!(
        Instant::now() - paused_at,
        TurnTaking::default().false_interruption_timeout
    );
    // Paced afresh from the frame that was held.
    let rest = call.until(true, is_agent_line).await;
    let times = &call.frame_times[call.frame_times.len() - frames(&rest) - 1..];
    for pair in times[..5].windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_millis(20));
    }
    assert_eq!(
        frames(&first) + 1 + frames(&rest),
        30,
        "nothing was skipped"
    );
    let reply = line(rest.last().unwrap());
    assert_eq!(reply.text, ANSWER);
    assert!(!reply.interrupted);
    call.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn speech_longer_than_the_minimum_confirms_an_interruption() {
    let (mut call, _) = answering(Setup::new(&[GREETING, ANSWER])).await;
    let audio = caller_audio(&call, Duration::from_secs(2), Duration::ZERO);
    // The tone follows 100 ms of silence; its first frame holds the 20 ms before it arrives.
    let speech_from = Instant::now() + Duration::from_millis(80);
    call.until(false, |e| *e == OutboundEvent::Clear).await;
    assert_eq!(
        Instant::now() - speech_from,
        TurnTaking::default().min_interruption
    );
    audio.abort();
    call.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn too_few_words_do_not_interrupt() {
    let mut setup = Setup::new(&[GREETING, ANSWER]);
    setup.config.turn_taking.min_interruption_words = 3;
    let (mut call, _) = answering(setup).await;
    call.stt_event(SttEvent::Final {
        text: "No thanks".into(),
        speech_final: true,
    })
    .await;
    let rest = call.until(true, is_agent_line).await;
    assert!(!rest.contains(&OutboundEvent::Clear));
    assert_eq!(customer_lines(&rest), ["No thanks"]);
    assert_eq!(line(rest.last().unwrap()).text, ANSWER);
    call.hang_up().await;
}

// ---- fillers ----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_slow_tool_call_is_filled_once_and_a_quick_one_not_at_all() {
    const ANSWER: &str = "Your order ships tomorrow.";
    for (tool_takes, filled) in [
        (Duration::from_secs(3), true),
        (Duration::from_millis(500), false),
    ] {
        let mut setup = Setup::new(&[GREETING, "TOOL check_order", ANSWER]);
        setup.tools = Arc::new(SlowTools(tool_takes));
        setup.agent = Some(agent_with_order_tool());
        let mut call = setup.start();
        call.until(true, is_agent_line).await;
        call.caller_says("Where is my order?").await;
        call.until(false, |e| matches!(e, OutboundEvent::Text(_)))
            .await;
        let asked_at = Instant::now();
        let answer = call.until(true, is_agent_line).await;
        let first_frame = call.frame_times[call.frame_times.len() - frames(&answer)];
        let said = &call.tts.sentences()[2..];
        let reply = line(answer.last().unwrap());
        assert_eq!(reply.text, ANSWER, "the filler is not part of the reply");
        if filled {
            assert_eq!(said, ["One moment while I check that.", ANSWER]);
            // The tool starts once the model's tool call has streamed (30 ms); the filler
            // follows 1.2 s of silence, plus 50 ms of synthesis.
            let waited = first_frame - asked_at;
            assert!(
                (Duration::from_millis(1250)..Duration::from_millis(1300)).contains(&waited),
                "{waited:?}"
            );
            assert_eq!(marks(&answer).len(), 2, "a mark after the filler too");
        } else {
            assert_eq!(said, [ANSWER]);
            assert!(first_frame - asked_at > tool_takes);
        }
        let (outcome, _) = call.hang_up().await;
        let last = outcome.state.messages.last().unwrap();
        assert_eq!(last.content.as_deref(), Some(ANSWER));
    }
}

// ---- silence ----------------------------------------------------------------------------------

fn agent_lines(events: &[OutboundEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            OutboundEvent::Text(line) if line.speaker == Who::Agent => Some(line.text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn silence_brings_check_ins_then_a_goodbye_and_the_end() {
    let rules = TurnTaking::default();
    let pause = rules.silence_reprompt_after.unwrap();
    let mut call = Setup::new(&[GREETING]).start();
    call.until(true, is_agent_line).await;
    for _ in 0..rules.silence_reprompts_max {
        let quiet_from = Instant::now();
        let check_in = call.until(true, is_agent_line).await;
        let first_frame = call.frame_times[call.frame_times.len() - frames(&check_in)];
        // The pause, then 50 ms of synthesis.
        assert_eq!(first_frame - quiet_from, pause + Duration::from_millis(50));
        assert_eq!(
            agent_lines(&check_in),
            [rules.silence_reprompt_line.as_str()]
        );
    }
    let quiet_from = Instant::now();
    let goodbye = call
        .until(true, |e| matches!(e, OutboundEvent::Ended(_)))
        .await;
    assert_eq!(agent_lines(&goodbye), [rules.silence_goodbye_line.as_str()]);
    assert!(
        frames(&goodbye) > 0,
        "the goodbye was played before the end"
    );
    assert_eq!(
        goodbye.last(),
        Some(&OutboundEvent::Ended(SessionEnd::SilenceTimeout))
    );
    assert!(Instant::now() - quiet_from > pause);
    let outcome = call.session.await.unwrap();
    assert_eq!(outcome.end, SessionEnd::SilenceTimeout);
    assert_eq!(
        roles(&outcome.state),
        [(ChatRole::Assistant, GREETING.to_owned())],
        "the session's own lines stay out of the conversation"
    );
    assert_eq!(outcome.transcript.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_caller_who_answers_a_check_in_gets_every_check_in_again() {
    let rules = TurnTaking::default();
    let mut call = Setup::new(&[GREETING, "Great, how can I help?"]).start();
    call.until(true, is_agent_line).await;
    let check_in = call.until(true, is_agent_line).await;
    assert_eq!(
        agent_lines(&check_in),
        [rules.silence_reprompt_line.as_str()]
    );
    call.caller_says("Yes, I'm here").await;
    let answer = call.until(true, is_agent_line).await;
    assert_eq!(agent_lines(&answer), ["Great, how can I help?"]);
    let rest = call
        .until(true, |e| matches!(e, OutboundEvent::Ended(_)))
        .await;
    let check_ins = agent_lines(&rest)
        .iter()
        .filter(|&&line| line == rules.silence_reprompt_line)
        .count();
    assert_eq!(check_ins, 2, "the count started over");
    let outcome = call.session.await.unwrap();
    assert_eq!(outcome.end, SessionEnd::SilenceTimeout);
}

#[tokio::test(start_paused = true)]
async fn caller_speech_holds_off_the_check_in() {
    let mut call = Setup::new(&[GREETING]).start();
    call.until(true, is_agent_line).await;
    let pause = TurnTaking::default().silence_reprompt_after.unwrap();
    // The caller speaks (the recogniser says nothing yet) for longer than the pause.
    let audio = caller_audio(
        &call,
        pause + Duration::from_secs(2),
        Duration::from_secs(1),
    );
    let speech_from = Instant::now();
    let check_in = call.until(true, is_agent_line).await;
    let first_frame = call.frame_times[call.frame_times.len() - frames(&check_in)];
    // Counted from the end of the speech: 100 ms of lead-in, the tone, then the pause.
    let expected = Duration::from_millis(100) + pause + Duration::from_secs(2) + pause;
    let waited = first_frame - speech_from;
    assert!(
        waited >= expected && waited <= expected + Duration::from_millis(100),
        "{waited:?}"
    );
    audio.await.unwrap();
    call.hang_up().await;
}

// ---- the keypad -------------------------------------------------------------------------------

/// An agent whose flow is a keypad menu: 1 for sales, 2 for support.
fn keypad_menu_agent() -> AgentConfig {
    agent(|input| {
        input.call_flow = Some(serde_json::json!({
            "nodes": [
                {"id": "menu", "type": "question", "start": true,
                 "data": {"text": "Press 1 for sales or 2 for support."}},
                {"id": "sales", "type": "end", "data": {"text": "Connecting you to sales."}},
                {"id": "support", "type": "end", "data": {"text": "Connecting you to support."}},
                {"id": "other", "type": "end", "data": {"text": "Goodbye."}}
            ],
            "edges": [
                {"id": "e1", "source": "menu", "target": "sales",
                 "condition": {"type": "digits", "digits": "1"}},
                {"id": "e2", "source": "menu", "target": "support",
                 "condition": {"type": "digits", "digits": "2"}},
                {"id": "e3", "source": "menu", "target": "other", "condition": {"type": "else"}}
            ]
        }));
    })
}

async fn press(call: &Call, key: char) {
    call.inbound.send(InboundFrame::Dtmf(key)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_key_interrupts_the_menu_and_the_entry_drives_the_flow() {
    let mut setup = Setup::new(&[]);
    setup.agent = Some(keypad_menu_agent());
    let mut call = setup.start();
    // The caller knows the menu: they press 2 as soon as it starts.
    call.until(false, |e| matches!(e, OutboundEvent::Audio(_)))
        .await;
    press(&call, '2').await;
    call.until(false, |e| *e == OutboundEvent::Clear).await;
    press(&call, '#').await;
    let entry = line(&call.next().await).clone();
    assert_eq!(entry.speaker, Who::Customer);
    assert_eq!(entry.text, "[keypad: 2]");
    let rest = call
        .until(true, |e| matches!(e, OutboundEvent::Ended(_)))
        .await;
    assert_eq!(agent_lines(&rest), ["Connecting you to support."]);
    assert!(frames(&rest) > 0, "the reply was spoken");
    assert_eq!(
        rest.last(),
        Some(&OutboundEvent::Ended(SessionEnd::Agent(
            EndReason::FlowEnded
        )))
    );
    let outcome = call.session.await.unwrap();
    assert_eq!(outcome.state.caller_turns, 1);
    assert_eq!(
        outcome.state.flow.as_ref().map(|f| f.current_node()),
        Some("support")
    );
    assert_eq!(
        roles(&outcome.state),
        [
            (ChatRole::User, "[keypad: 2]".to_owned()),
            (ChatRole::Assistant, "Connecting you to support.".to_owned()),
        ],
        "nothing of the menu was heard"
    );
}

#[tokio::test(start_paused = true)]
async fn a_keypad_entry_ends_after_a_pause() {
    let mut setup = Setup::new(&[]);
    setup.agent = Some(keypad_menu_agent());
    let mut call = setup.start();
    let menu = call.until(true, is_agent_line).await;
    assert_eq!(agent_lines(&menu), ["Press 1 for sales or 2 for support."]);
    press(&call, '1').await;
    let pressed_at = Instant::now();
    let entry = line(&call.next().await).clone();
    assert_eq!(entry.text, "[keypad: 1]");
    assert_eq!(
        Instant::now() - pressed_at,
        TurnTaking::default().dtmf_timeout
    );
    let rest = call
        .until(true, |e| matches!(e, OutboundEvent::Ended(_)))
        .await;
    assert_eq!(agent_lines(&rest), ["Connecting you to sales."]);
}
