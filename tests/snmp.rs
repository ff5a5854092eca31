//! `[[snmp]]` against real agents: net-snmp's `snmpd` (Debian `snmpd`) with a v2c community
//! and SNMPv3 users of several auth/privacy pairs, in its own config on a loopback port; and
//! `snmpsim` (PyPI) replaying recordings written here of a printer (Printer-MIB supplies, an
//! error state with noPaper), UPS cards (UPS-MIB) and a switch whose ports are up, down and
//! disabled. `snmpget` (Debian `snmp`) proves each agent answers before rounds is asked.
//! Each agent starts once for this test binary (support::start_shared).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use support::{inventory, start_shared, verdict, wait_until};

/// A UDP port on 127.0.0.1 below the ephemeral range, free for a plain bind now; the ports
/// handed out are remembered so two agents never get the same one.
fn low_udp_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let start = 23_000 + (std::process::id() % 4_000) as u16 * 2;
    let port = (start..32_000)
        .find(|&port| !given.contains(&port) && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok())
        .expect("a free UDP port below 32000");
    given.push(port);
    port
}

/// `snmpget` with no MIB loading (its warnings are noise) and its state in `dir`.
fn snmpget(dir: &Path, args: &[&str]) -> Option<String> {
    let snmpget = support::peer(&["/usr/bin/snmpget"], "snmp")?;
    let output = Command::new(snmpget)
        .args(["-On", "-t", "1", "-r", "0"])
        .args(args)
        .env("MIBS", "")
        .env("MIBDIRS", dir)
        .env("SNMP_PERSISTENT_DIR", dir)
        .env("SNMPCONFPATH", dir)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Waits until the agent on `port` answers sysName.0 (or sysDescr.0) for `community`.
fn wait_for_agent(what: &str, dir: &Path, port: u16, community: &str) {
    let target = format!("127.0.0.1:{port}");
    wait_until(what, || snmpget(dir, &["-v2c", "-c", community, &target, "1.3.6.1.2.1.1.1.0"]).is_some());
}

// ---------------------------------------------------------------------------------------
// snmpd

const COMMUNITY: &str = "clinic-ro-community";

/// SNMPv3 users of snmpd: (user, net-snmp auth, auth password, net-snmp privacy, privacy password).
const USERS: [(&str, &str, &str, &str, &str); 5] = [
    ("sha256aes", "SHA-256", "auth-pass-sha256", "AES", "priv-pass-aes128"),
    ("md5des", "MD5", "auth-pass-md5", "DES", "priv-pass-des"),
    ("shaaes256", "SHA", "auth-pass-sha1", "AES-256", "priv-pass-aes256"),
    ("shaaes256c", "SHA", "auth-pass-sha1", "AES-256-C", "priv-pass-aes256c"),
    ("sha512aes192", "SHA-512", "auth-pass-sha512", "AES-192", "priv-pass-aes192"),
];

/// snmpd on a loopback port with its own config and state folder; its port and folder.
fn snmpd() -> Option<&'static (u16, PathBuf)> {
    static SNMPD: OnceLock<(u16, PathBuf)> = OnceLock::new();
    let binary = support::peer(&["/usr/sbin/snmpd"], "snmpd")?;
    support::peer(&["/usr/bin/snmpget"], "snmp")?;
    Some(SNMPD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = low_udp_port();
        let mut conf = format!("rocommunity {COMMUNITY} 127.0.0.1\nsysservices 72\n");
        // authNoPriv and noAuthNoPriv users too.
        conf.push_str("createUser sha384only SHA-384 \"auth-pass-sha384\"\nrouser sha384only auth\n");
        conf.push_str("createUser plainuser\nrouser plainuser noauth\n");
        for (user, auth, auth_pw, privacy, priv_pw) in USERS {
            conf.push_str(&format!(
                "createUser {user} {auth} \"{auth_pw}\" {privacy} \"{priv_pw}\"\nrouser {user} priv\n"
            ));
        }
        let conf_file = dir.path().join("snmpd.conf");
        std::fs::write(&conf_file, conf).expect("snmpd.conf");
        let state = dir.path().join("state");
        std::fs::create_dir(&state).expect("state dir");
        let mut command = Command::new(binary);
        command
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&conf_file)
            .arg(format!("udp:127.0.0.1:{port}"))
            .env("MIBS", "")
            .env("MIBDIRS", &state)
            .env("SNMP_PERSISTENT_DIR", &state)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let folder = dir.path().to_owned();
        start_shared(command, dir, libc::SIGTERM);
        wait_for_agent("snmpd", &state, port, COMMUNITY);
        (port, folder)
    }))
}

fn snmp_check(name: &str, port: u16, body: &str) -> String {
    snmp_check_within("10s", name, port, body)
}

/// A check whose agent is expected to stay silent: a short timeout keeps the test quick.
fn snmp_check_within(timeout: &str, name: &str, port: u16, body: &str) -> String {
    format!("[[snmp]]\nname = {name:?}\nhost = \"127.0.0.1\"\nport = {port}\ntimeout = {timeout:?}\n{body}\n")
}

fn v3(user: &str, auth: &str, auth_pw: &str, privacy: &str, priv_pw: &str) -> String {
    format!(
        "version = \"3\"\nuser = {user:?}\nauth = {auth:?}\nauth_password = {auth_pw:?}\n\
         privacy = {privacy:?}\nprivacy_password = {priv_pw:?}\n"
    )
}

const UPTIME: &str = "oids = [{ oid = \"1.3.6.1.2.1.1.3.0\", min = 1 }, { oid = \".1.3.6.1.2.1.1.7.0\", equals = 72 }]";

#[test]
fn snmpv3_auth_priv_pairs_against_snmpd() {
    let Some((port, dir)) = snmpd() else { return };
    let port = *port;
    // snmpget proves the agent answers a v3 user as configured.
    let target = format!("127.0.0.1:{port}");
    let proof = snmpget(
        &dir.join("state"),
        &[
            "-v3",
            "-l",
            "authPriv",
            "-u",
            "sha256aes",
            "-a",
            "SHA-256",
            "-A",
            "auth-pass-sha256",
            "-x",
            "AES",
            "-X",
            "priv-pass-aes128",
            &target,
            "1.3.6.1.2.1.1.7.0",
        ],
    );
    assert!(proof.is_some_and(|p| p.contains("INTEGER: 72")), "snmpd did not answer snmpget over v3");
    let checks: String = [
        snmp_check(
            "sha256+aes128",
            port,
            &(v3("sha256aes", "sha256", "auth-pass-sha256", "aes128", "priv-pass-aes128") + UPTIME),
        ),
        snmp_check("md5+des", port, &(v3("md5des", "md5", "auth-pass-md5", "des", "priv-pass-des") + UPTIME)),
        snmp_check(
            "sha+aes256",
            port,
            &(v3("shaaes256", "sha", "auth-pass-sha1", "aes256", "priv-pass-aes256") + UPTIME),
        ),
        snmp_check(
            "sha+aes256c",
            port,
            &(v3("shaaes256c", "sha", "auth-pass-sha1", "aes256c", "priv-pass-aes256c") + UPTIME),
        ),
        snmp_check(
            "sha512+aes192",
            port,
            &(v3("sha512aes192", "sha512", "auth-pass-sha512", "aes192", "priv-pass-aes192") + UPTIME),
        ),
        snmp_check(
            "sha384 without privacy",
            port,
            &format!("version = \"3\"\nuser = \"sha384only\"\nauth = \"sha384\"\nauth_password = \"auth-pass-sha384\"\n{UPTIME}"),
        ),
        snmp_check("no auth", port, &format!("version = \"3\"\nuser = \"plainuser\"\n{UPTIME}")),
        // The Reeder user asked with Blumenthal's key extension: the keys differ, so the
        // agent cannot decrypt. This is what proves aes256 and aes256c are not swapped.
        snmp_check_within(
            "3s",
            "aes256c user as aes256",
            port,
            &(v3("shaaes256c", "sha", "auth-pass-sha1", "aes256", "priv-pass-aes256c") + UPTIME),
        ),
    ]
    .concat();
    let inv = inventory(&checks);
    let (doc, code) = inv.run_json(&["--no-state"]);
    for name in
        ["sha256+aes128", "md5+des", "sha+aes256", "sha+aes256c", "sha512+aes192", "sha384 without privacy", "no auth"]
    {
        let (status, detail) = verdict(&doc, name);
        assert_eq!(status, "pass", "{name}: {detail}");
        assert!(detail.starts_with("1.3.6.1.2.1.1.3.0 = "), "{name}: {detail}");
        assert!(detail.ends_with(", 1.3.6.1.2.1.1.7.0 = 72"), "{name}: {detail}");
    }
    let (status, detail) = verdict(&doc, "aes256c user as aes256");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("wrong privacy password or protocol"), "{detail}");
    assert_eq!(code, 2, "a failed critical check fails the run");
}

#[test]
fn snmpv3_wrong_password_and_unknown_user_in_words() {
    let Some((port, _)) = snmpd() else { return };
    let port = *port;
    let checks = [
        snmp_check(
            "wrong auth",
            port,
            &(v3("sha256aes", "sha256", "not-the-password", "aes128", "priv-pass-aes128") + UPTIME),
        ),
        snmp_check("wrong auth md5", port, &(v3("md5des", "md5", "not-the-password", "des", "priv-pass-des") + UPTIME)),
        snmp_check(
            "unknown user",
            port,
            &(v3("nobody-here", "sha256", "auth-pass-sha256", "aes128", "priv-pass-aes128") + UPTIME),
        ),
        snmp_check_within(
            "3s",
            "wrong privacy",
            port,
            &(v3("sha256aes", "sha256", "auth-pass-sha256", "aes128", "not-the-privacy") + UPTIME),
        ),
    ]
    .concat();
    let inv = inventory(&checks);
    let (doc, _) = inv.run_json(&["--no-state"]);
    for name in ["wrong auth", "wrong auth md5"] {
        assert_eq!(
            verdict(&doc, name),
            (
                "fail".into(),
                "wrong authentication password or user (the agent counts it in usmStatsWrongDigests)".into()
            ),
            "{name}"
        );
    }
    assert_eq!(
        verdict(&doc, "unknown user"),
        ("fail".into(), "the agent has no user \"nobody-here\" (usmStatsUnknownUserNames)".into())
    );
    // net-snmp drops what it cannot decrypt: silence, said with the likely cause.
    let (status, detail) = verdict(&doc, "wrong privacy");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("no answer in 3 s: a wrong privacy password or protocol"), "{detail}");
    let text = serde_json::to_string(&doc).expect("json");
    for secret in ["not-the-password", "not-the-privacy", "auth-pass-sha256", "priv-pass-aes128"] {
        assert!(!text.contains(secret), "{secret} reached the report");
    }
}

#[test]
fn snmpv2c_community_interface_and_silence() {
    let Some((port, _)) = snmpd() else { return };
    let port = *port;
    let closed = support::closed_port();
    let community = format!("community = {COMMUNITY:?}\n");
    let checks = [
        snmp_check("loopback", port, &format!("{community}profile = \"interface\"\ninterfaces = [\"lo\"]")),
        snmp_check("no such port", port, &format!("{community}profile = \"interface\"\ninterfaces = [\"lo\", \"l0\"]")),
        snmp_check(
            "raw",
            port,
            &format!(
                "{community}oids = [{{ oid = \"1.3.6.1.2.1.1.7.0\", max = 10 }}, {{ oid = \"1.3.6.1.2.1.1.99.0\" }}]"
            ),
        ),
        snmp_check("snmpd as a ups", port, &format!("{community}profile = \"ups\"")),
        snmp_check("snmpd as a printer", port, &format!("{community}profile = \"printer\"")),
        snmp_check_within("2s", "wrong community", port, "community = \"${WRONG_COMMUNITY}\"\nprofile = \"ups\""),
        snmp_check_within("2s", "closed port", closed, &format!("{community}profile = \"ups\"")),
    ]
    .concat();
    let inv = inventory(&checks);
    let output = inv
        .rounds(&["--no-state", "--format", "json"])
        .env("WRONG_COMMUNITY", "not-the-community")
        .output()
        .expect("run rounds");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(verdict(&doc, "loopback"), ("pass".into(), "lo up".into()));
    let (status, detail) = verdict(&doc, "no such port");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("no interface \"l0\"; the closest: lo"), "{detail}");
    assert!(detail.ends_with(", lo up"), "{detail}");
    assert_eq!(
        verdict(&doc, "raw"),
        (
            "fail".into(),
            "1.3.6.1.2.1.1.7.0 = 72, above 10, 1.3.6.1.2.1.1.99.0: no such object on this agent (noSuchObject)".into()
        )
    );
    // An agent without the profile's MIB: nothing to vouch for, so it warns, never passes.
    let (status, detail) = verdict(&doc, "snmpd as a ups");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.contains("the UPS reports no output source (upsOutputSource)"), "{detail}");
    let (status, detail) = verdict(&doc, "snmpd as a printer");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.contains("the printer reports no supplies"), "{detail}");
    assert_eq!(
        verdict(&doc, "wrong community"),
        ("fail".into(), "no answer in 2 s: wrong community or SNMP not enabled".into())
    );
    assert_eq!(
        verdict(&doc, "closed port"),
        ("fail".into(), "no answer in 2 s: wrong community or SNMP not enabled".into())
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains(COMMUNITY) && !text.contains("not-the-community"), "a community reached the report");
}

// ---------------------------------------------------------------------------------------
// snmpsim

/// A printer stopped (hrDeviceStatus down, hrPrinterStatus other) with noPaper set, black
/// toner low, cyan unknown, the waste box nearly full.
const PRINTER: &str = "\
1.3.6.1.2.1.1.1.0|4|Clinic laser printer
1.3.6.1.2.1.1.5.0|4|lab-printer
1.3.6.1.2.1.25.3.2.1.5.1|2|5
1.3.6.1.2.1.25.3.5.1.1.1|2|1
1.3.6.1.2.1.25.3.5.1.2.1|4x|4000
1.3.6.1.2.1.43.11.1.1.4.1.1|2|3
1.3.6.1.2.1.43.11.1.1.4.1.2|2|3
1.3.6.1.2.1.43.11.1.1.4.1.3|2|4
1.3.6.1.2.1.43.11.1.1.4.1.4|2|3
1.3.6.1.2.1.43.11.1.1.5.1.1|2|3
1.3.6.1.2.1.43.11.1.1.5.1.2|2|3
1.3.6.1.2.1.43.11.1.1.5.1.3|2|4
1.3.6.1.2.1.43.11.1.1.5.1.4|2|3
1.3.6.1.2.1.43.11.1.1.6.1.1|4|Black Toner Cartridge
1.3.6.1.2.1.43.11.1.1.6.1.2|4|Cyan Toner Cartridge
1.3.6.1.2.1.43.11.1.1.6.1.3|4|Waste Toner Box
1.3.6.1.2.1.43.11.1.1.6.1.4|4|Magenta Toner Cartridge
1.3.6.1.2.1.43.11.1.1.8.1.1|2|100
1.3.6.1.2.1.43.11.1.1.8.1.2|2|2000
1.3.6.1.2.1.43.11.1.1.8.1.3|2|100
1.3.6.1.2.1.43.11.1.1.8.1.4|2|20000
1.3.6.1.2.1.43.11.1.1.9.1.1|2|6
1.3.6.1.2.1.43.11.1.1.9.1.2|2|-2
1.3.6.1.2.1.43.11.1.1.9.1.3|2|97
1.3.6.1.2.1.43.11.1.1.9.1.4|2|15000
";

/// A printer with nothing wrong, asleep (hrDeviceStatus running, hrPrinterStatus other:
/// standby, as office printers are in the morning).
const PRINTER_OK: &str = "\
1.3.6.1.2.1.1.1.0|4|Clinic label printer
1.3.6.1.2.1.25.3.2.1.5.1|2|2
1.3.6.1.2.1.25.3.5.1.1.1|2|1
1.3.6.1.2.1.25.3.5.1.2.1|4x|0000
1.3.6.1.2.1.43.11.1.1.4.1.1|2|3
1.3.6.1.2.1.43.11.1.1.5.1.1|2|3
1.3.6.1.2.1.43.11.1.1.6.1.1|4|Black Toner Cartridge
1.3.6.1.2.1.43.11.1.1.8.1.1|2|4000
1.3.6.1.2.1.43.11.1.1.9.1.1|2|3000
";

/// A UPS card: on battery, charge 40, 8 minutes left, one alarm.
fn ups(source: u8, battery: u8, charge: u8, minutes: u8, alarms: u8) -> String {
    format!(
        "1.3.6.1.2.1.1.1.0|4|UPS network card\n\
         1.3.6.1.2.1.33.1.2.1.0|2|{battery}\n\
         1.3.6.1.2.1.33.1.2.3.0|2|{minutes}\n\
         1.3.6.1.2.1.33.1.2.4.0|2|{charge}\n\
         1.3.6.1.2.1.33.1.4.1.0|2|{source}\n\
         1.3.6.1.2.1.33.1.6.1.0|66|{alarms}\n"
    )
}

/// A switch: Gi1/0/1 up, Gi1/0/2 down, Gi1/0/3 disabled, Gi1/0/4 up with an alias holding
/// an escape sequence and far too long.
fn switch() -> String {
    let hex = |text: &str| text.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let evil_alias = hex(&format!("\u{1b}[31m{}", "A".repeat(300)));
    let ports = [
        (1, "Gi1/0/1", 1, 1, hex("PACS uplink")),
        (2, "Gi1/0/2", 1, 2, hex("lab uplink")),
        (3, "Gi1/0/3", 2, 2, hex("spare")),
        (4, "Gi1/0/4", 1, 1, evil_alias),
    ];
    let mut lines = vec!["1.3.6.1.2.1.1.1.0|4|Clinic core switch".to_owned()];
    for (i, name, _, _, _) in &ports {
        lines.push(format!("1.3.6.1.2.1.2.2.1.2.{i}|4|GigabitEthernet{}", &name[2..]));
    }
    for (i, _, admin, _, _) in &ports {
        lines.push(format!("1.3.6.1.2.1.2.2.1.7.{i}|2|{admin}"));
    }
    for (i, _, _, oper, _) in &ports {
        lines.push(format!("1.3.6.1.2.1.2.2.1.8.{i}|2|{oper}"));
    }
    for (i, name, _, _, _) in &ports {
        lines.push(format!("1.3.6.1.2.1.31.1.1.1.1.{i}|4|{name}"));
    }
    for (i, _, _, _, alias) in &ports {
        lines.push(format!("1.3.6.1.2.1.31.1.1.1.18.{i}|4x|{alias}"));
    }
    lines.join("\n") + "\n"
}

/// snmpsim replaying the recordings above, each under its file name as v2c community (a
/// secret, so long enough to be hidden only where it stands, never inside a check's name).
fn snmpsim() -> Option<u16> {
    static SNMPSIM: OnceLock<u16> = OnceLock::new();
    // snmpsim refuses to run as root and drops to nobody, who cannot read a Python under
    // /root (pyenv): the system's python3, with snmpsim installed for it, as .ci/run does.
    let python = support::peer(&["/usr/bin/python3"], "python3")?;
    let importable =
        Command::new(&python).args(["-c", "import snmpsim, pysmi"]).output().is_ok_and(|o| o.status.success());
    if !importable {
        return support::skipped(
            "needs snmpsim for /usr/bin/python3 (/usr/bin/python3 -m pip install --break-system-packages snmpsim pysmi)"
                .into(),
        );
    }
    support::peer(&["/usr/bin/snmpget"], "snmp")?;
    Some(*SNMPSIM.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let cache = dir.path().join("cache");
        std::fs::create_dir(&data).expect("data dir");
        std::fs::create_dir(&cache).expect("cache dir");
        let recordings = [
            ("rec-printer-lab", PRINTER.to_owned()),
            ("rec-printer-fine", PRINTER_OK.to_owned()),
            ("rec-ups-on-battery", ups(5, 2, 40, 8, 1)),
            ("rec-ups-on-mains", ups(3, 2, 100, 45, 0)),
            ("rec-ups-battery-low", ups(5, 3, 12, 3, 2)),
            ("rec-switch-core", switch()),
        ];
        for (name, contents) in recordings {
            std::fs::write(data.join(format!("{name}.snmprec")), contents).expect("write recording");
        }
        // nobody reads the recordings and writes the index.
        let mode = |path: &Path, mode: u32| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
        mode(dir.path(), 0o755).expect("chmod");
        mode(&data, 0o755).expect("chmod");
        mode(&cache, 0o777).expect("chmod");
        let port = low_udp_port();
        let mut command = Command::new(python);
        command
            .args(["-m", "snmpsim.commands.responder", "--logging-method=null"])
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"))
            .args(["--process-user=nobody", "--process-group=nogroup"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let state = dir.path().to_owned();
        start_shared(command, dir, libc::SIGTERM);
        wait_for_agent("snmpsim", &state, port, "rec-printer-lab");
        port
    }))
}

fn community(name: &str) -> String {
    format!("community = {name:?}\n")
}

#[test]
fn printer_supplies_and_error_state_from_a_recording() {
    let Some(port) = snmpsim() else { return };
    let limits = "warn_level = \"15%\"\nmin_level = \"5%\"\n";
    let checks = [
        snmp_check("printer", port, &format!("{}profile = \"printer\"\n{limits}", community("rec-printer-lab"))),
        snmp_check("printer ok", port, &format!("{}profile = \"printer\"\n{limits}", community("rec-printer-fine"))),
    ]
    .concat();
    let (doc, _) = inventory(&checks).run_json(&["--no-state"]);
    assert_eq!(
        verdict(&doc, "printer"),
        (
            "fail".into(),
            "stopped (see the printer's panel), out of paper, Waste Toner Box 97% full, Black Toner Cartridge 6%, \
             Cyan Toner Cartridge level unknown, Magenta Toner Cartridge 75%"
                .into()
        )
    );
    assert_eq!(verdict(&doc, "printer ok"), ("pass".into(), "standby, Black Toner Cartridge 75%".into()));
}

#[test]
fn ups_cards_from_recordings() {
    let Some(port) = snmpsim() else { return };
    let limits = "min_charge = \"50%\"\nwarn_charge = \"80%\"\nmin_runtime = \"10m\"\n";
    let checks: String =
        [("on battery", "rec-ups-on-battery"), ("on mains", "rec-ups-on-mains"), ("low", "rec-ups-battery-low")]
            .iter()
            .map(|(name, recording)| {
                snmp_check(name, port, &format!("{}profile = \"ups\"\n{limits}", community(recording)))
            })
            .collect();
    let (doc, _) = inventory(&checks).run_json(&["--no-state"]);
    assert_eq!(
        verdict(&doc, "on battery"),
        (
            "fail".into(),
            "charge 40% (below 50%), 8 min left (below 10 min), on battery, 1 alarm present, battery normal".into()
        )
    );
    assert_eq!(verdict(&doc, "on mains"), ("pass".into(), "on mains, battery normal, charge 100%, 45 min left".into()));
    let (status, detail) = verdict(&doc, "low");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("battery low, charge 12% (below 50%), 3 min left"), "{detail}");
}

#[test]
fn switch_ports_up_down_disabled_and_not_found() {
    let Some(port) = snmpsim() else { return };
    let switch = community("rec-switch-core");
    let checks = [
        snmp_check("pacs uplink", port, &format!("{switch}profile = \"interface\"\ninterfaces = [\"Gi1/0/1\"]")),
        snmp_check("lab uplink", port, &format!("{switch}profile = \"interface\"\ninterfaces = [\"Gi1/0/2\"]")),
        snmp_check("spare", port, &format!("{switch}profile = \"interface\"\ninterfaces = [\"Gi1/0/3\"]")),
        snmp_check(
            "by ifDescr",
            port,
            &format!("{switch}profile = \"interface\"\ninterfaces = [\"GigabitEthernet1/0/1\"]"),
        ),
        snmp_check("typo", port, &format!("{switch}profile = \"interface\"\ninterfaces = [\"Gi1/0/9\"]")),
        snmp_check("hostile alias", port, &format!("{switch}profile = \"interface\"\ninterfaces = [\"Gi1/0/4\"]")),
    ]
    .concat();
    let (doc, _) = inventory(&checks).run_json(&["--no-state"]);
    assert_eq!(verdict(&doc, "pacs uplink"), ("pass".into(), "Gi1/0/1 (PACS uplink) up".into()));
    assert_eq!(verdict(&doc, "lab uplink"), ("fail".into(), "Gi1/0/2 (lab uplink) down".into()));
    assert_eq!(verdict(&doc, "spare"), ("warn".into(), "Gi1/0/3 (spare) disabled by an administrator".into()));
    assert_eq!(verdict(&doc, "by ifDescr"), ("pass".into(), "GigabitEthernet1/0/1 (PACS uplink) up".into()));
    let (status, detail) = verdict(&doc, "typo");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("no interface \"Gi1/0/9\"; the closest: Gi1/0/1, Gi1/0/2, Gi1/0/3"), "{detail}");
    // Peer text: the escape sequence is cleaned away, the alias cut short.
    let (status, detail) = verdict(&doc, "hostile alias");
    assert_eq!(status, "pass", "{detail}");
    assert!(!detail.contains('\u{1b}'), "{detail:?}");
    assert!(detail.starts_with("Gi1/0/4 (") && detail.ends_with("…) up"), "{detail}");
    assert!(detail.chars().count() < 120, "{detail}");
}

/// Real ports down and disabled: snmpd inside a network namespace of the test's own, with a
/// veth pair whose one end is up without a carrier (ifOperStatus down while admin up) and
/// another pair left disabled (ifAdminStatus down). rounds runs inside the same namespace,
/// so everything it sends stays there.
#[test]
fn real_ports_down_and_disabled_in_a_namespace() {
    let Some(snmpd) = support::peer(&["/usr/sbin/snmpd"], "snmpd") else { return };
    let Some(snmpget) = support::peer(&["/usr/bin/snmpget"], "snmp") else { return };
    let Some(_) = support::peer(&["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"], "iproute2") else { return };
    let can_unshare = Command::new("unshare").args(["--net", "true"]).status().is_ok_and(|s| s.success());
    if !can_unshare {
        support::skipped::<()>("needs CAP_SYS_ADMIN to make a network namespace (unshare --net)".into());
        return;
    }
    let community = "namespace-community";
    let checks = [
        snmp_check(
            "uplink",
            16100,
            &format!("community = {community:?}\nprofile = \"interface\"\ninterfaces = [\"v0\"]"),
        ),
        snmp_check(
            "spare",
            16100,
            &format!("community = {community:?}\nprofile = \"interface\"\ninterfaces = [\"v2\"]"),
        ),
        snmp_check(
            "loopback",
            16100,
            &format!("community = {community:?}\nprofile = \"interface\"\ninterfaces = [\"lo\"]"),
        ),
    ]
    .concat();
    let inv = inventory(&checks);
    let dir = inv.dir.path();
    std::fs::write(dir.join("snmpd.conf"), format!("rocommunity {community} 127.0.0.1\n")).expect("snmpd.conf");
    // snmpd is stopped by the script's trap however rounds ends; `timeout` bounds it all.
    let script = format!(
        "set -e\nip link set lo up\nip link add v0 type veth peer name v1\nip link set v0 up\n\
         ip link add v2 type veth peer name v3\n\
         MIBS= SNMP_PERSISTENT_DIR={d} {snmpd} -f -Lo -C -c {d}/snmpd.conf udp:127.0.0.1:16100 >/dev/null 2>&1 & pid=$!\n\
         trap 'kill $pid; wait $pid' EXIT\n\
         i=0; until MIBS= SNMP_PERSISTENT_DIR={d} {snmpget} -v2c -c {community} -t 0.5 -r 0 127.0.0.1:16100 \
         1.3.6.1.2.1.1.1.0 >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.2; i=$((i+1)); done\n\
         XDG_STATE_HOME={d}/state {rounds} --format json --no-state --config {inv}\n",
        d = dir.display(),
        snmpd = snmpd.display(),
        snmpget = snmpget.display(),
        rounds = assert_cmd::cargo::cargo_bin!("rounds").display(),
        inv = inv.path.display(),
    );
    let output = Command::new("timeout")
        .args(["120", "unshare", "--net", "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("timeout, unshare and sh");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(verdict(&doc, "uplink"), ("fail".into(), "v0 down".into()));
    assert_eq!(verdict(&doc, "spare"), ("warn".into(), "v2 disabled by an administrator".into()));
    assert_eq!(verdict(&doc, "loopback"), ("pass".into(), "lo up".into()));
}
