//! Values that came from `${VAR}` in the inventory: tokens and passwords.
//!
//! They are needed to probe, and must never be shown. Targets are built from the inventory's
//! text (which holds `${VAR}`, not the value), and every detail line passes through
//! [`Secrets::redact`] before it leaves the runner, so a server that echoes a token back in an
//! error page or a redirect cannot leak it into a report or a cron mail.

/// The expanded values of every `${VAR}` the inventory used.
#[derive(Debug, Clone, Default)]
pub(crate) struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    pub fn add(&mut self, value: String) {
        if !value.is_empty() && !self.values.contains(&value) {
            self.values.push(value);
            // Longest first, so a secret that contains another is replaced whole.
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// Replaces every secret value in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        self.values.iter().fold(text.to_owned(), |acc, secret| acc.replace(secret.as_str(), "***"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_occurrence_longest_first() {
        let mut s = Secrets::default();
        s.add("abc".into());
        s.add("abcdef".into());
        assert_eq!(s.redact("x abcdef y abc"), "x *** y ***");
    }

    #[test]
    fn empty_values_are_ignored() {
        let mut s = Secrets::default();
        s.add(String::new());
        assert_eq!(s.redact("text"), "text");
    }
}
