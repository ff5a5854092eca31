//! Clinic protocols and the rest of the morning (issue 4): FHIR, JSON assertions, HL7 MLLP,
//! commands, DNS, system and process checks, DICOM, against real peers.

mod support;

use support::{inventory, reply, verdict};

const CAPABILITY: &str = include_str!("data/fhir/capability-hapi-r4.json");

fn fhir(name: &str, base: &str, extra: &str) -> String {
    format!("[[fhir]]\nname = {name:?}\nbase = {base:?}\n{extra}\n")
}

// ---- FHIR -----------------------------------------------------------------------------

#[test]
fn fhir_server_with_an_active_capability_statement_passes() {
    let server = support::http(|req| {
        let accept = req.headers().get("accept").and_then(|v| v.to_str().ok()).unwrap_or_default();
        match (req.uri().path(), accept) {
            ("/r4/metadata", "application/fhir+json") => reply(200, CAPABILITY),
            _ => reply(404, ""),
        }
    });
    let inv = inventory(&fhir("FHIR API", &server.url("/r4"), "fhir_version = \"4.0.1\""));
    let (doc, code) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "FHIR API");
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.ends_with(": HAPI FHIR Server 7.4.0, FHIR 4.0.1"), "{detail}");
    assert_eq!(support::check(&doc, "FHIR API")["kind"], "fhir");
}

#[test]
fn fhir_wrong_version_resource_type_and_401_fail() {
    let server = support::http(|req| match req.uri().path() {
        "/r4/metadata" => reply(200, CAPABILITY),
        "/patient/metadata" => reply(200, r#"{"resourceType":"Patient","id":"1"}"#),
        _ => reply(401, r#"{"resourceType":"OperationOutcome"}"#),
    });
    let checks = fhir("old", &server.url("/r4"), "fhir_version = \"5.0.0\"")
        + &fhir("wrong", &server.url("/patient/"), "")
        + &fhir("locked", &server.url("/secure"), "headers = { Authorization = \"Bearer ${FHIR_TOKEN}\" }");
    let inv = inventory(&checks);
    let output = inv.rounds(&["--format", "json"]).env("FHIR_TOKEN", "fhir-secret-123").output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "old");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("but FHIR version is \"4.0.1\", expected \"5.0.0\""), "{detail}");
    let (_, detail) = verdict(&doc, "wrong");
    assert!(detail.ends_with("but resourceType is \"Patient\", expected \"CapabilityStatement\""), "{detail}");
    assert_eq!(verdict(&doc, "locked"), ("fail".into(), "401 Unauthorized, expected 200".into()));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("fhir-secret-123"));
}

// ---- JSON assertions on endpoints -------------------------------------------------------

#[test]
fn json_assertions_name_the_first_pointer_that_differs() {
    let server =
        support::http(|_| reply(200, r#"{"status":"pass","checks":{"db":"degraded","queue":"ok"},"version":3}"#));
    let url = server.url("/health");
    let checks = format!(
        "[[endpoint]]\nname = \"healthy\"\nurl = \"{url}\"\njson = {{ \"/status\" = \"pass\", \"/version\" = 3 }}\n\n\
         [[endpoint]]\nname = \"db\"\nurl = \"{url}\"\njson = {{ \"/status\" = \"pass\", \"/checks/db\" = \"ok\" }}\n\n\
         [[endpoint]]\nname = \"missing\"\nurl = \"{url}\"\njson = {{ \"/checks/cache\" = \"ok\" }}\n"
    );
    let (doc, _) = inventory(&checks).run_json(&[]);
    assert_eq!(verdict(&doc, "healthy").0, "pass");
    let (status, detail) = verdict(&doc, "db");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("but JSON /checks/db is \"degraded\", expected \"ok\""), "{detail}");
    assert!(verdict(&doc, "missing").1.ends_with("but JSON /checks/cache is missing, expected \"ok\""));
}

#[test]
fn json_assertions_on_a_body_that_is_not_json() {
    let server = support::http(|_| reply(200, "<html>maintenance</html>"));
    let toml =
        format!("[[endpoint]]\nname = \"e\"\nurl = \"{}\"\njson = {{ \"/status\" = \"pass\" }}\n", server.url("/"));
    let (doc, _) = inventory(&toml).run_json(&[]);
    assert!(verdict(&doc, "e").1.contains("but the body is not JSON"));
}

// ---- command (Nagios plugins) -------------------------------------------------------------

fn script(inv: &support::Inventory, name: &str, body: &str) -> String {
    let path = inv.write(name, &format!("#!/bin/sh\n{body}\n"));
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    format!("./{name}")
}

fn command(name: &str, run: &[&str], extra: &str) -> String {
    let run: Vec<String> = run.iter().map(|a| format!("{a:?}")).collect();
    format!("[[command]]\nname = {name:?}\nrun = [{}]\n{extra}\n", run.join(", "))
}

#[test]
fn command_exit_codes_follow_the_plugin_contract() {
    let inv = inventory("");
    let mut checks = String::new();
    for (code, text) in [
        (0, "RAID OK - 2 arrays"),
        (1, "RAID WARNING - rebuilding"),
        (2, "RAID CRITICAL - degraded"),
        (3, "cannot read mdstat"),
    ] {
        let run = script(
            &inv,
            &format!("exit{code}.sh"),
            &format!("echo '{text} | arrays=2;;'\necho 'second line'\nexit {code}"),
        );
        checks += &command(&format!("exit {code}"), &[&run], "");
    }
    checks += &command("exit 7", &[&script(&inv, "exit7.sh", "echo odd >&2; exit 7")], "");
    checks += &command("missing", &["./no-such-plugin"], "");
    std::fs::write(&inv.path, checks).unwrap();
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "exit 0"), ("pass".into(), "RAID OK - 2 arrays".into()));
    assert_eq!(verdict(&doc, "exit 1"), ("warn".into(), "RAID WARNING - rebuilding".into()));
    assert_eq!(verdict(&doc, "exit 2"), ("fail".into(), "RAID CRITICAL - degraded".into()));
    assert_eq!(verdict(&doc, "exit 3"), ("fail".into(), "unknown: cannot read mdstat".into()));
    assert_eq!(verdict(&doc, "exit 7"), ("fail".into(), "unknown (exit code 7): odd".into()));
    let (status, detail) = verdict(&doc, "missing");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("unknown: cannot run"), "{detail}");
    assert_eq!(code, 2);
}

/// Whether `pid` is gone: no such process, or a zombie waiting for init to reap it.
fn is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_hanging_command_and_its_children_are_killed_at_the_timeout() {
    let inv = inventory("");
    let pid_file = inv.dir.path().join("child.pid");
    let run = script(&inv, "hang.sh", "sleep 300 &\necho $! > \"$1\"\nsleep 300");
    std::fs::write(&inv.path, command("hang", &[&run, pid_file.to_str().unwrap()], "timeout = \"1s\"")).unwrap();
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "hang"), ("fail".into(), "unknown: still running after 1 s, killed".into()));
    let child = std::fs::read_to_string(&pid_file).expect("the script wrote its child's pid");
    let child = child.trim();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !is_gone(child) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(is_gone(child), "the command's child {child} survived the timeout");
}

// ---- HL7 over MLLP ----------------------------------------------------------------------

/// How the test interface engine answers.
#[derive(Clone, Copy)]
enum Engine {
    Accept,
    Error,
    Reject,
    WrongControlId,
    NotMllp,
    Silent,
    HangUp,
}

/// A small MLLP listener: reads one framed message and answers as `engine` says.
fn mllp_engine(engine: Engine) -> support::Server {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    support::raw(move |mut stream| {
        Box::pin(async move {
            let mut received = Vec::new();
            let mut buf = [0u8; 4096];
            while !received.windows(2).any(|w| w == [0x1C, 0x0D]) {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
            let message = String::from_utf8_lossy(&received);
            assert!(message.starts_with("\x0bMSH|^~\\&|ROUNDS|"), "not an MLLP-framed HL7 message: {message:?}");
            let control_id = message.split('|').nth(9).unwrap_or_default().to_owned();
            let msh = "MSH|^~\\&|LIS|LAB|ROUNDS||20261124063001||ACK^A01^ACK|ACK1|P|2.5.1\r";
            let reply = match engine {
                Engine::Accept => format!("{msh}MSA|AA|{control_id}\r"),
                Engine::Error => {
                    let ack = include_str!("data/hl7/ack_ae.hl7");
                    ack.replace("CONTROLID", &control_id)
                }
                Engine::Reject => format!("{msh}MSA|AR|{control_id}|Unsupported message type\r"),
                Engine::WrongControlId => format!("{msh}MSA|AA|SOMEONE-ELSE\r"),
                Engine::NotMllp => {
                    let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                    return;
                }
                Engine::Silent => {
                    std::future::pending::<()>().await;
                    return;
                }
                Engine::HangUp => return,
            };
            let mut framed = vec![0x0B];
            framed.extend_from_slice(reply.as_bytes());
            framed.extend_from_slice(&[0x1C, 0x0D]);
            let _ = stream.write_all(&framed).await;
        })
    })
}

fn hl7(name: &str, port: u16) -> String {
    format!(
        "[[hl7]]\nname = {name:?}\nhost = \"127.0.0.1\"\nport = {port}\nreceiving_app = \"LIS\"\ntimeout = \"1s\"\n"
    )
}

#[test]
fn hl7_engine_answers_are_judged() {
    let engines = [
        ("accept", Engine::Accept),
        ("error", Engine::Error),
        ("reject", Engine::Reject),
        ("wrong id", Engine::WrongControlId),
        ("not mllp", Engine::NotMllp),
        ("silent", Engine::Silent),
        ("hang up", Engine::HangUp),
    ];
    let servers: Vec<_> = engines.iter().map(|(_, e)| mllp_engine(*e)).collect();
    let checks: String = engines.iter().zip(&servers).map(|((name, _), s)| hl7(name, s.port())).collect();
    let closed = support::closed_port();
    let (doc, code) = inventory(&(checks + &hl7("down", closed))).run_json(&[]);

    let (status, detail) = verdict(&doc, "accept");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("AA from LIS in "), "{detail}");
    assert_eq!(
        verdict(&doc, "error"),
        (
            "fail".into(),
            "AE (application error) from LIS: Required field missing; Patient identifier list (PID-3) is required"
                .into()
        )
    );
    assert_eq!(
        verdict(&doc, "reject"),
        ("fail".into(), "AR (application reject) from LIS: Unsupported message type".into())
    );
    let (_, detail) = verdict(&doc, "wrong id");
    assert!(detail.starts_with("AA from LIS, but for control id \"SOMEONE-ELSE\", not ours"), "{detail}");
    assert_eq!(
        verdict(&doc, "not mllp"),
        ("fail".into(), "bad framing: the answer starts with 0x48, not MLLP's 0x0B".into())
    );
    assert_eq!(verdict(&doc, "silent"), ("fail".into(), "no answer in 1 s".into()));
    assert_eq!(verdict(&doc, "hang up"), ("fail".into(), "the engine closed the connection without an ACK".into()));
    assert_eq!(verdict(&doc, "down"), ("fail".into(), "connection refused".into()));
    assert_eq!(code, 2);
}

// ---- system and process -----------------------------------------------------------------

#[test]
fn system_reports_memory_load_and_swap_of_this_machine() {
    let toml = "[[system]]\nname = \"host\"\nmin_memory_available = \"0%\"\nmax_load_per_cpu = 1000.0\n\n\
                [[system]]\nname = \"impossible\"\nmin_memory_available = \"100%\"\n";
    let (doc, _) = inventory(toml).run_json(&[]);
    let (status, detail) = verdict(&doc, "host");
    assert_eq!(status, "pass", "{detail}");
    assert!(
        detail.starts_with("memory ") && detail.contains(" available of ") && detail.contains("per CPU"),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "impossible");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("below 100%"), "{detail}");
}

/// `sleep` under a name no other process has (a symlink: the kernel names a process after
/// the path it was started by), killed on drop.
struct Sleeper(std::process::Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn process_check_finds_a_running_program_by_name() {
    let inv = inventory("[[process]]\nname = \"agent\"\nprocess = \"rounds-sleeper\"\n");
    let program = inv.dir.path().join("rounds-sleeper");
    std::os::unix::fs::symlink("/bin/sleep", &program).expect("link sleep");
    let sleeper = Sleeper(std::process::Command::new(&program).arg("60").spawn().expect("start sleeper"));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "agent");
    assert_eq!(status, "pass", "{detail}");
    assert_eq!(detail, format!("running: 1 process (pid {})", sleeper.0.id()));
    drop(sleeper);
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "agent"), ("fail".into(), "no process named rounds-sleeper is running".into()));
    assert_eq!(code, 2);
}

// ---- DNS (system resolver) -----------------------------------------------------------------

#[test]
fn dns_through_the_system_resolver() {
    let toml = "[[dns]]\nname = \"loopback\"\nhost = \"localhost\"\nexpect = [\"127.0.0.1\"]\n\n\
                [[dns]]\nname = \"moved\"\nhost = \"localhost\"\nexpect = [\"10.9.9.9\"]\n\n\
                [[dns]]\nname = \"gone\"\nhost = \"no-such-host.invalid\"\n";
    let (doc, code) = inventory(toml).run_json(&[]);
    let (status, detail) = verdict(&doc, "loopback");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("127.0.0.1") && detail.contains(" in "), "{detail}");
    let (status, detail) = verdict(&doc, "moved");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("missing expected 10.9.9.9"), "{detail}");
    let (status, detail) = verdict(&doc, "gone");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("cannot resolve no-such-host.invalid"), "{detail}");
    assert_eq!(code, 2);
}

/// Debian's dnsmasq as a real DNS server on a free loopback UDP port, killed on drop.
struct Dnsmasq {
    child: std::process::Child,
    port: u16,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn dnsmasq(records: &[&str]) -> Dnsmasq {
    let program = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"].into_iter().find(|p| std::path::Path::new(p).exists());
    let program = program.expect("dnsmasq is not installed: apt-get install -y dnsmasq-base (.ci/run does this)");
    let port = free_udp_port();
    let mut command = std::process::Command::new(program);
    command
        .args(["--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces"])
        .args(["--listen-address=127.0.0.1", "--pid-file=", &format!("--port={port}")])
        .args(records.iter().map(|r| format!("--address={r}")))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let server = Dnsmasq { child: command.spawn().expect("start dnsmasq"), port };
    // Ready once the port is taken.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(std::time::Instant::now() < deadline, "dnsmasq did not start on port {port}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server
}

#[test]
fn dns_asks_a_given_server_directly() {
    let server = dnsmasq(&["/ehr.clinic.test/10.0.0.10", "/gone.clinic.test/"]);
    let closed = free_udp_port();
    let ask = |name: &str, host: &str, port: u16, expect: &str| {
        format!("[[dns]]\nname = {name:?}\nhost = {host:?}\nserver = \"127.0.0.1:{port}\"\nexpect = [{expect}]\ntimeout = \"3s\"\n")
    };
    let toml = ask("ehr", "ehr.clinic.test", server.port, "\"10.0.0.10\"")
        + &ask("moved", "ehr.clinic.test", server.port, "\"10.0.0.99\"")
        + &ask("gone", "gone.clinic.test", server.port, "")
        + &ask("no server", "ehr.clinic.test", closed, "");
    let (doc, code) = inventory(&toml).run_json(&[]);
    let (status, detail) = verdict(&doc, "ehr");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("10.0.0.10 in "), "{detail}");
    assert_eq!(support::check(&doc, "ehr")["target"], format!("ehr.clinic.test @127.0.0.1:{}", server.port));
    assert_eq!(verdict(&doc, "moved"), ("fail".into(), "resolves to 10.0.0.10, missing expected 10.0.0.99".into()));
    assert_eq!(
        verdict(&doc, "gone"),
        (
            "fail".into(),
            format!("DNS server 127.0.0.1:{} says gone.clinic.test does not exist (NXDOMAIN)", server.port)
        )
    );
    assert_eq!(
        verdict(&doc, "no server"),
        ("fail".into(), format!("DNS server 127.0.0.1:{closed}: connection refused"))
    );
    assert_eq!(code, 2);
}
