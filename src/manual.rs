//! `rounds man`: one manual page that names no page that does not exist.
//!
//! clap_mangen's own page lists subcommands as `rounds-ack(1)` and so on, pages that a
//! `rounds man > rounds.1` never installs. This page instead carries every subcommand's
//! synopsis and options as sections of `rounds(1)`, and the inventory's reference (the same
//! `docs/inventory.md` the repository shows) as its INVENTORY section, so `man rounds` alone
//! answers both "which flag" and "which key".

use clap::CommandFactory;

use crate::cli::Cli;

/// The inventory reference, kept in one place: the Markdown the repository shows.
const INVENTORY: &str = include_str!("../docs/inventory.md");

/// The whole page, in roff.
pub fn render() -> std::io::Result<Vec<u8>> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let page = clap_mangen::Man::new(command.clone());
    let mut out = Vec::new();
    page.render_title(&mut out)?;
    page.render_name_section(&mut out)?;
    page.render_synopsis_section(&mut out)?;
    page.render_description_section(&mut out)?;
    page.render_options_section(&mut out)?;
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.extend_from_slice(subcommand_section(sub)?.as_bytes());
    }
    page.render_extra_section(&mut out)?;
    out.extend_from_slice(b".SH INVENTORY\n");
    out.extend_from_slice(markdown_to_roff(INVENTORY).as_bytes());
    out.extend_from_slice(
        b".SH FILES\n.TP\n\\fBchecks.toml\\fR\nthe inventory (\\fB-c\\fR, \\fBROUNDS_CONFIG\\fR)\n\
          .TP\n\\fBacks.toml\\fR\nacknowledgements, beside the inventory\n\
          .TP\n\\fB$XDG_STATE_HOME/rounds/\\fR\nthe state between runs and the run log\n",
    );
    page.render_version_section(&mut out)?;
    Ok(out)
}

/// A subcommand's synopsis and options, as subsections of the one page.
fn subcommand_section(sub: &clap::Command) -> std::io::Result<String> {
    let page = clap_mangen::Man::new(sub.clone());
    let mut roff = Vec::new();
    page.render_synopsis_section(&mut roff)?;
    if sub.get_arguments().any(|a| !a.is_hide_set() && !a.is_global_set()) {
        page.render_options_section(&mut roff)?;
    }
    let roff = String::from_utf8_lossy(&roff);
    // Sections of the subcommand become subsections of COMMANDS.
    let body: String = roff.lines().filter(|l| !l.starts_with(".SH")).map(|l| format!("{l}\n")).collect();
    let about = sub.get_about().map(|a| escape(&a.to_string())).unwrap_or_default();
    Ok(format!(".SS \"rounds {}\"\n{about}\n.PP\n{body}", sub.get_name()))
}

/// The subset of Markdown the docs use: headings, paragraphs, fenced code, tables, lists,
/// inline code and bold, links (their text only).
fn markdown_to_roff(markdown: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.starts_with("```") {
            out.push_str(if in_code { ".fi\n.RE\n" } else { ".PP\n.RS 4\n.nf\n" });
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push_str(&escape(line));
            out.push('\n');
            continue;
        }
        if let Some(title) = line.strip_prefix("# ") {
            let _ = title; // the page's INVENTORY heading stands for the document's title
        } else if let Some(heading) = line.strip_prefix("## ").or_else(|| line.strip_prefix("### ")) {
            out.push_str(&format!(".SS \"{}\"\n", inline(heading).replace('"', "")));
        } else if line.trim().is_empty() {
            out.push_str(".PP\n");
        } else if line.starts_with('|') {
            table_row(line, &mut out);
        } else if let Some(item) = line.strip_prefix("- ") {
            out.push_str(&format!(".IP \\(bu 2\n{}\n", inline(item)));
        } else {
            out.push_str(&inline(line));
            out.push('\n');
        }
    }
    out
}

/// `| key | meaning |` as a tagged paragraph; the header and separator rows are dropped.
fn table_row(line: &str, out: &mut String) {
    let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
    let is_rule = cells.iter().all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')));
    let is_header = matches!(cells.first(), Some(&"key" | &"what" | &"code" | &"exit code"));
    if is_rule || is_header || cells.is_empty() {
        return;
    }
    out.push_str(&format!(".TP\n{}\n{}\n", inline(cells[0]), inline(&cells[1..].join("; "))));
}

/// Inline Markdown: `code` and **bold** in bold, [text](link) as its text; roff escaped.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = escape(text);
    // Links: keep the text.
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|i| open + i) else { break };
        let Some(end) = rest[close..].find(')').map(|i| close + i) else { break };
        rest = format!("{}{}{}", &rest[..open], &rest[open + 1..close], &rest[end + 1..]);
    }
    for (i, piece) in rest.replace("**", "`").split('`').enumerate() {
        if i > 0 {
            out.push_str(if i % 2 == 1 { "\\fB" } else { "\\fR" });
        }
        out.push_str(piece);
    }
    // An unmatched backtick must not leave the rest of the page bold.
    if out.matches("\\fB").count() > out.matches("\\fR").count() {
        out.push_str("\\fR");
    }
    out
}

/// roff's special characters: the escape character, and a dot or quote starting a line.
fn escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e");
    match escaped.starts_with(['.', '\'']) {
        true => format!("\\&{escaped}"),
        false => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_no_other_page_and_carries_the_inventory() {
        let page = String::from_utf8(render().unwrap()).unwrap();
        assert!(!page.contains("rounds-ack(1)") && !page.contains("rounds\\-ack(1)"), "no page of its own");
        assert!(page.contains(".SS \"rounds ack\""), "every subcommand is a section");
        assert!(page.contains(".SH INVENTORY") && page.contains("[[endpoint]]"), "the inventory reference");
        // No line of the inventory starts a roff request by accident.
        for line in page.lines().filter(|l| l.starts_with('.')) {
            let request = line[1..].split_whitespace().next().unwrap_or("");
            assert!(
                [
                    "TH", "SH", "SS", "PP", "TP", "IP", "RS", "RE", "nf", "fi", "B", "ie", "el", "ds", "br", "sp",
                    "IR", "BR", "I"
                ]
                .contains(&request)
                    || request.starts_with('\\'),
                "unexpected request in {line:?}"
            );
        }
    }

    #[test]
    fn inline_markdown() {
        assert_eq!(inline("a `b` c"), "a \\fBb\\fR c");
        assert_eq!(inline("see [docs](x.md)"), "see docs");
        assert_eq!(inline(".dot"), "\\&.dot");
        assert_eq!(inline("back\\slash"), "back\\eslash");
    }
}
