//! An incremental decoder of server-sent events, fed the body's bytes as the network delivers
//! them: events may be split across chunks or arrive several in one, lines may end in `\n`,
//! `\r\n` or `\r`, and comment lines (`: ping`) keep a connection alive without an event.

/// One event: its name (`event:`), when it had one, and its data (`data:` lines joined by `\n`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub(crate) event: Option<String>,
    pub(crate) data: String,
}

/// A line or an event longer than the decoder holds.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an event-stream line or event is longer than {limit} bytes")]
pub(crate) struct SseTooLong {
    limit: usize,
}

/// Holds at most one partial line and one partial event, each within `limit` bytes.
#[derive(Debug)]
pub(crate) struct SseDecoder {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    event: Option<String>,
    /// The last chunk ended in `\r`; a `\n` starting the next one belongs to the same line end.
    after_cr: bool,
    limit: usize,
}

impl SseDecoder {
    /// One mebibyte: far beyond any chunk a chat model sends, small enough to hold per stream.
    pub(crate) const DEFAULT_LIMIT: usize = 1024 * 1024;

    pub(crate) fn new(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            data: String::new(),
            has_data: false,
            event: None,
            after_cr: false,
            limit,
        }
    }

    /// Takes the next bytes of the body and returns the events they complete.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, SseTooLong> {
        let mut events = Vec::new();
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while let Some(end) = bytes.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.push(&bytes[..end])?;
            let crlf = bytes[end] == b'\r';
            bytes = &bytes[end + 1..];
            if crlf {
                match bytes.strip_prefix(b"\n") {
                    Some(rest) => bytes = rest,
                    None if bytes.is_empty() => self.after_cr = true,
                    None => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            self.line_ended(&line, &mut events)?;
            // Reuses the line's allocation for the next one.
            self.line = line;
            self.line.clear();
        }
        self.push(bytes)?;
        Ok(events)
    }

    /// The body ended: a last line without its line end, and a last event without its blank
    /// line, still count (some servers end the stream that way).
    pub(crate) fn finish(&mut self) -> Result<Vec<SseEvent>, SseTooLong> {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_ended(&line, &mut events)?;
        }
        self.dispatch(&mut events);
        Ok(events)
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), SseTooLong> {
        if self.line.len() + bytes.len() > self.limit {
            return Err(SseTooLong { limit: self.limit });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn line_ended(&mut self, line: &[u8], events: &mut Vec<SseEvent>) -> Result<(), SseTooLong> {
        if line.is_empty() {
            self.dispatch(events);
            return Ok(());
        }
        if line.starts_with(b":") {
            return Ok(());
        }
        // A line is complete, so a multi-byte character cannot have been cut at its end.
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() + 1 > self.limit {
                    return Err(SseTooLong { limit: self.limit });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            // `id` and `retry` matter to browsers reconnecting, not to one request.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.has_data {
            self.has_data = false;
            events.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    /// Feeds `chunks` one by one and returns every event, including those `finish` completes.
    fn decode(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new(SseDecoder::DEFAULT_LIMIT);
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(decoder.feed(chunk).unwrap());
        }
        events.extend(decoder.finish().unwrap());
        events
    }

    const STREAM: &str = "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";

    #[test]
    fn several_events_in_one_chunk() {
        let events = decode(&[STREAM.as_bytes()]);
        assert_eq!(data(&events), ["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
    }

    #[test]
    fn events_split_at_every_byte() {
        let chunks: Vec<&[u8]> = STREAM.as_bytes().chunks(1).collect();
        let events = decode(&chunks);
        assert_eq!(data(&events), ["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
    }

    #[test]
    fn events_are_complete_only_at_the_blank_line() {
        let mut decoder = SseDecoder::new(1024);
        assert!(decoder.feed(b"data: {\"a\"").unwrap().is_empty());
        assert!(decoder.feed(b":1}\n").unwrap().is_empty());
        assert_eq!(data(&decoder.feed(b"\ndata: x").unwrap()), ["{\"a\":1}"]);
    }

    #[test]
    fn crlf_and_cr_line_ends_even_split_between_chunks() {
        let crlf = STREAM.replace('\n', "\r\n");
        for split in 0..crlf.len() {
            let (a, b) = crlf.as_bytes().split_at(split);
            let events = decode(&[a, b]);
            assert_eq!(
                data(&events),
                ["{\"a\":1}", "{\"b\":2}", "[DONE]"],
                "split at {split}"
            );
        }
        let cr = STREAM.replace('\n', "\r");
        assert_eq!(data(&decode(&[cr.as_bytes()])).len(), 3);
    }

    #[test]
    fn comments_and_unknown_fields_are_skipped() {
        let events =
            decode(&[b": ping\n\n: keep-alive\nid: 7\nretry: 100\ndata: one\n\n:ping\n\n"]);
        assert_eq!(data(&events), ["one"]);
    }

    #[test]
    fn multi_line_data_and_event_names() {
        let events = decode(&[b"event: error\ndata: {\"x\":\ndata:1}\n\ndata: plain\n\n"]);
        assert_eq!(events[0].event.as_deref(), Some("error"));
        assert_eq!(events[0].data, "{\"x\":\n1}");
        assert_eq!(events[1].event, None);
    }

    #[test]
    fn a_last_event_without_its_blank_line_still_counts() {
        assert_eq!(data(&decode(&[b"data: [DONE]"])), ["[DONE]"]);
        assert_eq!(data(&decode(&[b"data: [DONE]\n"])), ["[DONE]"]);
    }

    #[test]
    fn multi_byte_characters_split_between_chunks_survive() {
        let text = "data: caf\u{e9} \u{1f600}\n\n".as_bytes();
        for split in 0..text.len() {
            let (a, b) = text.split_at(split);
            assert_eq!(data(&decode(&[a, b])), ["caf\u{e9} \u{1f600}"]);
        }
    }

    #[test]
    fn lines_and_events_are_bounded() {
        let mut decoder = SseDecoder::new(16);
        assert!(decoder.feed(b"data: 0123456789").is_ok());
        assert!(decoder.feed(b"abcdef").is_err());

        let mut decoder = SseDecoder::new(16);
        assert!(decoder.feed(b"data: 0123456789\n").is_ok());
        assert!(decoder.feed(b"data: 0123456789\n").is_err());
    }
}
