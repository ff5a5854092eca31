//! What may reach a report: secrets redacted, peer-supplied text made printable.
//!
//! Values that came from `${VAR}` in the inventory (tokens, passwords) are needed to probe
//! and must never be shown. Targets are built from the inventory's text (which holds
//! `${VAR}`, not the value), and every detail passes through [`Secrets::redact`] and then
//! [`printable`] before it leaves the runner: a server that echoes a token back, or sends
//! `ESC[2J` in an error text, reaches neither a terminal nor a cron mail.
//!
//! The rule: a value of [`MIN_SUBSTRING_SECRET`] characters or more is
//! replaced wherever it appears, in every form rounds or a peer may echo it in:
//! - raw, percent-encoded (hex digits in upper or lower case, any mix of encoded and plain
//!   characters), form-encoded (`+` for a space);
//! - JSON- or Debug-escaped (`\"`, `\\`, `\n`, `\u{1b}`, `\u001b`);
//! - inside base64 (HTTP basic authentication is `base64(user:password)`): the base64 of the
//!   value at each of the three byte alignments, and whole `user:password` pairs where the
//!   inventory names both.
//!
//! A shorter one would garble unrelated words ("e***ist") and reveal where it matched, so it
//! is replaced (in the same forms, base64 aside) only where it stands alone as a whole token,
//! and loading the inventory warns about it.

use std::fmt;

/// Shorter values are redacted only as whole tokens.
pub(crate) const MIN_SUBSTRING_SECRET: usize = 8;
/// A detail is one line a person reads; one plugin printing 100 KB must not make a 400 KB mail.
pub(crate) const MAX_DETAIL_CHARS: usize = 300;
const MARK: &str = "***";

/// The expanded values of every `${VAR}` the inventory used. `Debug` shows only a count.
#[derive(Clone, Default)]
pub(crate) struct Secrets {
    /// Replaced wherever they appear, in any encoding, longest first.
    values: Vec<String>,
    /// Replaced only as whole tokens.
    short: Vec<String>,
    /// `user:password` pairs given to HTTP basic authentication, as written.
    pairs: Vec<(String, String)>,
    /// Base64 forms (of `values` at each alignment, of whole `pairs`): replaced as they are.
    base64: Vec<String>,
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
            self.short.sort_by_key(|v| std::cmp::Reverse(v.len()));
            return true;
        }
        push_unique(&mut self.values, value.to_owned());
        for aligned in base64_inside(value.as_bytes()) {
            push_unique(&mut self.base64, aligned);
        }
        // Longest first, so a secret that contains another is replaced whole.
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        self.base64.sort_by_key(|v| std::cmp::Reverse(v.len()));
        false
    }

    /// Remembers that `user` and `password` travel together as HTTP basic authentication:
    /// their base64 is then hidden whole, even where the password alone is short.
    pub fn add_basic_auth(&mut self, user: &str, password: &str) {
        if password.is_empty() {
            return;
        }
        let pair = (user.to_owned(), password.to_owned());
        if !self.pairs.contains(&pair) {
            push_unique(&mut self.base64, base64(format!("{user}:{password}").as_bytes()));
            self.base64.sort_by_key(|v| std::cmp::Reverse(v.len()));
            self.pairs.push(pair);
        }
    }

    /// Takes in the secrets another file of the inventory expanded.
    pub fn extend(&mut self, other: Secrets) {
        for value in other.values.into_iter().chain(other.short) {
            self.add(&value);
        }
        for (user, password) in other.pairs {
            self.add_basic_auth(&user, &password);
        }
    }

    /// Replaces every secret value in `text`, in every form listed above, with `***`.
    pub fn redact(&self, text: &str) -> String {
        let encoded = self.base64.iter().fold(text.to_owned(), |acc, b64| acc.replace(b64.as_str(), MARK));
        let long = replace_encoded(&encoded, &self.values, false);
        replace_encoded(&long, &self.short, true)
    }
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// Replaces each of `secrets` (longest first) wherever it appears in `text` in any of the
/// encodings [`match_encoded`] reads; with `whole_tokens`, only where neither neighbour is a
/// letter or digit.
fn replace_encoded(text: &str, secrets: &[String], whole_tokens: bool) -> String {
    if secrets.is_empty() {
        return text.to_owned();
    }
    let is_word = |c: Option<char>| whole_tokens && c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < text.len() {
        let found = match is_word(text[..at].chars().next_back()) {
            true => None,
            false => secrets
                .iter()
                .filter_map(|secret| match_encoded(text, at, secret))
                .find(|&end| !is_word(text[end..].chars().next())),
        };
        match found {
            Some(end) => {
                out.push_str(MARK);
                at = end;
            }
            None => {
                let c = text[at..].chars().next().unwrap_or_default();
                out.push(c);
                at += c.len_utf8().max(1);
            }
        }
    }
    out
}

/// Where `secret` ends if it starts at byte `start` of `text`, written in any mix of: raw
/// characters, `%XX` (either case), `+` for a space, and the backslash escapes of JSON and
/// Rust's `Debug`. Every way of reading is followed (a `%` in the secret may be raw or
/// `%25`); the longest match wins.
fn match_encoded(text: &str, start: usize, secret: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    // Most positions start no form at all: decided without allocating.
    let first = *bytes.get(start)?;
    if !(secret.as_bytes().first() == Some(&first) || b"%+\\".contains(&first)) {
        return None;
    }
    let mut positions = vec![start];
    for c in secret.chars() {
        let mut next = Vec::new();
        for &p in &positions {
            for end in char_forms(bytes, p, c) {
                if !next.contains(&end) {
                    next.push(end);
                }
            }
        }
        if next.is_empty() {
            return None;
        }
        positions = next;
    }
    positions.into_iter().filter(|&end| text.is_char_boundary(end)).max()
}

/// The ends of every form of `c` that starts at byte `p` of `text`.
fn char_forms(text: &[u8], p: usize, c: char) -> Vec<usize> {
    let rest = &text[p.min(text.len())..];
    let mut ends = Vec::new();
    let mut utf8 = [0u8; 4];
    let raw = c.encode_utf8(&mut utf8).as_bytes();
    if rest.starts_with(raw) {
        ends.push(p + raw.len());
    }
    if let Some(n) = percent_encoded_len(rest, raw) {
        ends.push(p + n);
    }
    if c == ' ' && rest.first() == Some(&b'+') {
        ends.push(p + 1);
    }
    if let Some((decoded, n)) = unescape(rest) {
        if decoded == c {
            ends.push(p + n);
        }
    }
    ends
}

/// The length of `raw`'s bytes written as `%XX` each (hex in either case) at the start of `text`.
fn percent_encoded_len(text: &[u8], raw: &[u8]) -> Option<usize> {
    for (i, &byte) in raw.iter().enumerate() {
        let triple = text.get(i * 3..i * 3 + 3)?;
        if triple[0] != b'%' || hex_value(&triple[1..])? != u32::from(byte) {
            return None;
        }
    }
    Some(raw.len() * 3)
}

/// The character a JSON or Rust `Debug` escape at the start of `text` stands for, and its length.
fn unescape(text: &[u8]) -> Option<(char, usize)> {
    if text.first() != Some(&b'\\') {
        return None;
    }
    let simple = match text.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'\'' => '\'',
        b'/' => '/',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'0' => '\0',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'u' => return unescape_unicode(&text[2..]).map(|(c, n)| (c, n + 2)),
        _ => return None,
    };
    Some((simple, 2))
}

/// `{1b}` (Rust) or `001b` (JSON) after a `\u`.
fn unescape_unicode(text: &[u8]) -> Option<(char, usize)> {
    let (hex, len) = if text.first() == Some(&b'{') {
        let close = text.iter().take(8).position(|&b| b == b'}')?;
        (&text[1..close], close + 1)
    } else {
        (text.get(..4)?, 4)
    };
    Some((char::from_u32(hex_value(hex)?)?, len))
}

/// Hex digits (either case, nothing else: no sign) as a number.
fn hex_value(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 6 {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648), as HTTP basic authentication uses it.
pub(crate) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [group[0], group.get(1).copied().unwrap_or(0), group.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The base64 text that appears inside the base64 of *any* bytes holding `secret`, for each
/// of the three alignments it may start at: the whole 3-byte groups of the secret only, so
/// it does not depend on the bytes around it ("user:" before a password).
fn base64_inside(secret: &[u8]) -> Vec<String> {
    (0..3)
        .filter_map(|skip| {
            let rest = secret.get(skip..)?;
            let whole = rest.len() / 3 * 3;
            // Two groups (8 characters) at least, or the text could match by chance.
            (whole >= 6).then(|| base64(&rest[..whole]))
        })
        .collect()
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

/// `%XX` sequences turned back into bytes (invalid UTF-8 shown as U+FFFD); the rest as is.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i + 1..i + 3).and_then(hex_value).filter(|_| bytes[i] == b'%') {
            Some(byte) => {
                out.push(byte as u8);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

    /// The forms a peer may echo `secret` in: raw, percent-encoded (upper- and lower-case
    /// hex), form-encoded, JSON- and Debug-escaped.
    fn echoed_forms(secret: &str) -> Vec<String> {
        let lower: String = secret.bytes().map(|b| format!("%{b:02x}")).collect();
        vec![
            secret.to_owned(),
            percent_encode(secret),
            lower,
            secret.replace(' ', "+"),
            serde_json::to_string(secret).unwrap_or_default(),
            format!("{secret:?}"),
        ]
    }

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

    /// Every form a secret may take in a URL, a form, a JSON text or a Rust `Debug` text.
    #[test]
    fn every_encoding_of_a_secret_is_redacted() {
        let secret = "p@ss w\"rd/\\é%7";
        let mut s = Secrets::default();
        s.add(secret);
        let mixed = "p%40ss%20w%22rd/%5c%C3%A9%257";
        for form in echoed_forms(secret).into_iter().chain([mixed.to_owned()]) {
            let shown = s.redact(&format!("before {form} after"));
            assert!(!shown.contains(&form), "{form} -> {shown}");
            assert!(shown.starts_with("before ") && shown.ends_with(" after") && shown.contains(MARK), "{shown}");
        }
    }

    #[test]
    fn json_unicode_escapes_are_read_too() {
        let mut s = Secrets::default();
        s.add("control\u{1b}-in-secret");
        assert_eq!(s.redact("x control\\u001b-in-secret y"), "x *** y");
        assert_eq!(s.redact("x control\\u{1b}-in-secret y"), "x *** y");
    }

    #[test]
    fn basic_authentication_is_redacted_whole_when_the_pair_is_known() {
        let mut s = Secrets::default();
        s.add("canary-password");
        s.add_basic_auth("admin", "canary-password");
        let header = format!("Authorization: Basic {}", base64(b"admin:canary-password"));
        assert_eq!(s.redact(&header), "Authorization: Basic ***");
    }

    /// Without the user name, the password's base64 is still hidden inside any base64 text,
    /// whatever precedes it: at most two bytes of each end can stay.
    #[test]
    fn a_password_inside_base64_is_redacted_at_every_alignment() {
        let mut s = Secrets::default();
        s.add("canary-password");
        for user in ["", "a", "ab", "abc", "unknown-user"] {
            let encoded = base64(format!("{user}:canary-password").as_bytes());
            let shown = s.redact(&encoded);
            assert!(shown.contains(MARK) && shown.len() <= 3 + 8 + base64(user.as_bytes()).len(), "{user}: {shown}");
        }
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }

    #[test]
    fn text_that_only_looks_like_an_encoding_is_left_alone() {
        let mut s = Secrets::default();
        s.add("secret-value-1");
        assert_eq!(
            s.redact("100% done, +5 \\ \\u{zz} %+1 secret-value-2"),
            "100% done, +5 \\ \\u{zz} %+1 secret-value-2"
        );
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
    fn a_short_secret_is_redacted_in_its_encodings_too() {
        let mut s = Secrets::default();
        s.add("p@ss");
        assert_eq!(s.redact("login?user=a&pw=p%40ss&x=1"), "login?user=a&pw=***&x=1");
        assert_eq!(s.redact("{\"pw\":\"p@ss\"}"), "{\"pw\":\"***\"}");
        assert_eq!(s.redact("p%40ssword"), "p%40ssword");
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
        /// Fuzzing: any secret, in any of its forms, inside any text, is gone after redaction.
        #[test]
        fn fuzz_every_form_is_redacted(text in "\\PC{0,40}", secret in "[ -~é]{8,20}", user in "[a-z]{0,6}") {
            let mut s = Secrets::default();
            s.add(&secret);
            s.add_basic_auth(&user, &secret);
            for form in echoed_forms(&secret).into_iter().chain([base64(format!("{user}:{secret}").as_bytes())]) {
                let shown = s.redact(&format!("{text}{form}{text}"));
                proptest::prop_assert!(!shown.contains(&form), "{} -> {}", form, shown);
            }
        }

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
