//! Collecting the keys a caller presses (DTMF) into one entry: it ends with `#`, after a pause
//! between keys, or when it reaches [`MAX_KEYS`]; the driver hands the entry to the
//! conversation engine as a caller turn.

use std::time::Duration;

use tokio::time::Instant;

/// The longest entry; a longer one is handed over in pieces of this size.
pub(super) const MAX_KEYS: usize = 32;

/// The keys pressed so far in the current entry.
#[derive(Debug, Clone)]
pub(super) struct Keypad {
    keys: String,
    /// Ends the entry if no key follows in time.
    deadline: Option<Instant>,
    timeout: Duration,
}

impl Keypad {
    /// A keypad whose entries end after `timeout` without a key.
    pub(super) fn new(timeout: Duration) -> Self {
        Self {
            keys: String::new(),
            deadline: None,
            timeout,
        }
    }

    /// A key was pressed at `now`; returns the entry when this key completed it. Keys a phone
    /// keypad does not have are ignored.
    pub(super) fn press(&mut self, key: char, now: Instant) -> Option<String> {
        let key = key.to_ascii_uppercase();
        if key == '#' {
            return self.take();
        }
        if !(key.is_ascii_digit() || matches!(key, '*' | 'A'..='D')) {
            tracing::debug!("ignoring a key the keypad does not have");
            return None;
        }
        self.keys.push(key);
        if self.keys.len() >= MAX_KEYS {
            return self.take();
        }
        self.deadline = Some(now + self.timeout);
        None
    }

    /// When the entry ends without another key, if one is being entered.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The entry, ended (by the pause, `#` or its length); `None` when there is none.
    pub(super) fn take(&mut self) -> Option<String> {
        self.deadline = None;
        (!self.keys.is_empty()).then(|| std::mem::take(&mut self.keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_entry_ends_with_hash_a_pause_or_its_length() {
        let now = Instant::now();
        let mut keypad = Keypad::new(Duration::from_secs(2));
        assert_eq!(keypad.press('1', now), None);
        assert_eq!(keypad.deadline(), Some(now + Duration::from_secs(2)));
        assert_eq!(keypad.press('*', now), None);
        assert_eq!(keypad.press('#', now), Some("1*".to_owned()));
        assert_eq!(keypad.deadline(), None);
        assert_eq!(keypad.press('#', now), None, "a lone # is no entry");

        assert_eq!(keypad.press('a', now), None);
        assert_eq!(keypad.press('x', now), None);
        assert_eq!(keypad.take(), Some("A".to_owned()), "x is not a key");

        let long = (0..MAX_KEYS).filter_map(|_| keypad.press('9', now)).next();
        assert_eq!(long, Some("9".repeat(MAX_KEYS)));
        assert_eq!(keypad.take(), None);
    }
}
