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
