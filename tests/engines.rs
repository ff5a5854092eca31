//! rounds inside the engines clinic groups already run, end to end: Prometheus (with
//! node_exporter's textfile collector and Alertmanager) and Icinga 2, each started by the
//! test on loopback with a folder of its own, fed by the real rounds binary, and read back
//! through the engine's own API.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A free TCP port on loopback below the ephemeral range (32768 and up here), checked with a
/// plain bind: Go servers and Icinga bind their own, and a port in the ephemeral range may be
/// held by a client socket in TIME-WAIT after a large run.
fn free_port() -> u16 {
    // Each call starts further on, so ports handed out but not yet bound are not handed again.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = std::process::id() as u64 * 7919 + call * 101;
    let mut candidate = 20_000 + (seed % 12_000) as u16;
    loop {
        if TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            return candidate;
        }
        candidate = if candidate >= 31_999 { 20_000 } else { candidate + 1 };
    }
}

/// Polls for up to `seconds` (engines start slowly on a loaded 2-core machine); on failure
/// the engines' own logs in `logs` say why.
fn wait_long(what: &str, seconds: u64, logs: &Path, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !ready() {
        if Instant::now() > deadline {
            let mut text = String::new();
            for entry in
                std::fs::read_dir(logs).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            {
                let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                text.push_str(&format!(
                    "--- {}\n{}\n",
                    entry.path().display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
            panic!("{what} did not happen in {seconds} s\n{text}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Where an engine's stderr goes, for [`wait_long`] to show.
fn log_file(dir: &Path, name: &str) -> std::process::Stdio {
    std::fs::File::create(dir.join(format!("{name}.log"))).unwrap().into()
}

/// `GET path` over plain HTTP/1.0 on loopback: (status, body). Enough for the engines' APIs.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A webhook receiver on loopback keeping every request body it gets (Alertmanager's posts).
fn webhook_receiver() -> (support::Server, Arc<Mutex<Vec<String>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    let server = support::raw(move |mut stream| {
        let kept = kept.clone();
        Box::pin(async move {
            let mut request = Vec::new();
            let mut buffer = [0u8; 8192];
            // Headers, then as many body bytes as Content-Length says.
            loop {
                let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).into_owned();
                let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
                let length = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    kept.lock().unwrap().push(body.to_owned());
                    let _ =
                        stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                    return;
                }
            }
        })
    });
    (server, bodies)
}

fn shipped(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Prometheus scrapes rounds' metrics through node_exporter's textfile collector, and the
/// shipped alert for a failing critical check reaches Alertmanager, which posts it to a
/// webhook. The rules file is the shipped one with its `for:` waits set to zero (a test
/// cannot wait 5 minutes; `promtool test rules` covers the waits, see the test below).
#[test]
fn prometheus_scrapes_rounds_and_the_shipped_alert_reaches_alertmanager() {
    let Some(prometheus) = support::peer(&["/usr/bin/prometheus"], "prometheus") else { return };
    let Some(node_exporter) = support::peer(&["/usr/bin/prometheus-node-exporter"], "prometheus-node-exporter") else {
        return;
    };
    let Some(alertmanager) = support::peer(&["/usr/bin/prometheus-alertmanager"], "prometheus-alertmanager") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let textfile = dir.path().join("textfile");
    std::fs::create_dir_all(&textfile).unwrap();

    // One critical check that fails (nothing listens), one that passes.
    let closed = support::closed_port();
    let inventory = support::inventory(&format!(
        "[[server]]\nname = \"PACS\"\nhost = \"127.0.0.1\"\nports = [{closed}]\n\n\
         [[disk]]\nname = \"root volume\"\npath = \"/\"\nmin_free = \"1 B\"\n"
    ));
    let prom_file = textfile.join("rounds.prom");
    let output = inventory
        .rounds(&["--no-state", "--quiet", "--output", &format!("prometheus:{}", prom_file.display())])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));

    let (receiver, posted) = webhook_receiver();
    let (node_port, am_port, prom_port) = (free_port(), free_port(), free_port());

    let _node = support::Child::spawn(
        std::process::Command::new(&node_exporter)
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!("--collector.textfile.directory={}", textfile.display()))
            .stderr(log_file(dir.path(), "node_exporter")),
    );
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        format!(
            "route:\n  receiver: webhook\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: webhook\n    webhook_configs:\n      - url: {}\n        send_resolved: false\n",
            receiver.url("/alerts")
        ),
    )
    .unwrap();
    let _alertmanager = support::Child::spawn(
        std::process::Command::new(&alertmanager)
            .arg(format!("--config.file={}", dir.path().join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.path().join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=") // no gossip on 0.0.0.0:9094
            .stderr(log_file(dir.path(), "alertmanager")),
    );

    let rules = std::fs::read_to_string(shipped("examples/prometheus/rounds.rules.yml")).unwrap();
    let immediate: String = rules
        .lines()
        .map(|l| if l.trim_start().starts_with("for:") { "        for: 0s" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("rounds.rules.yml"), immediate).unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files: [rounds.rules.yml]\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n\
             scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n        labels: {{site: clinic-a}}\n"
        ),
    )
    .unwrap();
    let _prometheus = support::Child::spawn(
        std::process::Command::new(&prometheus)
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("prom-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stderr(log_file(dir.path(), "prometheus")),
    );

    // The status series, with rounds' labels and the scrape's own.
    let pacs = format!("PACS:{closed}"); // a [[server]] check is named per port
    let query = format!("/api/v1/query?query={}", encode(&format!("rounds_check_status{{check=\"{pacs}\"}}")));
    let mut seen = String::new();
    wait_long("rounds_check_status{check=\"PACS\"} in Prometheus", 90, dir.path(), || {
        seen = http_get(prom_port, &query).map(|(_, body)| body).unwrap_or_default();
        seen.contains("\"value\"")
    });
    let answer: serde_json::Value = serde_json::from_str(&seen).unwrap();
    let sample = &answer["data"]["result"][0];
    assert_eq!(sample["metric"]["kind"], "server", "{seen}");
    assert_eq!(sample["metric"]["severity"], "critical", "{seen}");
    assert_eq!(sample["metric"]["site"], "clinic-a", "{seen}");
    assert_eq!(sample["value"][1], "2", "a failing check reads 2: {seen}");
    // When the run happened, so a dead timer is told from a healthy clinic.
    let (_, run) = http_get(prom_port, "/api/v1/query?query=rounds_run_timestamp_seconds").unwrap();
    assert!(run.contains("clinic-a"), "{run}");

    // The shipped alert fires for PACS only, and Alertmanager delivers it.
    wait_long("the RoundsCriticalCheckFailing alert at the webhook", 90, dir.path(), || {
        posted.lock().unwrap().iter().any(|b| b.contains("RoundsCriticalCheckFailing"))
    });
    let bodies = posted.lock().unwrap().clone();
    let alert = bodies.iter().find(|b| b.contains("RoundsCriticalCheckFailing")).unwrap();
    let alert: serde_json::Value = serde_json::from_str(alert).unwrap();
    let firing: Vec<&serde_json::Value> = alert["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "RoundsCriticalCheckFailing")
        .collect();
    assert_eq!(firing.len(), 1, "only PACS fails: {alert}");
    assert_eq!(firing[0]["labels"]["check"], pacs.as_str());
    assert_eq!(firing[0]["labels"]["site"], "clinic-a");
    assert!(
        firing[0]["annotations"]["summary"].as_str().unwrap().starts_with(&format!("{pacs} is failing")),
        "{alert}"
    );
}

/// The shipped rules' own unit tests, with their `for:` waits, by promtool.
#[test]
fn the_shipped_alerting_rules_pass_promtool_test_rules() {
    let Some(promtool) = support::peer(&["/usr/bin/promtool"], "prometheus") else { return };
    let output = std::process::Command::new(promtool)
        .args(["test", "rules", "rounds.rules.test.yml"])
        .current_dir(shipped("examples/prometheus"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A process group of its own, killed whole on drop: Icinga 2 runs as an umbrella process
/// with workers, and killing only the first leaves the others running.
struct Group(std::process::Child);

impl Group {
    fn spawn(command: &mut std::process::Command) -> Group {
        use std::os::unix::process::CommandExt;
        Group(
            command
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program())),
        )
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: a plain kill(2) of the group this test created.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// One check result as Icinga's perfdata writer wrote it: (state, seconds, output, perfdata).
type IcingaResult = (String, f64, String, String);

/// The newest result per service, from every file the perfdata writer wrote (its template
/// is `RESULT\tname\tstate\texecution_time\toutput\tperfdata`; the output may span lines).
fn icinga_results(dir: &Path) -> std::collections::HashMap<String, IcingaResult> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    let mut results = std::collections::HashMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for record in text.split("RESULT\t").skip(1) {
            let fields: Vec<&str> = record.splitn(5, '\t').collect();
            if let [name, state, seconds, rest @ ..] = fields.as_slice() {
                let rest = rest.join("\t");
                let (output, perfdata) = rest.rsplit_once('\t').unwrap_or((&rest, ""));
                let seconds = seconds.trim().parse().unwrap_or(f64::NAN);
                results.insert(
                    name.to_string(),
                    (state.to_string(), seconds, output.to_owned(), perfdata.trim().to_owned()),
                );
            }
        }
    }
    results
}

/// A real Icinga 2 core runs rounds through the shipped CheckCommand and apply rules: one
/// service for the whole inventory and one per check (`--only`, `--no-state`), and reads back
/// through its perfdata writer the state, plugin output and performance data of a passing,
/// a warning and a failing check; a check that hangs ends within rounds' deadline, well
/// inside Icinga's command timeout.
#[test]
fn icinga2_runs_rounds_through_the_shipped_check_command() {
    let Some(icinga2) = support::peer(&["/usr/sbin/icinga2"], "icinga2") else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for folder in ["etc", "data", "log", "cache", "spool", "run/icinga2", "perf"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    let (refused, warned) = (support::closed_port(), support::closed_port());
    let hung = support::silent();
    let inventory = root.join("checks.toml");
    std::fs::write(
        &inventory,
        format!(
            "[[disk]]\nname = \"root volume\"\npath = \"/\"\nmin_free = \"1 B\"\n\n\
             [[server]]\nname = \"PACS\"\nhost = \"127.0.0.1\"\nports = [{refused}]\n\n\
             [[server]]\nname = \"printer\"\nhost = \"127.0.0.1\"\nports = [{warned}]\nseverity = \"warning\"\n\n\
             [[endpoint]]\nname = \"hung portal\"\nurl = \"{}\"\ntimeout = \"60s\"\n",
            hung.url("/")
        ),
    )
    .unwrap();
    let (pacs, printer) = (format!("PACS:{refused}"), format!("printer:{warned}"));
    let perf = root.join("perf");
    std::fs::write(
        root.join("etc/icinga2.conf"),
        format!(
            r#"include <itl>
include "{shipped}"
object CheckerComponent "checker" {{ }}
object PerfdataWriter "perfdata" {{
  service_perfdata_path = "{perf}/service"
  service_temp_path = "{perf}/service.tmp"
  host_perfdata_path = "{perf}/host"
  host_temp_path = "{perf}/host.tmp"
  service_format_template = "RESULT\t$service.name$\t$service.state$\t$service.execution_time$\t$service.output$\t$service.perfdata$"
  rotation_interval = 1s
}}
object Host "rounds-01" {{
  check_command = "dummy"
  vars.rounds_binary = "{binary}"
  vars.rounds_config = "{inventory}"
  vars.rounds_checks = [ "root volume", "{pacs}", "{printer}", "hung portal" ]
  vars.rounds_deadline = "3s"
  vars.rounds_check_interval = 2s
}}
"#,
            shipped = shipped("examples/icinga2/rounds.conf").display(),
            perf = perf.display(),
            binary = env!("CARGO_BIN_EXE_rounds"),
            inventory = inventory.display(),
        ),
    )
    .unwrap();
    let paths = |command: &mut std::process::Command| {
        let p = |name: &str| root.join(name).display().to_string();
        for (constant, value) in [
            ("ConfigDir", p("etc")),
            ("DataDir", p("data")),
            ("LogDir", p("log")),
            ("CacheDir", p("cache")),
            ("SpoolDir", p("spool")),
            ("InitRunDir", p("run")),
            ("PidPath", p("run/icinga2.pid")),
            ("VarsPath", p("cache/icinga2.vars")),
            ("ObjectsPath", p("cache/icinga2.debug")),
            ("RunAsUser", whoami("-un")),
            ("RunAsGroup", whoami("-gn")),
        ] {
            command.arg(format!("-D{constant}={value}"));
        }
    };
    // Icinga's own validation of the shipped file first: a clear message if it breaks.
    let mut validate = std::process::Command::new(&icinga2);
    validate.args(["daemon", "-C", "-c"]).arg(root.join("etc/icinga2.conf"));
    paths(&mut validate);
    let checked = validate.output().unwrap();
    assert!(checked.status.success(), "icinga2 daemon -C:\n{}", String::from_utf8_lossy(&checked.stdout));

    let mut daemon = std::process::Command::new(&icinga2);
    daemon.args(["daemon", "-c"]).arg(root.join("etc/icinga2.conf")).stdout(log_file(root, "icinga2"));
    // The whole-inventory service keeps rounds' state: here, never in the user's home.
    daemon.env("XDG_STATE_HOME", root.join("state"));
    paths(&mut daemon);
    let _icinga = Group::spawn(&mut daemon);

    let services =
        ["rounds", "rounds root volume", &format!("rounds {pacs}"), &format!("rounds {printer}"), "rounds hung portal"]
            .map(str::to_owned);
    let mut results = Default::default();
    wait_long("a result for every rounds service in Icinga", 90, root, || {
        results = icinga_results(&perf);
        services.iter().all(|s| results.contains_key(s))
    });
    let result = |name: &str| results[name].clone();

    let (state, _, output, perfdata) = result("rounds root volume");
    assert_eq!(state, "OK", "{output}");
    assert!(output.starts_with("ROUNDS OK - 1 of 1 passed"), "{output}");
    assert!(perfdata.starts_with("'root volume'="), "{perfdata}");

    let (state, _, output, perfdata) = result(&format!("rounds {pacs}"));
    assert_eq!(state, "CRITICAL", "{output}");
    assert!(output.contains(&format!("1 of 1 failed: {pacs}")) && output.contains("connection refused"), "{output}");
    assert!(perfdata.contains(&format!("{pacs}=")), "{perfdata}");

    let (state, _, output, _) = result(&format!("rounds {printer}"));
    assert_eq!(state, "WARNING", "a failing warning-severity check: {output}");

    let (state, seconds, output, _) = result("rounds hung portal");
    assert_eq!(state, "CRITICAL", "{output}");
    assert!(output.contains("deadline"), "rounds said why, not Icinga's timeout: {output}");
    assert!(seconds < 30.0, "ended by rounds' 3 s deadline, not the check's 60 s timeout: {seconds} s");

    let (state, _, output, _) = result("rounds");
    assert_eq!(state, "CRITICAL", "the whole inventory: {output}");
    assert!(output.contains(&pacs) && output.contains("hung portal"), "{output}");
    // Only the whole-inventory service kept state (one file and its run log, not one per check).
    let kept: Vec<_> = std::fs::read_dir(root.join("state/rounds")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(kept.iter().any(|e| e.path().extension().is_some_and(|x| x == "json")), "state kept: {kept:?}");
}

/// `id -un` / `id -gn`: Icinga refuses to run as root unless told to, and CI runs as root.
fn whoami(flag: &str) -> String {
    let output = std::process::Command::new("id").arg(flag).output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}
