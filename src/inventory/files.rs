//! The files of an inventory: reading one safely, and finding the ones it includes.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::config::ConfigError;

/// An inventory larger than this is not one a person wrote (or `-c /dev/zero`).
pub(crate) const MAX_INVENTORY_BYTES: u64 = 16 * 1024 * 1024;

/// The inventory's text: a regular file, at most [`MAX_INVENTORY_BYTES`], UTF-8 (a byte
/// order mark is accepted and dropped; CRLF line ends are fine for TOML).
pub(super) fn read_source(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let whole = |why: String| ConfigError::whole_file(path, why);
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => whole("no such file (give another with --config or ROUNDS_CONFIG)".into()),
        _ => whole(format!("cannot read: {e}")),
    })?;
    if meta.is_dir() {
        return Err(whole("is a folder, not an inventory file".into()));
    }
    if !meta.is_file() {
        return Err(whole("is not a regular file (a device, a FIFO or a socket); give the inventory file".into()));
    }
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).map_err(|e| whole(format!("cannot read: {e}")))?;
    file.take(MAX_INVENTORY_BYTES + 1).read_to_end(&mut bytes).map_err(|e| whole(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_INVENTORY_BYTES {
        return Err(whole(format!("is larger than {}: not an inventory", crate::human::size(MAX_INVENTORY_BYTES))));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").map(<[u8]>::to_vec).unwrap_or(bytes);
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes());
        // Up to the bad byte the lossy text is the same, so the offset is right for it.
        ConfigError::at(path, &text, good..good + 1, "this is not UTF-8 text; save the inventory as UTF-8")
    })
}

/// One file of the inventory: the top file, or one it includes.
pub(super) struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(&self.path, &self.text, span, message)
    }

    pub fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].matches('\n').count() + 1
    }
}

/// The files `include = ["sites/*.toml"]` names (globs relative to the including file), in
/// a stable order, with their text. A pattern that matches nothing is an error: a typo must
/// not silently drop a site.
pub(super) fn included(
    path: &Path,
    source: &str,
    patterns: &[toml::Spanned<String>],
) -> Result<Vec<(PathBuf, String)>, ConfigError> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut found = Vec::new();
    for pattern in patterns {
        let full = dir.join(pattern.get_ref());
        let paths = glob::glob(&full.to_string_lossy()).map_err(|e| {
            ConfigError::at(path, source, pattern.span(), format!("invalid include pattern: {}", e.msg))
        })?;
        let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.as_path() != path).collect();
        matched.sort();
        if matched.is_empty() {
            return Err(ConfigError::at(
                path,
                source,
                pattern.span(),
                format!("include {:?} matches no file", pattern.get_ref()),
            ));
        }
        for file in matched {
            if !found.iter().any(|(p, _)| *p == file) {
                let text = read_source(&file)?;
                found.push((file, text));
            }
        }
    }
    Ok(found)
}

/// Where a `[settings]` table stands in `text`, if it has one: parsed, so a comment or a
/// string that mentions `[settings]` is no table.
pub(super) fn settings_table(text: &str) -> Option<Range<usize>> {
    #[derive(serde::Deserialize)]
    struct Top {
        settings: Option<toml::Spanned<toml::Value>>,
    }
    let settings = toml::from_str::<Top>(text).ok()?.settings?;
    // The table's span starts at its header (or at its first key, depending on how it is
    // written): point at the header when there is one before it.
    let start = settings.span().start;
    let header = text[..start.min(text.len())].rfind("[settings]").filter(|at| {
        let line_start = text[..*at].rfind('\n').map_or(0, |i| i + 1);
        text[line_start..*at].trim().is_empty()
    });
    Some(header.map_or(settings.span(), |at| at..at + "[settings]".len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_found_by_parsing_not_by_searching() {
        let comment = "# timeouts come from [settings] in main.toml\n[[disk]]\nname = \"d\"\npath = \"/\"\n";
        assert_eq!(settings_table(comment), None);
        let table = "[[disk]]\nname = \"d\"\npath = \"/\"\n\n[settings]\ntimeout = \"5s\"\n";
        let at = settings_table(table).unwrap();
        assert_eq!(&table[at], "[settings]");
        assert!(settings_table("settings = { timeout = \"5s\" }\n").is_some());
    }
}
