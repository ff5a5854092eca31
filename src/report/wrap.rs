//! Lines people read, fitted to a width: broken between words, never inside a number and its
//! unit ("70 B", "4.2 GiB", "12 ms") or a date and its time ("2026-11-24 22:10 UTC").

/// A space that does not break: what [`keep_together`] puts inside "70 B", before a table
/// lays the text out; [`spaces`] turns it back into a plain space.
const GLUE: char = '\u{a0}';

/// `text` with the spaces that must not break (number and unit, date and time) made
/// unbreakable, for a layout that breaks at spaces ([`wrap`]).
pub(crate) fn keep_together(text: &str) -> String {
    keep_within(text, usize::MAX)
}

/// As [`keep_together`], for a table cell: a group wider than `max` columns ("2026-11-24
/// 22:10 UTC" in a narrow column) may break between its words, which the table would
/// otherwise cut anywhere.
pub(crate) fn keep_within(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut group: Vec<&str> = Vec::new();
    let flush = |group: &mut Vec<&str>, out: &mut String| {
        let joined = group.join(" ");
        if !out.is_empty() {
            out.push(' ');
        }
        match columns(&joined) <= max {
            true => out.push_str(&joined.replace(' ', &GLUE.to_string())),
            false => out.push_str(&joined),
        }
        group.clear();
    };
    for word in text.split(' ') {
        if group.last().is_some_and(|before| !belong_together(before, word)) {
            flush(&mut group, &mut out);
        }
        group.push(word);
    }
    flush(&mut group, &mut out);
    out
}

/// Plain spaces again, once the layout is done.
pub(crate) fn spaces(text: &str) -> String {
    text.replace(GLUE, " ")
}

/// "70" and "B", "2 failed", "2026-11-24" and "22:10", "22:10" and "UTC", "in maintenance".
fn belong_together(before: &str, after: &str) -> bool {
    let ends_in_digit = before.ends_with(|c: char| c.is_ascii_digit());
    let unit = after.trim_end_matches([',', ';', ':', '.', ')', ']']);
    // A count and what it counts ("2 failed,"), a number and its unit ("4.2 GiB", "5 %").
    let counted = !unit.is_empty() && unit.chars().count() <= 12 && unit.chars().all(|c| c.is_alphabetic() || c == '%');
    let is_date = |w: &str| {
        let w = w.trim_start_matches(['(', '[']);
        w.len() == 10 && w.as_bytes()[4] == b'-' && w.as_bytes()[7] == b'-'
    };
    let is_time = |w: &str| w.len() >= 5 && w.as_bytes()[2] == b':' && w[..2].bytes().all(|b| b.is_ascii_digit());
    (ends_in_digit && (counted || (is_date(before) && is_time(after)))) || (before == "in" && unit == "maintenance")
}

/// The width of `text` in columns, as a terminal shows it (a CJK character takes two).
fn columns(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// `text` broken between words into lines of at most `width` columns, the first starting
/// with `first`, the others with `rest` (an indent). A word longer than a whole line is cut:
/// nothing may stick out. `None` width: one line.
pub(crate) fn wrap(text: &str, width: Option<u16>, first: &str, rest: &str) -> String {
    let Some(width) = width.map(usize::from) else { return format!("{first}{text}\n") };
    let mut out = String::new();
    let mut line = first.to_owned();
    let mut empty = true;
    let glued = keep_together(text);
    // A group longer than a whole line ("2026-11-24 22:10 UTC" at 16 columns) breaks where it
    // must: between its own words, before any word is cut.
    let room = width.saturating_sub(columns(rest)).max(1);
    let words = glued.split(' ').flat_map(|w| match columns(w) > room {
        true => w.split(GLUE).collect::<Vec<_>>(),
        false => vec![w],
    });
    for word in words {
        // Two spaces in a row are kept within a line, dropped at its start.
        if word.is_empty() && (empty || columns(&line) + 1 >= width) {
            continue;
        }
        let mut word = word.to_owned();
        let needed = columns(&word) + usize::from(!empty);
        if !empty && columns(&line) + needed > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = rest.to_owned();
            empty = true;
        }
        // Too long for any line (a long URL): cut where the line ends.
        while columns(&line) + columns(&word) + usize::from(!empty) > width && columns(rest) + 1 < width {
            let room = width.saturating_sub(columns(&line) + usize::from(!empty)).max(1);
            let cut = fitting(&word, room);
            if !empty {
                line.push(' ');
            }
            line.push_str(&cut);
            out.push_str(line.trim_end());
            out.push('\n');
            word = word[cut.len()..].to_owned();
            line = rest.to_owned();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(&word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    spaces(&out)
}

/// The longest start of `word` that fits in `room` columns (at least one character).
fn fitting(word: &str, room: usize) -> String {
    let mut cut = String::new();
    for c in word.chars() {
        if !cut.is_empty() && columns(&cut) + unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) > room {
            break;
        }
        cut.push(c);
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_units_and_dates_their_times() {
        let text = "free 70 B of 4.2 GiB since 2026-11-24 22:10 UTC, 12 ms";
        for width in 24..60 {
            let out = wrap(text, Some(width), "", "  ");
            for line in out.lines() {
                assert!(columns(line) <= usize::from(width), "{width}: {line:?}\n{out}");
                assert!(!line.ends_with("70") && !line.ends_with("4.2") && !line.ends_with("12"), "{width}:\n{out}");
                assert!(!line.ends_with("2026-11-24") && !line.ends_with("22:10"), "{width}:\n{out}");
            }
            assert_eq!(out.split_whitespace().collect::<Vec<_>>(), text.split_whitespace().collect::<Vec<_>>());
        }
        for width in 4..24 {
            let out = wrap(text, Some(width), "", "  ");
            assert!(out.lines().all(|l| columns(l) <= usize::from(width)), "{width}:\n{out}");
        }
    }

    #[test]
    fn lines_break_between_words_with_the_indent() {
        let out = wrap("one two three four five six", Some(14), "- ", "  ");
        assert_eq!(out, "- one two\n  three four\n  five six\n");
        assert_eq!(
            wrap("name  since 2026-11-24 22:10 UTC", Some(16), "", "  "),
            "name  since\n  2026-11-24\n  22:10 UTC\n"
        );
        assert_eq!(wrap("one two", None, "> ", "  "), "> one two\n");
    }

    #[test]
    fn wide_characters_count_two_columns() {
        let out = wrap("東京の画像サーバー 検査室の画像サーバー 70 B", Some(24), "", "  ");
        assert!(out.lines().all(|l| columns(l) <= 24), "{out}");
        assert_eq!(out.lines().count(), 3, "{out}");
        let cut = wrap("画像サーバー画像サーバー画像サーバー", Some(10), "", "");
        assert!(cut.lines().all(|l| columns(l) <= 10), "{cut}");
    }

    #[test]
    fn a_word_longer_than_the_line_is_cut_not_left_sticking_out() {
        let url = "https://fhir.clinic.example/r4/metadata/with/a/long/path";
        let out = wrap(&format!("from {url} now"), Some(20), "", "    ");
        assert!(out.lines().all(|l| columns(l) <= 20), "{out}");
        assert_eq!(out.replace(['\n', ' '], ""), format!("from{url}now"));
    }
}
