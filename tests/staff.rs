//! For the people who are not IT: `rounds note`, `rounds handover` (issue 23).

mod support;

use std::path::{Path, PathBuf};

use support::{inventory, Inventory};

/// Thursday 2026-12-03, noon UTC: every time below is relative to it.
const NOW: &str = "2026-12-03T12:00:00Z";
const NOW_SECS: u64 = 1_796_299_200;
const HOUR: u64 = 3600;

/// A disk, a PACS server of two ports, a TLS check and a backup; a maintenance window
/// tonight and one next month. Needs a secret it never gets: note and handover need none.
fn clinic() -> Inventory {
    inventory(
        "[settings]\nstate = \"s.json\"\n\n\
         [[disk]]\nname = \"root\"\npath = \"/\"\ntags = [\"core\"]\n\n\
         [[server]]\nname = \"PACS\"\nhost = \"127.0.0.1\"\nports = [104, 11112]\n\n\
         [[endpoint]]\nname = \"EHR portal\"\nurl = \"http://127.0.0.1:9/?key=${EHR_KEY}\"\n\n\
         [[maintenance]]\nchecks = [\"root\"]\nweekly = \"Thu 20:00-22:30\"\ntimezone = \"UTC\"\nreason = \"disk <b>swap</b>\"\n\n\
         [[maintenance]]\nchecks = [\"EHR portal\"]\nfrom = \"2027-01-10T01:00:00Z\"\nuntil = \"2027-01-10T03:00:00Z\"\nreason = \"next month\"\n",
    )
}

fn log_lines(inv: &Inventory) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(inv.dir.path().join("s.log.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn at_now(inv: &Inventory, args: &[&str]) -> std::process::Output {
    inv.rounds(args).env("ROUNDS_NOW", NOW).env_remove("SUDO_USER").output().unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_note_is_appended_with_who_when_and_the_checks_it_names() {
    let inv = clinic();
    let out = at_now(&inv, &["note", "replaced the barcode scanner", "--check", "PACS", "--by", "anna"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sudo = inv.rounds(&["note", "  rebooted the printer  "]).env("SUDO_USER", "ben").output().unwrap();
    assert!(sudo.status.success(), "{}", String::from_utf8_lossy(&sudo.stderr));
    let lines = log_lines(&inv);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["kind"], "note");
    assert_eq!(lines[0]["at"], NOW_SECS);
    assert_eq!(lines[0]["by"], "anna");
    assert_eq!(lines[0]["text"], "replaced the barcode scanner");
    assert_eq!(lines[0]["checks"], serde_json::json!(["PACS:104", "PACS:11112"]), "a server's name: all its ports");
    assert_eq!((lines[1]["by"].as_str(), lines[1]["text"].as_str()), (Some("ben"), Some("rebooted the printer")));

    // A typo names nothing: an error with the closest name, and nothing written.
    let typo = inv.rounds(&["note", "x", "--check", "PAC"]).output().unwrap();
    assert_eq!(typo.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("PACS"), "{}", String::from_utf8_lossy(&typo.stderr));
    let empty = inv.rounds(&["note", "  "]).output().unwrap();
    assert_eq!(empty.status.code(), Some(3));
    assert_eq!(log_lines(&inv).len(), 2);

    // The log with notes in it still reads as a shift record, nothing passed over, and
    // shows them; with --check, the notes about that check.
    let history = inv.rounds(&["history", "--since", "100days"]).env("ROUNDS_NOW", NOW).output().unwrap();
    assert!(history.status.success() && history.stderr.is_empty(), "{}", String::from_utf8_lossy(&history.stderr));
    let text = String::from_utf8_lossy(&history.stdout);
    assert!(
        text.contains("Notes:\n  2026-12-03 12:00 UTC anna on PACS:104, PACS:11112: replaced the barcode scanner\n"),
        "{text}"
    );
    assert!(text.contains(" ben: rebooted the printer\n"), "{text}");
    let json = inv.rounds(&["history", "--since", "100days", "--check", "PACS", "--format", "json"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["notes"].as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(doc["notes"][0]["by"], "anna");
}

/// A link planted where the run log is kept is refused, not written through.
#[test]
fn a_note_never_writes_through_a_planted_link() {
    let inv = clinic();
    let target = inv.write("elsewhere", "");
    std::os::unix::fs::symlink(&target, inv.dir.path().join("s.log.jsonl")).unwrap();
    let out = inv.rounds(&["note", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
}

/// Twenty hours of runs every hour: EHR portal failed from -18 h to -15 h (before the
/// shift) and from -9 h to -7 h; PACS:104 fails since -4 h (acknowledged); the run at -2 h
/// was stopped by Ctrl-C. Certificates and a backup as the last run saw them.
fn a_shift(inv: &Inventory) {
    let mut log = String::new();
    for h in (0..=20u64).rev() {
        let at = NOW_SECS - h * HOUR;
        let mut problems = Vec::new();
        if (15..=18).contains(&h) || (7..=9).contains(&h) {
            problems.push(
                serde_json::json!({"name": "EHR portal", "status": "fail", "detail": "HTTP 500 <script>x</script>"}),
            );
        }
        if h <= 4 {
            problems.push(serde_json::json!({"name": "PACS:104", "status": "fail", "detail": "connection refused"}));
        }
        let mut line =
            serde_json::json!({"version": 2, "at": at, "duration_ms": 900, "checks": 4, "problems": problems});
        if h == 2 {
            line["stopped"] = "SIGINT".into();
            line["unfinished"] = serde_json::json!(["root"]);
        }
        log += &format!("{line}\n");
    }
    inv.write("s.log.jsonl", &log);
    let checks = serde_json::json!({
        "EHR portal": {"status": "pass", "since": NOW_SECS, "cert_not_after": NOW_SECS + 5 * 24 * HOUR},
        "PACS:104": {"status": "fail", "since": NOW_SECS - 4 * HOUR, "cert_not_after": NOW_SECS + 200 * 24 * HOUR},
        "root": {"status": "pass", "since": NOW_SECS, "backup_age": 30 * HOUR, "backup_max_age": 100 * HOUR},
        // Its own warning time (60 days) has begun; a 45-day certificate under the default
        // 30 days would not be shown.
        "lab portal": {"status": "warn", "since": NOW_SECS, "cert_not_after": NOW_SECS + 45 * 24 * HOUR,
                       "cert_warns_from": NOW_SECS - 15 * 24 * HOUR},
        "billing": {"status": "pass", "since": NOW_SECS, "cert_not_after": NOW_SECS + 45 * 24 * HOUR,
                    "cert_warns_from": NOW_SECS + 15 * 24 * HOUR},
        // Younger than root's backup, but nearer its own limit: shown first.
        "NAS": {"status": "pass", "since": NOW_SECS, "backup_age": 20 * HOUR, "backup_max_age": 22 * HOUR},
    });
    let state = serde_json::json!({"format": "rounds-state", "version": 2, "inventory": "x", "last_run": NOW_SECS, "checks": checks});
    inv.write("s.json", &state.to_string());
    inv.write(
        "acks.toml",
        "[[ack]]\ncheck = \"PACS:104\"\nuntil = 2026-12-04T12:00:00Z\nnote = \"ticket *4411*, vendor [on site](http://x)\"\nby = \"anna\"\n",
    );
}

fn section<'a>(text: &'a str, title: &str, next: &str) -> &'a str {
    let start = text.find(title).unwrap_or_else(|| panic!("no {title:?} in:\n{text}"));
    let end = text[start..].find(next).map_or(text.len(), |n| start + n);
    &text[start..end]
}

#[test]
fn the_handover_says_what_is_open_what_happened_what_comes_and_the_runs() {
    let inv = clinic();
    a_shift(&inv);
    at_now(&inv, &["note", "PACS vendor called back\u{1b}[2J", "--check", "PACS:104", "--by", "anna"]);
    let text = stdout(&at_now(&inv, &["handover"]));
    assert!(text.starts_with("Handover for "), "{text}");
    assert!(text.contains("2026-12-03 00:00 UTC to 2026-12-03 12:00 UTC"), "12 h by default:\n{text}");
    let titles = ["Still open (1):", "What happened this shift (1):", "Coming up (", "Notes (1):", "Runs ("];
    let places: Vec<usize> = titles.iter().map(|t| text.find(t).unwrap_or_else(|| panic!("{t}:\n{text}"))).collect();
    assert!(places.windows(2).all(|w| w[0] < w[1]), "in order:\n{text}");

    let open = section(&text, "Still open", "What happened");
    assert!(open.contains("PACS:104: FAIL since 2026-12-03 08:00 UTC (4 h): connection refused"), "{open}");
    assert!(open.contains("acknowledged by anna until 2026-12-04"), "{open}");
    assert!(open.contains("ticket *4411*"), "{open}");
    let happened = section(&text, "What happened", "Coming up");
    assert!(
        happened.contains("EHR portal: FAIL from 2026-12-03 03:00 UTC to 2026-12-03 06:00 UTC (3 h)"),
        "the episode before the shift is left out:\n{happened}"
    );
    let coming = section(&text, "Coming up", "Notes");
    let ack = coming.find("Acknowledgement of PACS:104: ends 2026-12-04 12:00 UTC").expect(coming);
    let cert = coming.find("EHR portal: certificate expires 2026-12-08 12:00 UTC, in 5 days").expect(coming);
    let maint = coming.find("Maintenance of root: from 2026-12-03 20:00 UTC until 2026-12-03 22:30 UTC").expect(coming);
    let own_days = coming.find("lab portal: certificate expires 2027-01-17 12:00 UTC, in 45 days").expect(coming);
    let nas = coming.find("NAS: newest backup 20 h old, limit 22 h (91% of it) at the last run").expect(coming);
    let backup = coming.find("root: newest backup 30 h old, limit 100 h (30% of it) at the last run").expect(coming);
    assert!(
        maint < ack && ack < cert && cert < own_days && own_days < nas && nas < backup,
        "soonest first, backups last:\n{coming}"
    );
    assert!(
        !coming.contains("next month") && !coming.contains("PACS:104: certificate") && !coming.contains("billing"),
        "not within reach:\n{coming}"
    );
    let notes = section(&text, "Notes", "Runs");
    assert!(notes.contains("2026-12-03 12:00 UTC anna on PACS:104: PACS vendor called back"), "{notes}");
    let runs = section(&text, "Runs", "\u{0}");
    assert!(runs.contains("13 runs: first 2026-12-03 00:00 UTC, last 2026-12-03 12:00 UTC"), "{runs}");
    assert!(runs.contains("Run at 2026-12-03 10:00 UTC: stopped by SIGINT; unfinished: root"), "{runs}");
    assert!(!text.contains('\u{1b}'), "the note's escape sequence is shown, not sent:\n{text}");

    // The handover was recorded: the next one starts there.
    assert_eq!(log_lines(&inv).last().map(|l| l["kind"].clone()), Some("handover".into()));
    let later = "2026-12-03T20:00:00Z";
    let next = inv.rounds(&["handover"]).env("ROUNDS_NOW", later).output().unwrap();
    let next = stdout(&next);
    assert!(next.contains("2026-12-03 12:00 UTC to 2026-12-03 20:00 UTC"), "{next}");
    assert!(next.contains("No problem ended this shift.") && next.contains("No notes this shift."), "{next}");
    let wide = stdout(&inv.rounds(&["handover", "--since", "24h"]).env("ROUNDS_NOW", later).output().unwrap());
    assert!(wide.contains("2026-12-02 20:00 UTC to"), "{wide}");
}

fn written(inv: &Inventory, format: &str) -> PathBuf {
    a_shift(inv);
    at_now(inv, &["note", "<script>alert(1)</script> **bold** | pipe", "--by", "<b>ben</b>"]);
    let file = inv.dir.path().join(format!("handover.{format}"));
    let out = at_now(inv, &["handover", "--format", format, "--output", file.to_str().unwrap()]);
    assert!(out.status.success() && out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    file
}

#[test]
fn the_markdown_handover_is_what_a_markdown_parser_reads() {
    let Some(_) = support::python_with(&[("markdown_it", "markdown-it-py")]) else { return };
    let inv = clinic();
    let file = written(&inv, "markdown");
    let parsed = support::python(
        "import sys\nfrom markdown_it import MarkdownIt\nmd = MarkdownIt('commonmark')\n\
         tokens = md.parse(open(sys.argv[1]).read())\n\
         kinds = set(t.type for t in tokens) | set(c.type for t in tokens for c in (t.children or []))\n\
         print('html' if any('html' in k for k in kinds) else 'no html')\n\
         print(sum(1 for t in tokens if t.type == 'heading_open' and t.tag == 'h2'))\n\
         items = [t.content for t in tokens if t.type == 'inline']\n\
         print([i for i in items if 'alert' in i][0])\n\
         text = ''.join(c.content for t in tokens for c in (t.children or []) if c.type == 'text')\n\
         print('**bold**' in text and '<script>' in text)",
        &[file.as_os_str()],
    );
    let lines: Vec<&str> = parsed.lines().collect();
    assert_eq!(lines[0], "no html", "peer and note text never becomes markup: {parsed}");
    assert_eq!(lines[1], "5", "five sections: {parsed}");
    assert!(lines[2].contains("\\<script\\>alert(1)\\</script\\>"), "{parsed}");
    assert_eq!(lines[3], "True", "read back as the text typed: {parsed}");
}

#[test]
fn the_html_handover_is_a_valid_page_an_html5_parser_reads() {
    let Some(_) = support::python_with(&[("html5lib", "html5lib")]) else { return };
    let inv = clinic();
    let file = written(&inv, "html");
    let parsed = support::python(
        "import sys, html5lib\n\
         doc = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(open(sys.argv[1], 'rb'))\n\
         print(doc.get('lang'))\n\
         print(len(doc.findall('.//script')), len(doc.findall('.//link')), len(doc.findall('.//img')))\n\
         print('|'.join(h.text for h in doc.findall('.//h2')))\n\
         print([''.join(li.itertext()) for li in doc.findall('.//li') if 'alert' in ''.join(li.itertext())][0])",
        &[file.as_os_str()],
    );
    let lines: Vec<&str> = parsed.lines().collect();
    assert_eq!(lines[0], "en");
    assert_eq!(lines[1], "0 0 0", "no script, no external resource: {parsed}");
    assert!(lines[2].starts_with("Still open (1)|What happened this shift (1)|Coming up ("), "{parsed}");
    assert!(lines[2].ends_with("|Notes (1)|Runs (2)"), "{parsed}");
    assert!(lines[3].contains("<b>ben</b>: <script>alert(1)</script> **bold** | pipe"), "as typed, as text: {parsed}");
}

/// `--output` never writes through a link planted in its place.
#[test]
fn the_handover_output_refuses_a_planted_link() {
    let inv = clinic();
    a_shift(&inv);
    let target = inv.write("elsewhere", "");
    let planted = inv.dir.path().join("handover.txt");
    std::os::unix::fs::symlink(&target, &planted).unwrap();
    let out = at_now(&inv, &["handover", "--output", planted.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
    assert!(Path::new(&planted).is_symlink());
}

// ---- the status page --------------------------------------------------------------------

/// Every state a service can be in on the page, from a real run against loopback servers:
/// working, slow (two checks sharing a public name), not working, known to IT, planned
/// maintenance, not checked; and a check kept off the page.
struct Page {
    inv: Inventory,
    _servers: Vec<support::Server>,
}

fn page_inventory() -> Page {
    let ok = support::http(|_| support::reply(200, "ok"));
    let slow = support::http(|_| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        support::reply(200, "ok")
    });
    let closed = support::closed_port();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let moment = |secs: u64| {
        let out =
            std::process::Command::new("date").args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"]).output();
        String::from_utf8(out.unwrap().stdout).unwrap().trim().to_owned()
    };
    let toml = format!(
        "[status_page]\ntitle = \"Clinic <systems>\"\ngroups = [\"records\", \"imaging\"]\n\n\
         [[endpoint]]\nname = \"EHR portal\"\npublic_name = \"Patient charts (EHR)\"\nurl = \"{ok}\"\ntags = [\"records\"]\n\n\
         [[endpoint]]\nname = \"EHR api\"\npublic_name = \"Patient charts (EHR)\"\nurl = \"{slow}\"\nwarn_latency = \"50ms\"\ntags = [\"records\"]\n\n\
         [[endpoint]]\nname = \"Lab results\"\nurl = \"http://127.0.0.1:{closed}/lab\"\n\n\
         [[endpoint]]\nname = \"PACS viewer\"\nurl = \"http://127.0.0.1:{closed}/pacs\"\ntags = [\"imaging\"]\n\n\
         [[endpoint]]\nname = \"Printer\"\nurl = \"{ok}\"\n\n\
         [[endpoint]]\nname = \"Scanner\"\nurl = \"{ok}\"\ndepends_on = [\"Lab results\"]\n\n\
         [[endpoint]]\nname = \"Backend\"\nurl = \"{ok}\"\npublic = false\n\n\
         [[endpoint]]\nname = \"Label printer\"\nurl = \"http://127.0.0.1:{closed}/labels\"\nseverity = \"warning\"\n\n\
         [[maintenance]]\nchecks = [\"Printer\"]\nfrom = \"{}\"\nuntil = \"{}\"\nreason = \"new toner <now>\"\n",
        moment(now - 600),
        moment(now + 3 * 3600),
        ok = ok.url("/ehr"),
        slow = slow.url("/api"),
    );
    let inv = inventory(&toml);
    inv.write(
        "acks.toml",
        &format!(
            "[[ack]]\ncheck = \"PACS viewer\"\nuntil = {}\nnote = \"Vendor on site <b>today</b>\"\nby = \"anna\"\n",
            moment(now + 86_400)
        ),
    );
    Page { inv, _servers: vec![ok, slow] }
}

/// The page's services as html5lib reads them: "name | sentence | message | share" per
/// line, after the section headings and the page's facts.
const READ_PAGE: &str = "import sys, html5lib\n\
doc = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(open(sys.argv[1], 'rb'))\n\
text = lambda e: ''.join(e.itertext()) if e is not None else ''\n\
print(doc.get('lang'), doc.find('.//title').text, len(doc.findall('.//script[@src]')), len(doc.findall('.//link')), len(doc.findall('.//img')))\n\
print(doc.find(\".//meta[@http-equiv='refresh']\").get('content'), doc.find(\".//p[@id='stale']\").get('hidden') is not None)\n\
print('|'.join(text(h) for h in doc.findall('.//h2')))\n\
for li in doc.findall('.//li'):\n    print(' | '.join([text(li.find('.//h3')), text(li.find(\".//p[@class='said']\")), text(li.find(\".//p[@class='msg']\")), text(li.find(\".//p[@class='share']\")), li.find(\".//div[@class='bars']\").get('aria-label')]))\n";

fn read_page(file: &Path) -> Vec<String> {
    support::python(READ_PAGE, &[file.as_os_str()]).lines().map(str::to_owned).collect()
}

#[test]
fn the_status_page_says_each_state_in_plain_words() {
    let Some(_) = support::python_with(&[("html5lib", "html5lib")]) else { return };
    let page = page_inventory();
    let inv = &page.inv;
    let file = inv.dir.path().join("www/status.html");
    std::fs::create_dir(inv.dir.path().join("www")).unwrap();
    let state = inv.dir.path().join("s.json");
    // Two days of record and a run five minutes ago: today's bar gets this run's time.
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 300;
    let day = |back: u64| {
        let out =
            std::process::Command::new("date").args(["-d", &format!("@{}", before - back * 86_400), "+%F"]).output();
        String::from_utf8(out.unwrap().stdout).unwrap().trim().to_owned()
    };
    let days = serde_json::json!({ day(2): [86_400, 86_400], day(1): [86_400, 43_200] });
    let checks = serde_json::json!({
        "Lab results": {"status": "pass", "since": before - 86_400 * 3, "days": days},
        "EHR portal": {"status": "pass", "since": before - 86_400 * 3, "days": {day(1): [3600, 3600]}},
    });
    let doc = serde_json::json!({"format": "rounds-state", "version": 2, "inventory": "x", "last_run": before, "checks": checks});
    std::fs::write(&state, doc.to_string()).unwrap();
    let out = inv
        .rounds(&["--state", state.to_str().unwrap(), "--output", &format!("html:{}", file.display())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&file).unwrap();
    for never in ["127.0.0.1", "refused", "/lab", "Backend", "<now>", "<b>", "connection", "http://"] {
        assert!(!html.contains(never), "no target, detail or raw markup ({never}) on the page:\n{html}");
    }
    let lines = read_page(&file);
    assert_eq!(lines[0], "en Clinic <systems> 0 0 0", "lang, title as text, nothing fetched: {lines:?}");
    assert_eq!(lines[1], "60 True", "a meta refresh; the out-of-date warning only by script: {lines:?}");
    assert_eq!(lines[2], "records|imaging|Other systems", "groups in order: {lines:?}");
    let row = |name: &str| -> Vec<String> {
        let line =
            lines.iter().find(|l| l.starts_with(&format!("{name} | "))).unwrap_or_else(|| panic!("{name}: {lines:?}"));
        line.split(" | ").map(str::to_owned).collect()
    };
    assert_eq!(lines.iter().filter(|l| l.starts_with("Patient charts (EHR) | ")).count(), 1, "one row: {lines:?}");
    assert_eq!(row("Patient charts (EHR)")[1], "Slow", "the worst of the two: {lines:?}");
    let lab = row("Lab results");
    assert!(lab[1].starts_with("Not working since ") && lab[1].len() == "Not working since 07:10".len(), "{lab:?}");
    assert_eq!(lab[2], "", "no message without an acknowledgement");
    assert_eq!(lab[3], "Worked 74.8% of the checked time in the last 30 days.", "{lab:?}");
    assert!(lab[4].contains("1 working throughout, 2 with problems, 27 not checked"), "{lab:?}");
    let pacs = row("PACS viewer");
    assert!(pacs[1].ends_with(" - IT knows and is working on it"), "{pacs:?}");
    assert_eq!(pacs[2], "Message from IT: Vendor on site <b>today</b>", "the note, as text");
    assert_eq!(pacs[3], "Worked 0% of the checked time in the last 30 days.", "{pacs:?}");
    let printer = row("Printer");
    assert!(
        printer[1].starts_with("Planned maintenance until ") && printer[1].ends_with(": new toner <now>"),
        "{printer:?}"
    );
    assert_eq!(row("Scanner")[1], "Not checked this time", "never green when not checked");
    // Down, though its severity keeps it from failing the gate: never "Working".
    let labels = row("Label printer");
    assert!(labels[1].starts_with("Not working since "), "{labels:?}");
    assert_eq!(lines.len(), 3 + 6, "hidden check left out: {lines:?}");
}

/// What headless Chromium asks a proxy for while it shows `page`: the proxy is the test's
/// own, on loopback, and answers every request itself (404), so nothing leaves the machine;
/// names resolve to nothing. Returns the rendered DOM and the request lines.
fn chromium_dom(chromium: &Path, page: &Path) -> (String, Vec<String>) {
    use std::io::{BufRead, Write};
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for mut conn in proxy.incoming().flatten() {
            let mut line = String::new();
            let _ = std::io::BufReader::new(&conn).read_line(&mut line);
            record.lock().unwrap().push(line.trim().to_owned());
            let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let out = std::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        .args(["--disable-component-update", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--dump-dom"])
        .arg(format!("--proxy-server=http://127.0.0.1:{port}"))
        .arg(format!("--user-data-dir={}", page.with_extension("profile").display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let requests = seen.lock().unwrap().clone();
    (String::from_utf8_lossy(&out.stdout).into_owned(), requests)
}

/// The hosts of requests a page made beyond what Chromium asks for by itself (its own
/// update and time services, seen with an empty page).
fn beyond(requests: &[String], baseline: &[String]) -> Vec<String> {
    let host = |line: &String| {
        line.split(' ')
            .nth(1)
            .unwrap_or_default()
            .split('/')
            .find(|p| p.contains('.'))
            .unwrap_or_default()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let known: Vec<String> = baseline.iter().map(host).collect();
    // Chromium's own services, also when the empty page's run happened not to ask them.
    let own = |h: &str| [".google.com", ".googleapis.com", ".gvt1.com"].iter().any(|d| h.ends_with(d));
    requests.iter().filter(|r| !known.contains(&host(r)) && !own(&host(r))).cloned().collect()
}

/// In a real browser: nothing is fetched from anywhere; a fresh page shows no warning, and
/// a page whose run is older than `stale_after` shows it (written by a rounds whose clock
/// libfaketime set two hours back).
#[test]
fn in_a_browser_the_page_fetches_nothing_and_warns_when_out_of_date() {
    let Some(chromium) = support::peer(&["/usr/bin/chromium", "/usr/bin/chromium-browser"], "chromium") else { return };
    let Some(faketime) = support::peer(&["/usr/bin/faketime"], "faketime") else { return };
    let page = page_inventory();
    let dir = page.inv.dir.path();
    let (fresh, old) = (dir.join("fresh.html"), dir.join("old.html"));
    let out = page.inv.rounds(&["--no-state", "--output", &format!("html:{}", fresh.display())]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let mut written_earlier = std::process::Command::new(faketime);
    written_earlier
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("XDG_STATE_HOME", dir)
        .args(["-f", "-2h"])
        .arg(assert_cmd::cargo::cargo_bin!("rounds"))
        .arg("--config")
        .arg(&page.inv.path)
        .args(["--no-state", "--output", &format!("html:{}", old.display())]);
    assert_eq!(written_earlier.output().unwrap().status.code(), Some(2));
    let empty = page.inv.write("empty.html", "<!DOCTYPE html><html lang=\"en\"><title>x</title></html>");
    let (_, baseline) = chromium_dom(&chromium, &empty);
    // The proxy sees a page's requests: one image from elsewhere is caught.
    let fetching = page.inv.write("fetching.html", "<!DOCTYPE html><img src=\"http://images.example/x.png\" alt=\"\">");
    let (_, requests) = chromium_dom(&chromium, &fetching);
    assert_eq!(beyond(&requests, &baseline).len(), 1, "the proxy sees what a page fetches: {requests:?}");

    let (dom, requests) = chromium_dom(&chromium, &fresh);
    assert!(dom.contains("<h3>Patient charts (EHR)</h3>"), "{dom}");
    assert!(dom.contains("<p id=\"stale\" class=\"stale\" role=\"alert\" hidden=\"\">"), "fresh: no warning\n{dom}");
    assert!(dom.contains("<body>"), "{dom}");
    assert_eq!(beyond(&requests, &baseline), Vec::<String>::new(), "the page fetched something");
    let (dom, requests) = chromium_dom(&chromium, &old);
    assert!(dom.contains("<body class=\"is-stale\">"), "{dom}");
    assert!(dom.contains("<p id=\"stale\" class=\"stale\" role=\"alert\">"), "the warning shows\n{dom}");
    assert_eq!(beyond(&requests, &baseline), Vec::<String>::new(), "the page fetched something");
}
