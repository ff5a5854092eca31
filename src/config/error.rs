//! Config errors that point at the exact place in the inventory, like a compiler does.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Something wrong with the inventory: where it is, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    pub path: PathBuf,
    /// 1-based line and column, when the error has a place in the file.
    pub location: Option<Location>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    pub line: usize,
    pub column: usize,
    /// The offending line, shown under the message with a caret.
    pub text: String,
    pub width: usize,
}

impl ConfigError {
    /// An error about the file as a whole (unreadable, empty...).
    pub fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        Self { path: path.to_owned(), location: None, message: message.into() }
    }

    /// An error at a byte span of `source`.
    pub fn at(path: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        Self { path: path.to_owned(), location: Some(locate(source, span)), message: message.into() }
    }

    /// Turns toml's parse or type error into ours, adding "did you mean" for a misspelt key.
    pub fn from_toml(path: &Path, source: &str, err: &toml::de::Error) -> Self {
        let raw = err.message().trim_end();
        let key = err.span().and_then(|span| key_at(source, span.start));
        let message = key.and_then(|k| in_words(raw, k)).unwrap_or_else(|| with_suggestion(raw));
        match err.span() {
            Some(span) => Self::at(path, source, span, message),
            None => Self::whole_file(path, message),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.location {
            None => write!(f, "{path}: {}", self.message),
            Some(loc) => {
                writeln!(f, "{path}:{}:{}: {}", loc.line, loc.column, self.message)?;
                let gutter = loc.line.to_string().len();
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{} | {}", loc.line, loc.text)?;
                write!(f, "{:gutter$} | {:>col$}{}", "", "", "^".repeat(loc.width.max(1)), col = loc.column - 1)
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// The nearest character boundary at or before `offset` (spans may come from byte offsets).
fn boundary(source: &str, offset: usize) -> usize {
    let mut at = offset.min(source.len());
    while !source.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn locate(source: &str, span: Range<usize>) -> Location {
    let start = boundary(source, span.start);
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
    let text = source[line_start..line_end].trim_end_matches('\r');
    let column = source[line_start..start].chars().count() + 1;
    let end = boundary(source, span.end.clamp(start, line_end));
    let width = source[start..end].chars().count().max(1);
    Location { line: source[..start].matches('\n').count() + 1, column, text: text.to_owned(), width }
}

/// The key whose value starts at `offset`: the text before `=` on that line.
fn key_at(source: &str, offset: usize) -> Option<&str> {
    let start = boundary(source, offset);
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = source[line_start..start].split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.contains(['[', '{'])).then_some(key)
}

/// serde's type errors ("invalid type: string \"443\", expected a sequence") in words a
/// specialist understands, with an example of what to write.
fn in_words(message: &str, key: &str) -> Option<String> {
    let (found, expected) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))?
        .split_once(", expected ")?;
    let wanted = match key {
        "ports" => "a list of port numbers from 1 to 65535, like [443]".to_owned(),
        "port" => "a port number from 1 to 65535, like 443".to_owned(),
        "expect_status" => "a list of HTTP status codes, like [200, 204]".to_owned(),
        "tags" => "a list of words, like [\"ehr\", \"lab\"]".to_owned(),
        "run" => {
            "a list: the program, then its arguments, like [\"/usr/lib/nagios/plugins/check_disk\", \"-w\", \"10%\"]"
                .to_owned()
        }
        "env" => "a list of environment variable names, like [\"PGPASSWORD\"]".to_owned(),
        "expect" => "a list of IP addresses, like [\"10.0.0.10\"]".to_owned(),
        _ => match expected {
            "a sequence" => format!("a list, like {key} = [...]"),
            "a string" => format!("text in quotes, like {key} = \"...\""),
            "a boolean" => "true or false".to_owned(),
            "u8" | "u16" | "u32" | "u64" | "usize" | "i64" | "an integer" => "a whole number".to_owned(),
            "f64" | "a float" => "a number, like 2.0".to_owned(),
            "a map" | "struct" => format!("a table, like {key} = {{ ... }}"),
            _ => return None,
        },
    };
    let found = found.replace('`', "");
    Some(format!("{key} must be {wanted} (found {found})"))
}

/// serde names the unknown word and the valid ones in backticks: "unknown field `urll`,
/// expected one of `name`, `url`, ...". The closest valid word becomes a suggestion.
fn with_suggestion(message: &str) -> String {
    let is_unknown = message.starts_with("unknown field") || message.starts_with("unknown variant");
    let words: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let suggestion = match words.split_first() {
        Some((typo, valid)) if is_unknown => closest(typo, valid),
        _ => None,
    };
    match suggestion {
        Some(s) => format!("{message}; did you mean `{s}`?"),
        None => message.to_owned(),
    }
}

/// The valid word closest to `typo`, if any is close enough to suggest.
pub(crate) fn closest<'a>(typo: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (strsim::damerau_levenshtein(&typo.to_lowercase(), &v.to_lowercase()), *v))
        .filter(|(d, v)| *d <= (v.len() / 3).max(1) + 1)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_say_what_to_write() {
        let src = "ports = \"443\"\n";
        assert_eq!(key_at(src, 8), Some("ports"));
        assert_eq!(
            in_words("invalid type: string \"443\", expected a sequence", "ports").as_deref(),
            Some("ports must be a list of port numbers from 1 to 65535, like [443] (found string \"443\")")
        );
        assert_eq!(
            in_words("invalid type: string \"yes\", expected a boolean", "ping").as_deref(),
            Some("ping must be true or false (found string \"yes\")")
        );
        assert_eq!(in_words("unknown field `x`", "x"), None);
    }

    #[test]
    fn suggests_the_closest_key() {
        let m = with_suggestion("unknown field `urll`, expected one of `name`, `url`, `method`");
        assert!(m.ends_with("did you mean `url`?"), "{m}");
    }

    #[test]
    fn suggestions_ignore_case() {
        let m = with_suggestion("unknown variant `get`, expected `GET` or `HEAD`");
        assert!(m.ends_with("did you mean `GET`?"), "{m}");
    }

    #[test]
    fn suggests_nothing_when_nothing_is_close() {
        let m = with_suggestion("unknown field `colour`, expected `name` or `url`");
        assert!(!m.contains("did you mean"), "{m}");
    }

    #[test]
    fn spans_inside_a_character_never_panic() {
        let src = "name = \"caf\u{fffd}\"\n";
        let loc = locate(src, 12..13);
        assert_eq!((loc.line, loc.column), (1, 12));
        assert_eq!(key_at(src, 13), Some("name"));
    }

    #[test]
    fn points_at_line_and_column() {
        let src = "a = 1\nbb = \"x\"\n";
        let e = ConfigError::at(Path::new("c.toml"), src, 11..14, "bad");
        let loc = e.location.clone().unwrap();
        assert_eq!((loc.line, loc.column, loc.width), (2, 6, 3));
        assert!(e.to_string().starts_with("c.toml:2:6: bad\n"), "{e}");
    }
}
