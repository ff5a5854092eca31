//! How people name checks: one [`Selector`] for `--only`, `depends_on`, `[[maintenance]]
//! checks`, acknowledgements and `history --check`, so the five agree on what a word means.
//!
//! * `tag:x` is always the tag `x`;
//! * a bare word is a check's name, or a `[[server]]`'s name (all its ports); when no check
//!   or server is called that, it is the tag spelt the same (a name wins over a tag);
//! * an acknowledgement of several checks says `tag:` (a bare word acknowledges one check or
//!   one server's ports, never a tag, so a name added later cannot change what it covers).
//!
//! What selects nothing is an error, with the closest names and tags as a suggestion: a typo
//! must never quietly select nothing (`history --check "FHIR"` once said "No problems.").

use std::ops::Range;

use strsim::damerau_levenshtein;
use toml::Spanned;

use super::common::CheckMeta;

/// Names, server names and tags, as written; where it stands when it comes from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector {
    /// The word, trimmed, without `tag:`.
    word: String,
    /// Written `tag:word`.
    tag: bool,
    /// Its place in the file it comes from (none on the command line).
    pub span: Option<Range<usize>>,
}

impl Selector {
    /// A selector from the command line or a file (without its place).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (word, tag) = match text.strip_prefix("tag:") {
            Some(tag) => (tag.trim(), true),
            None => (text, false),
        };
        if word.is_empty() {
            return Err(match tag {
                true => "\"tag:\" needs a tag after it, like \"tag:lab\"".to_owned(),
                false => "an empty check name selects nothing; give a check's name, a server's name or tag:NAME".into(),
            });
        }
        Ok(Self { word: word.to_owned(), tag, span: None })
    }

    /// A selector from a file, with its place for errors.
    pub fn spanned(text: &Spanned<String>) -> Result<Self, String> {
        Self::parse(text.get_ref()).map(|s| Self { span: Some(text.span()), ..s })
    }

    /// As people wrote it (`tag:lab`, `PACS`).
    pub fn text(&self) -> String {
        match self.tag {
            true => format!("tag:{}", self.word),
            false => self.word.clone(),
        }
    }

    /// Whether this is `check`'s own name or its server's name (not a tag).
    pub fn names(&self, check: &CheckMeta) -> bool {
        !self.tag && (check.name == self.word || check.group.as_deref() == Some(self.word.as_str()))
    }

    /// The positions in `checks` this selects: by name or server name, else by tag (see the
    /// module's rules). Empty when it selects nothing.
    pub fn select<'a, I>(&self, checks: I) -> Vec<usize>
    where
        I: IntoIterator<Item = &'a CheckMeta>,
        I::IntoIter: Clone,
    {
        let checks = checks.into_iter();
        let by = |keep: &dyn Fn(&CheckMeta) -> bool| -> Vec<usize> {
            checks.clone().enumerate().filter(|(_, c)| keep(c)).map(|(i, _)| i).collect()
        };
        let has_tag = |c: &CheckMeta| c.tags.contains(&self.word);
        if self.tag {
            return by(&has_tag);
        }
        let named = by(&|c| self.names(c));
        if named.is_empty() {
            by(&has_tag)
        } else {
            named
        }
    }

    /// Like [`select`](Self::select), for an acknowledgement: a bare word names one check (or
    /// one server's ports) and never a tag. `Err` says why when it selects nothing.
    pub fn select_acknowledged<'a, I>(&self, checks: I, what: &str) -> Result<Vec<usize>, String>
    where
        I: IntoIterator<Item = &'a CheckMeta>,
        I::IntoIter: Clone,
    {
        let checks = checks.into_iter();
        let found = self.select(checks.clone());
        let only_a_tag = !self.tag && !found.is_empty() && !checks.clone().any(|c| self.names(c));
        match (found.is_empty(), only_a_tag) {
            (true, _) => Err(self.nothing_selected(checks, what)),
            (false, true) => Err(format!(
                "{what} {:?} is a tag, not a check: acknowledge several checks with \"tag:{}\"",
                self.word, self.word
            )),
            (false, false) => Ok(found),
        }
    }

    /// "{what} "pacs" matches no check's name, server name or tag; did you mean "PACS"?":
    /// the closest names (and tags) that `checks` offer, up to three.
    pub fn nothing_selected<'a>(&self, checks: impl IntoIterator<Item = &'a CheckMeta>, what: &str) -> String {
        let mut offered: Vec<String> = Vec::new();
        for c in checks {
            let words = match self.tag {
                true => c.tags.iter().map(|t| format!("tag:{t}")).collect(),
                false => {
                    // A server is offered by its name, not once per port (unless a port
                    // was written).
                    let mut w = match (&c.group, self.word.contains(':')) {
                        (Some(group), false) => vec![group.clone()],
                        _ => vec![c.name.clone()],
                    };
                    w.extend(c.tags.iter().cloned());
                    w
                }
            };
            for w in words {
                if !offered.contains(&w) {
                    offered.push(w);
                }
            }
        }
        let text = self.text();
        let kind = match self.tag {
            true => "matches no check's tag",
            false => "matches no check's name, server name or tag",
        };
        let near = closest_few(&text, &offered);
        match near.is_empty() {
            true => format!("{what} {text:?} {kind}"),
            false => {
                let quoted: Vec<String> = near.iter().map(|n| format!("{n:?}")).collect();
                format!("{what} {text:?} {kind}; did you mean {}?", quoted.join(" or "))
            }
        }
    }
}

/// Up to three of `valid` closest to `typo` (case is ignored), the closest first.
fn closest_few<'a>(typo: &str, valid: &'a [String]) -> Vec<&'a str> {
    let typo = typo.to_lowercase();
    let mut near: Vec<(bool, usize, &str)> = valid
        .iter()
        .map(|v| {
            let lower = v.to_lowercase();
            // "FHIR" for "FHIR API": a part of the name comes first.
            let part = lower.contains(&typo) || typo.contains(&lower);
            (!part, damerau_levenshtein(&typo, &lower), v.as_str())
        })
        .filter(|(far, d, v)| !far || *d <= (v.chars().count() / 3).max(1))
        .collect();
    near.sort_by_key(|(far, d, _)| (*far, *d));
    near.into_iter().take(3).map(|(_, _, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, group: Option<&str>, tags: &[&str]) -> CheckMeta {
        CheckMeta {
            name: name.into(),
            group: group.map(Into::into),
            tags: tags.iter().map(|t| (*t).into()).collect(),
            ..CheckMeta::default()
        }
    }

    fn clinic() -> Vec<CheckMeta> {
        vec![
            meta("lab", None, &[]),
            meta("LIS", None, &["lab"]),
            meta("pacs-01:104", Some("pacs-01"), &["imaging"]),
            meta("pacs-01:443", Some("pacs-01"), &["imaging"]),
            meta("FHIR API", None, &["ehr"]),
        ]
    }

    fn select(text: &str) -> Vec<usize> {
        Selector::parse(text).unwrap().select(&clinic())
    }

    #[test]
    fn a_name_wins_over_a_tag_and_tag_is_always_a_tag() {
        assert_eq!(select("lab"), [0], "the check named lab, not the checks tagged lab");
        assert_eq!(select("tag:lab"), [1]);
        assert_eq!(select("pacs-01"), [2, 3], "a server's name selects all its ports");
        assert_eq!(select("imaging"), [2, 3], "a bare tag, when nothing is named so");
        assert_eq!(select(" FHIR API "), [4]);
        assert!(select("FHIR").is_empty());
        assert!(select("tag:FHIR API").is_empty());
    }

    #[test]
    fn empty_selectors_are_refused() {
        assert!(Selector::parse("  ").is_err());
        assert!(Selector::parse("tag:").unwrap_err().contains("tag:lab"));
    }

    #[test]
    fn nothing_selected_suggests_the_closest_names() {
        let checks = clinic();
        let why = Selector::parse("FHIR").unwrap().nothing_selected(&checks, "--only");
        assert_eq!(why, "--only \"FHIR\" matches no check's name, server name or tag; did you mean \"FHIR API\"?");
        let why = Selector::parse("tag:imagin").unwrap().nothing_selected(&checks, "--only");
        assert!(why.ends_with("\"tag:imagin\" matches no check's tag; did you mean \"tag:imaging\"?"), "{why}");
        let why = Selector::parse("printer").unwrap().nothing_selected(&checks, "--only");
        assert!(!why.contains("did you mean"), "{why}");
    }

    #[test]
    fn an_acknowledgement_of_several_checks_needs_tag() {
        let checks = clinic();
        let ack = |t: &str| Selector::parse(t).unwrap().select_acknowledged(&checks, "the acknowledgement of");
        assert_eq!(ack("pacs-01").unwrap(), [2, 3]);
        assert_eq!(ack("tag:imaging").unwrap(), [2, 3]);
        assert!(ack("imaging").unwrap_err().contains("acknowledge several checks with \"tag:imaging\""));
        assert!(ack("pacs-02").unwrap_err().contains("did you mean \"pacs-01\""));
    }
}
