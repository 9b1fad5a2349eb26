//! Turning text into weighted lexical features: words (lower-cased, stop words dropped, lightly
//! stemmed), pairs of neighbouring words, and character trigrams of each word, which let related
//! forms ("deliver", "delivery") and small misspellings still share something.

/// Common English words that say little about what a text is about. Question words are here
/// too: a question's "how" or "when" rarely appears in the passage that answers it.
const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as",
    "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
    "can", "could", "did", "do", "does", "doing", "down", "during", "each", "either", "else",
    "ever", "every", "few", "for", "from", "further", "get", "gets", "got", "had", "has", "have",
    "having", "he", "her", "here", "hers", "him", "his", "how", "however", "i", "if", "in", "into",
    "is", "it", "its", "itself", "just", "let", "like", "may", "me", "might", "more", "most",
    "much", "must", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "one",
    "only", "or", "other", "our", "ours", "out", "over", "own", "please", "same", "shall", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "then",
    "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
    "upon", "us", "very", "via", "was", "we", "were", "what", "whatever", "when", "whenever",
    "where", "whether", "which", "while", "who", "whom", "whose", "why", "will", "with", "within",
    "would", "yet", "you", "your", "yours", "yourself",
];

/// Whether `word` (lower case) is a stop word.
pub(crate) fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// Lower-cased words of the text: runs of letters and digits. Apostrophes inside a word are
/// dropped rather than splitting it ("don't" is "dont", "customer's" is "customers"), so
/// possessives stem like plurals.
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else if matches!(c, '\'' | '’')
            && !current.is_empty()
            && chars.peek().is_some_and(|next| next.is_alphanumeric())
        {
            // Inside a word: skip the apostrophe, keep reading the word.
        } else if !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Suffixes removed by [`stem`], longest first within each family, with the shortest stem
/// they may leave.
const SUFFIXES: &[(&str, &str, usize)] = &[
    ("ational", "ate", 3),
    ("ations", "ate", 3),
    ("ation", "ate", 3),
    ("ments", "", 3),
    ("ment", "", 3),
    ("ness", "", 3),
    ("ings", "", 3),
    ("ing", "", 3),
    ("ies", "y", 2),
    ("sses", "ss", 2),
    ("ied", "y", 2),
    ("ed", "", 3),
];

/// A light English stemmer: strips common inflections so that "shipping", "shipped",
/// "shipment" and "ships" meet at "ship", and "charge", "charges", "charged" at "charg". It is
/// cruder than Porter's, but it only has to map a word and its variants to the same key, not to
/// a dictionary form. Words with digits and short words are kept as they are.
pub(crate) fn stem(word: &str) -> String {
    let word = IRREGULAR_FORMS
        .binary_search_by(|(form, _)| (*form).cmp(word))
        .map_or(word, |at| IRREGULAR_FORMS[at].1);
    if word.chars().count() <= 3 || word.chars().any(|c| c.is_ascii_digit()) {
        return word.to_owned();
    }
    let mut stem = strip_suffix(word);
    // A final "e" is dropped so that "store" meets "storing" and "stored".
    if stem.chars().count() > 3 && stem.ends_with('e') {
        stem.pop();
    }
    // A final doubled consonant is undoubled so that "shipp(ed)" meets "ship" and "cancell(ed)"
    // meets "cancel"; applied to every word, so "bill" and "billing" still agree.
    let mut tail = stem.chars().rev();
    if let (Some(last), Some(before)) = (tail.next(), tail.next())
        && last == before
        && last.is_alphabetic()
        && !is_vowel(last)
        && stem.chars().count() > 3
    {
        stem.pop();
    }
    stem
}

/// Irregular verb forms and plurals that suffix stripping cannot reach, mapped to the word they
/// inflect (sorted by form, for binary search). Common English, not any one domain's words.
const IRREGULAR_FORMS: &[(&str, &str)] = &[
    ("began", "begin"),
    ("begun", "begin"),
    ("bought", "buy"),
    ("broke", "break"),
    ("broken", "break"),
    ("brought", "bring"),
    ("built", "build"),
    ("came", "come"),
    ("caught", "catch"),
    ("children", "child"),
    ("chose", "choose"),
    ("chosen", "choose"),
    ("dealt", "deal"),
    ("driven", "drive"),
    ("drove", "drive"),
    ("fallen", "fall"),
    ("fell", "fall"),
    ("felt", "feel"),
    ("forgot", "forget"),
    ("forgotten", "forget"),
    ("found", "find"),
    ("gave", "give"),
    ("given", "give"),
    ("gone", "go"),
    ("held", "hold"),
    ("kept", "keep"),
    ("knew", "know"),
    ("known", "know"),
    ("led", "lead"),
    ("left", "leave"),
    ("lent", "lend"),
    ("lost", "lose"),
    ("made", "make"),
    ("meant", "mean"),
    ("men", "man"),
    ("met", "meet"),
    ("paid", "pay"),
    ("people", "person"),
    ("ran", "run"),
    ("said", "say"),
    ("sat", "sit"),
    ("saw", "see"),
    ("seen", "see"),
    ("sent", "send"),
    ("shook", "shake"),
    ("shown", "show"),
    ("sold", "sell"),
    ("spent", "spend"),
    ("spoke", "speak"),
    ("spoken", "speak"),
    ("stole", "steal"),
    ("stolen", "steal"),
    ("stood", "stand"),
    ("taken", "take"),
    ("taught", "teach"),
    ("teeth", "tooth"),
    ("thought", "think"),
    ("told", "tell"),
    ("took", "take"),
    ("understood", "understand"),
    ("went", "go"),
    ("women", "woman"),
    ("won", "win"),
    ("wore", "wear"),
    ("worn", "wear"),
    ("written", "write"),
    ("wrote", "write"),
];

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

fn strip_suffix(word: &str) -> String {
    for &(suffix, replacement, min_stem) in SUFFIXES {
        if let Some(base) = word.strip_suffix(suffix)
            && base.chars().count() >= min_stem
        {
            return format!("{base}{replacement}");
        }
    }
    // Plurals: "boxes", "matches", "wishes" lose "es"; "prices" and "hours" lose "s"; "class",
    // "status" and "analysis" keep theirs.
    if let Some(base) = word.strip_suffix("es")
        && base.chars().count() >= 3
        && (base.ends_with(['s', 'x', 'z']) || base.ends_with("ch") || base.ends_with("sh"))
    {
        return base.to_owned();
    }
    if let Some(base) = word.strip_suffix('s')
        && base.chars().count() >= 3
        && !base.ends_with(['s', 'u', 'i'])
    {
        return base.to_owned();
    }
    word.to_owned()
}

/// Character trigrams of a word, with `^` and `$` marking its edges so that beginnings and
/// endings count: "ship" gives "^sh", "shi", "hip", "ip$".
pub(crate) fn trigrams(word: &str) -> Vec<String> {
    let marked: Vec<char> = std::iter::once('^')
        .chain(word.chars())
        .chain(std::iter::once('$'))
        .collect();
    marked
        .windows(3)
        .map(|window| window.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(IRREGULAR_FORMS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(STOP_WORDS.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(is_stop_word("the") && is_stop_word("how") && !is_stop_word("refund"));
    }

    #[test]
    fn words_are_lower_cased_runs_of_letters_and_digits() {
        assert_eq!(
            words("Don't ship the customer's 2 BOXES—today!"),
            vec!["dont", "ship", "the", "customers", "2", "boxes", "today"]
        );
        assert_eq!(words("Café über 'quoted'"), vec!["café", "über", "quoted"]);
        assert!(words(" ... ").is_empty());
    }

    #[test]
    fn variants_share_a_stem() {
        let groups: &[&[&str]] = &[
            &[
                "ship",
                "ships",
                "shipped",
                "shipping",
                "shipment",
                "shipments",
            ],
            &["charge", "charges", "charged", "charging"],
            &["store", "stored", "storing", "stores"],
            &["cancel", "cancelled", "canceled", "cancelling", "cancels"],
            &["policy", "policies"],
            &["supply", "supplies", "supplied"],
            &["box", "boxes"],
            &["bill", "billing", "bills", "billed"],
            &["return", "returns", "returned", "returning"],
            &["price", "prices", "priced"],
        ];
        for group in groups {
            let stems: Vec<String> = group.iter().map(|w| stem(w)).collect();
            assert!(
                stems.iter().all(|s| *s == stems[0]),
                "{group:?} -> {stems:?}"
            );
        }
        assert_eq!(stem("paid"), stem("pay"));
        assert_eq!(stem("bought"), stem("buying"));
        assert_eq!(stem("broken"), stem("breaks"));
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("class"), "clas");
        assert_eq!(stem("2024s"), "2024s");
        assert_eq!(stem("tax"), "tax");
    }

    #[test]
    fn trigrams_mark_word_edges() {
        assert_eq!(trigrams("ship"), vec!["^sh", "shi", "hip", "ip$"]);
        assert_eq!(trigrams("a"), vec!["^a$"]);
    }
}
