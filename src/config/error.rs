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
        let message = with_suggestion(err.message().trim_end());
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

fn locate(source: &str, span: Range<usize>) -> Location {
    let start = span.start.min(source.len());
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
    let text = source[line_start..line_end].trim_end_matches('\r');
    let column = source[line_start..start].chars().count() + 1;
    let width = source[start..span.end.clamp(start, line_end)].chars().count();
    Location { line: source[..start].matches('\n').count() + 1, column, text: text.to_owned(), width }
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

fn closest<'a>(typo: &str, valid: &[&'a str]) -> Option<&'a str> {
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
    fn points_at_line_and_column() {
        let src = "a = 1\nbb = \"x\"\n";
        let e = ConfigError::at(Path::new("c.toml"), src, 11..14, "bad");
        let loc = e.location.clone().unwrap();
        assert_eq!((loc.line, loc.column, loc.width), (2, 6, 3));
        assert!(e.to_string().starts_with("c.toml:2:6: bad\n"), "{e}");
    }
}
