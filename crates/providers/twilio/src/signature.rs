//! `X-Twilio-Signature`: HMAC-SHA1, keyed with the account's auth token, over the full URL Twilio
//! requested followed by the form parameters (names sorted, each name's distinct values sorted,
//! `name` and `value` appended with no separators), base64-encoded.
//!
//! A proxy in front of the server may add or strip the default port, so a signature is accepted
//! for the URL with and without it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use url::Url;

type HmacSha1 = Hmac<Sha1>;

/// The signature Twilio sends for a request to `url` with these form parameters.
#[must_use]
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut mac = match HmacSha1::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => return String::new(),
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The URL with its scheme's default port written out, and without it; `None` for either when
/// it cannot be formed (the URL has another port, or does not parse).
fn port_variants(url: &str) -> [Option<String>; 2] {
    let Ok(parsed) = Url::parse(url) else {
        return [None, None];
    };
    let default = match parsed.scheme() {
        "https" => 443,
        "http" => 80,
        _ => return [None, None],
    };
    // `Url` hides a default port; rebuild the text by hand where it must show.
    let with_port = parsed.host_str().map(|host| {
        let mut rebuilt = parsed.clone();
        let _ = rebuilt.set_port(None);
        let text = rebuilt.to_string();
        text.replacen(host, &format!("{host}:{default}"), 1)
    });
    let mut without = parsed.clone();
    let _ = without.set_port(None);
    let without_port =
        (parsed.port().is_none() || parsed.port() == Some(default)).then(|| without.to_string());
    [with_port.filter(|_| parsed.port().is_none()), without_port]
}

/// Whether `signature` is Twilio's for a request to `url` with `params`.
#[must_use]
pub fn is_valid(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let matches = |candidate: &str| {
        let expected = sign(auth_token, candidate, params);
        bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
    };
    if matches(url) {
        return true;
    }
    port_variants(url)
        .into_iter()
        .flatten()
        .any(|candidate| candidate != url && matches(&candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn call_params() -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn matches_twilios_published_vectors() {
        assert_eq!(
            sign("12345", URL, &call_params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert_eq!(
            sign(
                "12345",
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                &call_params()
            ),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert_eq!(
            sign(
                "12345",
                "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
                &call_params()
            ),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        );
        let multi = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(sign("12345", URL, &multi), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn accepts_the_url_with_or_without_the_default_port() {
        let signed_with_port = "kvajT1Ptam85bY51eRf/AJRuM3w=";
        let signed_without = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(is_valid("12345", URL, &call_params(), signed_with_port));
        assert!(is_valid("12345", URL, &call_params(), signed_without));
        assert!(is_valid(
            "12345",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &call_params(),
            signed_without
        ));
        assert!(is_valid(
            "12345",
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            &call_params(),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
    }

    #[test]
    fn refuses_anything_else() {
        assert!(!is_valid("12345", URL, &call_params(), ""));
        assert!(!is_valid(
            "54321",
            URL,
            &call_params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        let mut changed = call_params();
        changed[2].1 = "9999".into();
        assert!(!is_valid(
            "12345",
            URL,
            &changed,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!is_valid(
            "12345",
            "https://mycompany.com/other.php?foo=1&bar=2",
            &call_params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }
}
