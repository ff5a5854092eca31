//! `[[ups]]` against Network UPS Tools' real `upsd` (Debian `nut-server`), each UPS served by
//! a `dummy-ups` driver reading a `.dev` file the test rewrites; `[[metrics]]` against the
//! real `prometheus-node-exporter`, its values set through a textfile-collector `.prom` file.
//! Every peer runs in the test's folder on a loopback port and is killed on drop.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};

use support::pki::Ca;
use support::{inventory, verdict, wait_for_tcp, wait_until, Child, Inventory};

/// A loopback port below the kernel's ephemeral range (32768-60999), free right now.
fn free_low_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 21000 + (std::process::id() % 4000) as u16 * 2;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 2000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// upsd with one dummy-ups driver per UPS, all in the test's folder.
struct Nut {
    // Fields drop in declaration order: upsd and the drivers are killed before `dir` goes.
    processes: Vec<Child>,
    dir: tempfile::TempDir,
    port: u16,
    upsc: PathBuf,
}

fn dev(status: &str, charge: u32, runtime: u32) -> String {
    format!("ups.status: {status}\nbattery.charge: {charge}\nbattery.runtime: {runtime}\nups.model: Smart 1500\n")
}

/// Starts upsd serving `upses` (name, .dev contents), or `None` when nut-server is missing.
fn nut(upses: &[(&str, String)]) -> Option<Nut> {
    let upsd = support::peer(&["/lib/nut/upsd", "/usr/lib/nut/upsd", "/usr/sbin/upsd"], "nut-server")?;
    let driver = support::peer(&["/lib/nut/dummy-ups", "/usr/lib/nut/dummy-ups"], "nut-server")?;
    let upsc = support::peer(&["/usr/bin/upsc", "/bin/upsc"], "nut-client")?;
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("state dir");
    let port = free_low_port();
    let mut ups_conf = String::new();
    for (name, contents) in upses {
        let file = dir.path().join(format!("{name}.dev"));
        std::fs::write(&file, contents).expect("write .dev");
        ups_conf.push_str(&format!("[{name}]\n  driver = dummy-ups\n  port = {}\n", file.display()));
    }
    std::fs::write(dir.path().join("ups.conf"), ups_conf).expect("ups.conf");
    let upsd_conf = format!("LISTEN 127.0.0.1 {port}\nSTATEPATH {}\n", state.display());
    std::fs::write(dir.path().join("upsd.conf"), upsd_conf).expect("upsd.conf");
    std::fs::write(dir.path().join("upsd.users"), "[monitor]\n  password = \"s3cr&t pw\"\n  upsmon secondary\n")
        .expect("upsd.users");
    let env = |command: &mut Command| {
        command.env("NUT_CONFPATH", dir.path()).env("NUT_STATEPATH", &state).env("NUT_QUIET_INIT_SSL", "true");
    };
    let mut processes = Vec::new();
    for (name, _) in upses {
        let mut command = Command::new(&driver);
        command.args(["-a", name, "-F", "-u", "root"]).stdout(std::process::Stdio::null());
        command.stderr(std::process::Stdio::null());
        env(&mut command);
        processes.push(Child::spawn(&mut command));
    }
    let mut command = Command::new(&upsd);
    command.args(["-F", "-u", "root"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    env(&mut command);
    // First in the list, so killed first: no driver is taken away under a running upsd.
    processes.insert(0, Child::spawn(&mut command));
    wait_for_tcp("upsd", port);
    let nut = Nut { dir, port, upsc, processes };
    for (name, contents) in upses {
        let status = contents.lines().next().and_then(|l| l.strip_prefix("ups.status: ")).unwrap_or_default();
        nut.wait_for_status(name, status);
    }
    Some(nut)
}

impl Nut {
    fn upsc(&self, ups: &str, var: &str) -> String {
        let output = Command::new(&self.upsc)
            .arg(format!("{ups}@127.0.0.1:{}", self.port))
            .arg(var)
            .env("NUT_QUIET_INIT_SSL", "true")
            .output()
            .expect("run upsc");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Polls upsc until upsd reports `status` for `ups` (the driver rereads its file).
    fn wait_for_status(&self, ups: &str, status: &str) {
        wait_until(&format!("upsd reporting {ups} as {status:?}"), || self.upsc(ups, "ups.status") == status);
    }

    fn set(&self, ups: &str, contents: &str) {
        std::fs::write(self.dir.path().join(format!("{ups}.dev")), contents).expect("rewrite .dev");
    }
}

fn ups_check(name: &str, ups: &str, port: u16, extra: &str) -> String {
    format!("[[ups]]\nname = {name:?}\nhost = \"127.0.0.1\"\nport = {port}\nups = {ups:?}\n{extra}\n")
}

#[test]
fn ups_status_flags_charge_and_runtime_in_words() {
    let Some(nut) = nut(&[
        ("mains", dev("OL", 100, 3000)),
        ("battery", dev("OB DISCHRG", 90, 1800)),
        ("low", dev("OB LB", 8, 90)),
        ("replace", dev("OL RB", 100, 2400)),
        ("bypass", dev("OL BYPASS", 100, 2400)),
    ]) else {
        return;
    };
    let limits = "min_charge = \"50%\"\nwarn_charge = \"80%\"\nmin_runtime = \"10m\"";
    let checks: String = ["mains", "battery", "low", "replace", "bypass"]
        .iter()
        .map(|ups| ups_check(ups, ups, nut.port, limits))
        .chain([ups_check("missing", "nope", nut.port, "")])
        .collect();
    let inv = inventory(&checks);
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "mains"), ("pass".into(), "on mains, charge 100%, 50 min left".into()));
    assert_eq!(verdict(&doc, "battery"), ("warn".into(), "on battery, discharging, charge 90%, 30 min left".into()));
    assert_eq!(
        verdict(&doc, "low"),
        ("fail".into(), "on battery, battery low, charge 8% (below 50%), 90 s left (below 10 min)".into())
    );
    assert_eq!(
        verdict(&doc, "replace"),
        ("warn".into(), "on mains, battery needs replacing, charge 100%, 40 min left".into())
    );
    assert_eq!(verdict(&doc, "bypass").0, "fail");
    assert!(verdict(&doc, "bypass").1.contains("on bypass"), "{:?}", verdict(&doc, "bypass"));
    assert_eq!(verdict(&doc, "missing"), ("fail".into(), "upsd has no UPS of that name".into()));
    assert_eq!(support::check(&doc, "missing")["target"], format!("nope@127.0.0.1:{}", nut.port));
    assert_eq!(code, 2);
}

#[test]
fn a_ups_going_on_battery_is_seen_on_the_next_run() {
    let Some(nut) = nut(&[("rack", dev("OL", 100, 3000))]) else { return };
    let inv = inventory(&ups_check("closet", "rack", nut.port, "min_runtime = \"10m\""));
    assert_eq!(inv.run_json(&[]).0["checks"][0]["status"], "pass");
    nut.set("rack", &dev("OB DISCHRG", 40, 420));
    nut.wait_for_status("rack", "OB DISCHRG");
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(
        verdict(&doc, "closet"),
        ("fail".into(), "on battery, discharging, charge 40%, 7 min left (below 10 min)".into())
    );
    assert_eq!(code, 2);
}

#[test]
fn ups_login_is_taken_by_upsd_and_never_shown() {
    let Some(nut) = nut(&[("rack", dev("OL", 100, 3000))]) else { return };
    let extra = "username = \"monitor\"\npassword = \"${NUT_PASSWORD}\"";
    let inv = inventory(&ups_check("closet", "rack", nut.port, extra));
    let output = inv.rounds(&["--format", "json"]).env("NUT_PASSWORD", "s3cr&t pw").output().expect("run rounds");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("\"status\": \"pass\"") || stdout.contains("\"status\":\"pass\""), "{stdout}");
    assert!(!stdout.contains("s3cr&t"), "{stdout}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("s3cr&t"));
}

#[test]
fn upsd_that_is_not_there_or_not_nut_fails_in_words() {
    let inv = inventory(&ups_check("closet", "rack", support::closed_port(), ""));
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "closet"), ("fail".into(), "connection refused".into()));
    // An HTTP server where upsd should be: not NUT, said so.
    let web = support::http(|_| support::reply(400, "no"));
    let inv = inventory(&ups_check("closet", "rack", web.port(), ""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "closet");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("not NUT's"), "{detail}");
    // A peer that takes the connection and never answers: the check ends in words, on time.
    let silent = support::silent();
    let inv = inventory(&ups_check("closet", "rack", silent.port(), "timeout = \"1s\""));
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "closet"), ("fail".into(), "connected, but upsd did not answer in 1 s".into()));
}

/// node_exporter with only its textfile collector, reading `*.prom` from its folder.
struct Exporter {
    dir: tempfile::TempDir,
    port: u16,
    _process: Child,
}

impl Exporter {
    /// Replaces the values, whole: written aside, then renamed, so no scrape reads half a file.
    fn set(&self, prom: &str) {
        let aside = self.dir.path().join("clinic.prom.new");
        std::fs::write(&aside, prom).expect("write .prom");
        std::fs::rename(aside, self.dir.path().join("clinic.prom")).expect("rename .prom");
    }
}

fn node_exporter(prom: &str, web_config: Option<&Path>) -> Option<Exporter> {
    let binary = support::peer(&["/usr/bin/prometheus-node-exporter"], "prometheus-node-exporter")?;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("clinic.prom"), prom).expect("write .prom");
    let port = free_low_port();
    let mut command = Command::new(binary);
    command
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--collector.disable-defaults", "--collector.textfile"])
        .arg(format!("--collector.textfile.directory={}", dir.path().display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(config) = web_config {
        command.arg(format!("--web.config.file={}", config.display()));
    }
    let process = Child::spawn(&mut command);
    wait_for_tcp("node_exporter", port);
    Some(Exporter { dir, port, _process: process })
}

const GIB: u64 = 1 << 30;

fn clinic_prom(d_free: u64, state_running: u8) -> String {
    format!(
        "# HELP windows_service_state The state of the service\n# TYPE windows_service_state gauge\n\
         windows_service_state{{name=\"MirthConnect\",state=\"running\"}} {state_running}\n\
         windows_service_state{{name=\"MirthConnect\",state=\"stopped\"}} {}\n\
         windows_logical_disk_free_bytes{{volume=\"C:\"}} {}\n\
         windows_logical_disk_free_bytes{{volume=\"D:\"}} {d_free}\n",
        1 - state_running,
        80 * GIB
    )
}

fn metrics_check(name: &str, url: &str, expect: &str, extra: &str) -> String {
    format!("[[metrics]]\nname = {name:?}\nurl = {url:?}\nexpect = [{expect}]\n{extra}\n")
}

#[test]
fn metrics_from_node_exporter_hold_fail_and_name_the_closest() {
    let Some(exporter) = node_exporter(&clinic_prom(30 * GIB, 1), None) else { return };
    let url = format!("http://127.0.0.1:{}/metrics", exporter.port);
    let checks = [
        metrics_check(
            "mirth service",
            &url,
            r#"{ series = 'windows_service_state{name="MirthConnect",state="running"}', equals = 1 },
               { series = 'windows_logical_disk_free_bytes{volume="D:"}', min = "20 GiB" }"#,
            "",
        ),
        metrics_check("all disks", &url, r#"{ series = 'windows_logical_disk_free_bytes', min = "50 GiB" }"#, ""),
        metrics_check("typo", &url, r#"{ series = 'windows_service_state{name="MirthConect"}', equals = 1 }"#, ""),
    ]
    .concat();
    let inv = inventory(&checks);
    let (doc, code) = inv.run_json(&[]);
    ends_with(
        &doc,
        "mirth service",
        "pass",
        r#": windows_service_state{name="MirthConnect",state="running"} = 1; windows_logical_disk_free_bytes{volume="D:"} = 30.0 GiB"#,
    );
    ends_with(
        &doc,
        "all disks",
        "fail",
        r#"but 1 of 2 series windows_logical_disk_free_bytes fail; worst windows_logical_disk_free_bytes{volume="D:"} = 30.0 GiB, below 50.0 GiB"#,
    );
    ends_with(
        &doc,
        "typo",
        "fail",
        r#"no series windows_service_state{name="MirthConect"}; the closest is windows_service_state{name="MirthConnect",state="running"}"#,
    );
    assert_eq!(support::check(&doc, "typo")["kind"], "metrics");
    assert_eq!(code, 2);

    // The service stops and the disk fills: the next run says so.
    exporter.set(&clinic_prom(12 * GIB, 0));
    let (doc, _) = inv.run_json(&["--only", "mirth service"]);
    ends_with(
        &doc,
        "mirth service",
        "fail",
        r#"but windows_service_state{name="MirthConnect",state="running"} = 0, expected 1; windows_logical_disk_free_bytes{volume="D:"} = 12.0 GiB, below 20.0 GiB"#,
    );
}

/// The check `name` has `status` and a detail ending in `tail` (after the endpoint's own
/// "200 OK in 3 ms").
fn ends_with(doc: &serde_json::Value, name: &str, status: &str, tail: &str) {
    let (found, detail) = verdict(doc, name);
    assert_eq!(found, status, "{name}: {detail}");
    assert!(detail.ends_with(tail), "{name}: {detail}\nexpected it to end with {tail}");
}

#[test]
fn metrics_over_https_trust_the_ca_file_as_endpoint_does() {
    let ca = Ca::root("clinic root");
    let identity = ca.leaf(&["localhost"], -1, 365);
    let keys = tempfile::tempdir().expect("temp dir");
    let (cert, key) = identity.write_pem(keys.path());
    let web = keys.path().join("web.yml");
    let config = format!("tls_server_config:\n  cert_file: {}\n  key_file: {}\n", cert.display(), key.display());
    std::fs::write(&web, config).expect("web config");
    let Some(exporter) = node_exporter(&clinic_prom(30 * GIB, 1), Some(&web)) else { return };
    let url = format!("https://localhost:{}/metrics", exporter.port);
    let expect = r#"{ series = 'windows_service_state{state="running"}', equals = 1 }"#;
    let trusted = metrics_check("trusted", &url, expect, "ca_file = \"ca.pem\"");
    let untrusted = metrics_check("untrusted", &url, expect, "");
    let inv: Inventory = inventory(&(trusted + &untrusted));
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "trusted");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("certificate"), "{detail}");
    let (status, detail) = verdict(&doc, "untrusted");
    assert_eq!(status, "fail", "{detail}");
}

/// upsd listens with a backlog of 16: a run opening 64 connections to it at once overflowed
/// it, and each connection the kernel dropped waited a second for its SYN to be sent again.
/// rounds asks one upsd over a few connections at a time, so 100 checks of one upsd all
/// pass within a 1 s timeout (before, some failed with "no connection in 1 s").
#[test]
fn a_hundred_ups_checks_of_one_upsd_all_pass_within_a_short_timeout() {
    let Some(nut) = nut(&[("rack", dev("OL", 100, 3000))]) else { return };
    let checks: String =
        (1..=100).map(|i| ups_check(&format!("ups {i}"), "rack", nut.port, "timeout = \"1s\"")).collect();
    let inv = inventory(&format!("[settings]\nconcurrency = 100\n\n{checks}"));
    let (doc, code) = inv.run_json(&[]);
    let failed: Vec<_> = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] != "pass")
        .map(|c| format!("{}: {}", c["name"], c["detail"]))
        .collect();
    assert!(failed.is_empty(), "{} of 100 did not pass: {failed:?}", failed.len());
    assert_eq!(code, 0);
}

#[test]
fn a_ups_whose_driver_died_fails_in_words() {
    let Some(mut nut) = nut(&[("rack", dev("OL", 100, 3000))]) else { return };
    // The driver is the second process (upsd is the first); upsd stays up without it.
    drop(nut.processes.remove(1));
    wait_until("upsd noticing its driver is gone", || nut.upsc("rack", "ups.status").is_empty());
    let inv = inventory(&ups_check("closet", "rack", nut.port, ""));
    let (doc, code) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "closet");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("driver") || detail.contains("stale"), "{detail}");
    assert_eq!(code, 2);
}

/// `rounds validate` on `toml`: its exit code and stderr.
fn validate(toml: &str) -> (Option<i32>, String) {
    let inv = inventory(toml);
    let out = inv.rounds(&["validate"]).env("NUT_PASSWORD", "two\nlines").output().expect("run rounds");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn ups_and_metrics_mistakes_are_config_errors_at_their_place() {
    let ups = "[[ups]]\nname = \"u\"\nhost = \"nas\"\n";
    let cases = [
        (format!("{ups}ups = \"rack@nas\"\n"), "checks.toml:4:7: ups is the UPS's name"),
        (format!("{ups}ups = \"rack\"\nmin_charge = \"50\"\n"), "checks.toml:5:14: write a share"),
        (
            format!("{ups}ups = \"rack\"\nmin_charge = \"50%\"\nwarn_charge = \"20%\"\n"),
            "checks.toml:6:15: warn_charge (20%) is below min_charge (50%)",
        ),
        (format!("{ups}ups = \"rack\"\npassword = \"x\"\n"), "checks.toml:5:12: password needs a username"),
        (
            format!("{ups}ups = \"rack\"\nusername = \"m\"\npassword = \"${{NUT_PASSWORD}}\"\n"),
            "checks.toml:6:12: this value is empty or holds a line break",
        ),
        (
            "[[metrics]]\nname = \"m\"\nurl = \"http://h:9100/metrics\"\nexpect = []\n".to_owned(),
            "checks.toml:4:10: expect needs at least one",
        ),
        (
            "[[metrics]]\nname = \"m\"\nurl = \"http://h/\"\nexpect = [{ series = 'up{job=', min = 1 }]\n".to_owned(),
            "checks.toml:4:22: series is a metric name",
        ),
        (
            "[[metrics]]\nname = \"m\"\nurl = \"http://h/\"\nexpect = [{ series = 'up' }]\n".to_owned(),
            "give equals, min or max",
        ),
        (
            "[[metrics]]\nname = \"m\"\nurl = \"http://h/\"\nexpect = [{ series = 'up', min = \"lots\" }]\n".to_owned(),
            "checks.toml:4:34: \"lots\" is not a number, a size",
        ),
    ];
    for (toml, expected) in cases {
        let (code, err) = validate(&toml);
        assert_eq!(code, Some(3), "{toml}\n{err}");
        assert!(err.contains(expected), "{toml}\nexpected {expected:?} in:\n{err}");
        assert!(!err.contains("two\nlines") && !err.contains("two\\nlines"), "{err}");
    }
}

#[test]
fn metrics_with_a_password_from_a_variable_never_show_it() {
    const PASSWORD: &str = "Exp0rter&Secret";
    // node_exporter takes bcrypt hashes only; Python's crypt makes one (cost 4: fast).
    let script = "import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))";
    let hashed = Command::new("python3").args(["-c", script, PASSWORD]).output();
    let hash = match hashed {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => return support::skipped("needs python3 with the crypt module (3.12 or older)".into()).unwrap_or(()),
    };
    let config = tempfile::tempdir().expect("temp dir");
    let web = config.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  monitor: '{hash}'\n")).expect("web config");
    let Some(exporter) = node_exporter(&clinic_prom(30 * GIB, 1), Some(&web)) else { return };
    let expect = r#"{ series = 'windows_service_state{state="running"}', equals = 1 }"#;
    let port = exporter.port;
    let checks =
        metrics_check("with", &format!("http://monitor:${{EXPORTER_PASSWORD}}@127.0.0.1:{port}/metrics"), expect, "")
            + &metrics_check("without", &format!("http://127.0.0.1:{port}/metrics"), expect, "");
    let inv = inventory(&checks);
    let output = inv.rounds(&["--format", "json"]).env("EXPORTER_PASSWORD", PASSWORD).output().expect("run rounds");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    ends_with(&doc, "with", "pass", r#"windows_service_state{state="running"} = 1"#);
    ends_with(&doc, "without", "fail", "401 Unauthorized, expected 200");
    assert!(!stdout.contains(PASSWORD) && !stdout.contains("Exp0rter%26Secret"), "{stdout}");
    assert!(stdout.contains("${EXPORTER_PASSWORD}"), "the target shows the URL as written: {stdout}");
}
