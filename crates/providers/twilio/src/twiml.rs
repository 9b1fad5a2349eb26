//! TwiML, the XML a call's webhook (or a request that modifies a live call) answers with:
//! connect the call to a bidirectional media stream, say something and hang up, or dial another
//! number.

use std::fmt::Write as _;

/// Escapes text for an XML attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

const HEADER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// `<Connect><Stream>` to `url` (a `wss://` address; Twilio drops query strings, so everything
/// the stream needs goes in `parameters`), with an optional stream status callback.
#[must_use]
pub fn connect_stream(
    url: &str,
    parameters: &[(&str, &str)],
    status_callback: Option<&str>,
) -> String {
    let mut xml = format!("{HEADER}<Response><Connect><Stream url=\"{}\"", escape(url));
    if let Some(callback) = status_callback {
        let _ = write!(
            xml,
            " statusCallback=\"{}\" statusCallbackMethod=\"POST\"",
            escape(callback)
        );
    }
    xml.push('>');
    for (name, value) in parameters {
        let _ = write!(
            xml,
            "<Parameter name=\"{}\" value=\"{}\"/>",
            escape(name),
            escape(value)
        );
    }
    xml.push_str("</Stream></Connect></Response>");
    xml
}

/// Says `text` and hangs up.
#[must_use]
pub fn say_and_hang_up(text: &str) -> String {
    format!(
        "{HEADER}<Response><Say>{}</Say><Hangup/></Response>",
        escape(text)
    )
}

/// Dials `to` (a cold transfer: the call leaves whatever it was doing for the new leg).
#[must_use]
pub fn dial(to: &str) -> String {
    format!("{HEADER}<Response><Dial>{}</Dial></Response>", escape(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_a_stream_with_its_parameters() {
        let xml = connect_stream(
            "wss://agent.example.com/telephony/twilio/media",
            &[("call_id", "abc"), ("token", "a&b\"c")],
            Some("https://agent.example.com/telephony/twilio/stream-status"),
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect>\
             <Stream url=\"wss://agent.example.com/telephony/twilio/media\" \
             statusCallback=\"https://agent.example.com/telephony/twilio/stream-status\" \
             statusCallbackMethod=\"POST\">\
             <Parameter name=\"call_id\" value=\"abc\"/>\
             <Parameter name=\"token\" value=\"a&amp;b&quot;c\"/>\
             </Stream></Connect></Response>"
        );
    }

    #[test]
    fn apologises_in_escaped_text() {
        assert_eq!(
            say_and_hang_up("Sorry <3"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Sorry &lt;3</Say><Hangup/></Response>"
        );
    }

    #[test]
    fn dials_an_escaped_number() {
        assert_eq!(
            dial("+14155550100"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial>+14155550100</Dial></Response>"
        );
        assert_eq!(
            dial("sip:a&b@<x>"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial>sip:a&amp;b@&lt;x&gt;</Dial></Response>"
        );
    }
}
