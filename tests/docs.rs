//! Every inventory example in the README and docs/ is one `rounds validate` accepts, so a
//! newcomer who copies one gets a working start, not a config error.
//!
//! Each ```toml block is validated on its own, in a folder of its own, with what it names
//! from outside made real: its `${VAR}`s and `env` names set, the certificate files it
//! points at present, its `include` patterns matching a file. A block that defines no check
//! (a `[settings]` or `[[maintenance]]` example) gets one plain `[[disk]]` check beside it.

mod support;

use std::path::{Path, PathBuf};

/// The Markdown files whose examples are promised to work.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// What a ```toml block is an example of.
#[derive(Clone, Copy, PartialEq)]
enum Example {
    /// ```toml: an inventory (or a part of one).
    Inventory,
    /// ```toml acks.toml: an acknowledgements file.
    Acks,
}

/// (line of the opening fence, what it shows, block text) for every ```toml block.
fn toml_blocks(markdown: &str) -> Vec<(usize, Example, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Example, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        match (&mut open, line.trim_end()) {
            (None, "```toml") => open = Some((index + 1, Example::Inventory, String::new())),
            (None, "```toml acks.toml") => open = Some((index + 1, Example::Acks, String::new())),
            (Some(_), "```") => blocks.extend(open.take()),
            (Some((_, _, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The names in `${NAME}` and in `env = ["NAME", ...]`.
fn variables(block: &str) -> Vec<String> {
    let mut names: Vec<String> =
        block.split("${").skip(1).filter_map(|rest| rest.split_once('}')).map(|(name, _)| name.to_owned()).collect();
    let parsed: toml::Table = block.parse().unwrap_or_default();
    for tables in parsed.values().filter_map(|v| v.as_array()) {
        for env in tables.iter().filter_map(|t| t.get("env")).filter_map(|e| e.as_array()) {
            names.extend(env.iter().filter_map(|v| v.as_str()).map(str::to_owned));
        }
    }
    names
}

/// Writes the block into `dir` with the files it refers to, and returns the inventory's path.
fn lay_out(dir: &Path, block: &str) -> PathBuf {
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/certs/clinic-ca.pem");
    for word in block.split('"').filter(|w| w.starts_with("certs/") && w.ends_with(".pem")) {
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        std::fs::copy(&ca, dir.join(word)).unwrap();
    }
    let parsed: toml::Table = block.parse().unwrap_or_else(|e| panic!("not TOML: {e}\n{block}"));
    for pattern in parsed.get("include").and_then(|i| i.as_array()).into_iter().flatten().filter_map(|p| p.as_str()) {
        let file = dir.join(pattern.replace('*', "example"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "[[disk]]\nname = \"included example\"\npath = \"/\"\n").unwrap();
    }
    let kinds_with_checks = parsed
        .iter()
        .filter(|(key, value)| !["settings", "maintenance", "notify"].contains(&key.as_str()) && value.is_array());
    let mut text = block.to_owned();
    if kinds_with_checks.count() == 0 && parsed.get("include").is_none() {
        text.push_str("\n[[disk]]\nname = \"docs example disk\"\npath = \"/\"\n");
    }
    let path = dir.join("checks.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// An acks.toml example beside an inventory that has the checks it names.
fn acks_with_their_checks(dir: &Path, block: &str) -> PathBuf {
    let parsed: toml::Table = block.parse().unwrap_or_else(|e| panic!("not TOML: {e}\n{block}"));
    let mut inventory = String::new();
    for ack in parsed.get("ack").and_then(|a| a.as_array()).into_iter().flatten() {
        let name = ack.get("check").and_then(|c| c.as_str()).expect("an [[ack]] names its check");
        inventory.push_str(&format!("[[disk]]\nname = {name:?}\npath = \"/\"\n\n"));
    }
    std::fs::write(dir.join("acks.toml"), block).unwrap();
    let path = dir.join("checks.toml");
    std::fs::write(&path, inventory).unwrap();
    path
}

#[test]
fn every_inventory_example_in_the_docs_validates() {
    let mut failures = Vec::new();
    let mut count = 0;
    for document in documents() {
        let markdown = std::fs::read_to_string(&document).unwrap();
        for (line, example, block) in toml_blocks(&markdown) {
            count += 1;
            let dir = tempfile::tempdir().unwrap();
            let mut command = support::rounds();
            match example {
                Example::Inventory => command.arg("validate").arg("-c").arg(lay_out(dir.path(), &block)),
                Example::Acks => command.arg("validate").arg("-c").arg(acks_with_their_checks(dir.path(), &block)),
            };
            for name in variables(&block) {
                // A notifier's `${..._URL}` holds a whole URL; a database's `${..._DB_URL}` its own.
                match (name.ends_with("_DB_URL"), name.ends_with("_URL")) {
                    (true, _) => command.env(name, "postgres://rounds:docs-example-value-0123@db.example.invalid/lab"),
                    (false, true) => command.env(name, "https://hooks.example.invalid/docs-example-value-0123"),
                    (false, false) => command.env(name, "docs-example-value-0123"),
                };
            }
            let output = command.output().unwrap();
            if !output.status.success() {
                let name = document.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&document).display().to_string();
                failures.push(format!("{name}:{line}: {}", String::from_utf8_lossy(&output.stderr).trim()));
            }
        }
    }
    assert!(count >= 20, "found only {count} examples: did the docs move?");
    assert!(failures.is_empty(), "examples that do not validate:\n{}", failures.join("\n"));
}
