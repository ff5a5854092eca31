//! What may reach a report: secrets redacted, peer-supplied text made printable.
//!
//! Values that came from `${VAR}` in the inventory (tokens, passwords) are needed to probe
//! and must never be shown. Targets are built from the inventory's text (which holds
//! `${VAR}`, not the value), and every detail passes through [`Secrets::redact`] and then
//! [`printable`] before it leaves the runner: a server that echoes a token back, or sends
//! `ESC[2J` in an error text, reaches neither a terminal nor a cron mail.
//!
//! The rule for short values: a value of [`MIN_SUBSTRING_SECRET`] characters or more is
//! replaced wherever it appears (also percent-encoded, as it travels in URLs). A shorter one
//! would garble unrelated words ("e***ist") and reveal where it matched, so it is replaced
//! only where it stands alone as a whole token, and loading the inventory warns about it.

use std::fmt;

/// Shorter values are redacted only as whole tokens.
pub(crate) const MIN_SUBSTRING_SECRET: usize = 8;
/// A detail is one line a person reads; one plugin printing 100 KB must not make a 400 KB mail.
pub(crate) const MAX_DETAIL_CHARS: usize = 300;
const MARK: &str = "***";

/// The expanded values of every `${VAR}` the inventory used. `Debug` shows only a count.
#[derive(Clone, Default)]
pub(crate) struct Secrets {
    /// Replaced wherever they appear, longest first.
    values: Vec<String>,
    /// Replaced only as whole tokens.
    short: Vec<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} values, not shown)", self.values.len() + self.short.len())
    }
}

impl Secrets {
    /// Remembers `value`; true when it is short enough to deserve a warning.
    pub fn add(&mut self, value: &str) -> bool {
        if value.is_empty() {
            return false;
        }
        if value.chars().count() < MIN_SUBSTRING_SECRET {
            push_unique(&mut self.short, value.to_owned());
            return true;
        }
        push_unique(&mut self.values, value.to_owned());
        let encoded = percent_encode(value);
        if encoded != value {
            push_unique(&mut self.values, encoded);
        }
        // Longest first, so a secret that contains another is replaced whole.
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        false
    }

    /// Takes in the secrets another file of the inventory expanded.
    pub fn extend(&mut self, other: Secrets) {
        for value in other.values.into_iter().chain(other.short) {
            self.add(&value);
        }
    }

    /// Replaces every secret value in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        let long = self.values.iter().fold(text.to_owned(), |acc, secret| acc.replace(secret.as_str(), MARK));
        self.short.iter().fold(long, |acc, secret| replace_whole_tokens(&acc, secret))
    }
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// Every byte but RFC 3986's unreserved characters, percent-encoded: the form a value takes
/// in any part of a URL.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Replaces `token` where neither neighbour is a letter or digit.
fn replace_whole_tokens(text: &str, token: &str) -> String {
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(token) {
        let before = rest[..at].chars().next_back().or_else(|| out.chars().next_back());
        let after = rest[at + token.len()..].chars().next();
        out.push_str(&rest[..at]);
        if is_word(before) || is_word(after) {
            out.push_str(token);
        } else {
            out.push_str(MARK);
        }
        rest = &rest[at + token.len()..];
    }
    out.push_str(rest);
    out
}

/// Text from a peer, a plugin or the inventory, made safe for a terminal and a mail: every
/// control character escaped (`\u{1b}`), and at most `max_chars` characters (then "...").
/// Invalid UTF-8 has already become U+FFFD wherever bytes were decoded, visibly.
pub(crate) fn printable(text: &str, max_chars: usize) -> String {
    let mut out: Vec<char> = Vec::with_capacity(text.len().min(max_chars.saturating_add(8)));
    for c in text.chars() {
        if must_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        if out.len() > max_chars {
            out.truncate(max_chars.saturating_sub(3));
            out.extend("...".chars());
            break;
        }
    }
    out.into_iter().collect()
}

/// Characters no output shows as they are: controls (C0, DEL, C1), the bidirectional
/// embeddings, overrides and isolates that reorder a line (U+202A-U+202E, U+2066-U+2069),
/// the line and paragraph separators (U+2028, U+2029), and the noncharacters U+FFFE and
/// U+FFFF, which XML 1.0 forbids.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_occurrence_longest_first() {
        let mut s = Secrets::default();
        s.add("abcdefgh");
        s.add("abcdefghijk");
        assert_eq!(s.redact("x abcdefghijk y abcdefgh"), "x *** y ***");
    }

    #[test]
    fn percent_encoded_forms_are_redacted_too() {
        let mut s = Secrets::default();
        s.add("p@ss/w=rd-long");
        assert_eq!(s.redact("at https://h/?t=p%40ss%2Fw%3Drd-long"), "at https://h/?t=***");
    }

    #[test]
    fn a_short_secret_is_redacted_only_as_a_whole_token() {
        let mut s = Secrets::default();
        assert!(s.add("x"), "a short value deserves a warning");
        assert_eq!(s.redact("path does not exist"), "path does not exist");
        assert_eq!(s.redact("token x rejected"), "token *** rejected");
        assert_eq!(s.redact("x"), "***");
    }

    #[test]
    fn empty_values_are_ignored() {
        let mut s = Secrets::default();
        s.add("");
        assert_eq!(s.redact("text"), "text");
    }

    #[test]
    fn debug_never_shows_a_value() {
        let mut s = Secrets::default();
        s.add("canary-secret-value");
        assert!(!format!("{s:?}").contains("canary"));
    }

    #[test]
    fn control_characters_are_escaped_and_long_text_is_cut() {
        assert_eq!(printable("a\u{1b}[2Jb\r\n", 300), "a\\u{1b}[2Jb\\r\\n");
        let long = "x".repeat(1000);
        let cut = printable(&long, 300);
        assert_eq!(cut.chars().count(), 300);
        assert!(cut.ends_with("..."));
        assert_eq!(printable("short", 300), "short");
    }

    #[test]
    fn bidirectional_controls_line_separators_and_xml_noncharacters_are_escaped() {
        let shown = printable("a\u{202e}b\u{2066}c\u{2069}d\u{2028}e\u{2029}f\u{fffe}g\u{ffff}", 300);
        assert_eq!(shown, "a\\u{202e}b\\u{2066}c\\u{2069}d\\u{2028}e\\u{2029}f\\u{fffe}g\\u{ffff}");
        assert_eq!(printable("Zürich – 日本", 300), "Zürich – 日本");
    }

    proptest::proptest! {
        /// Fuzzing: redaction and escaping take any text; a long secret never survives.
        #[test]
        fn fuzz_redaction_and_printable(text in "\\PC{0,200}", secret in "[!-~]{8,20}") {
            let mut s = Secrets::default();
            s.add(&secret);
            let shown = printable(&s.redact(&format!("{text}{secret}{text}")), MAX_DETAIL_CHARS);
            proptest::prop_assert!(!shown.contains(&secret));
            proptest::prop_assert!(shown.chars().count() <= MAX_DETAIL_CHARS);
            proptest::prop_assert!(!shown.chars().any(must_escape));
        }
    }
}
