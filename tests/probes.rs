//! `[[server]]`, `[[tls]]`, `[[backup]]` and `[[disk]]` against real sockets and files.

mod support;

use std::time::{Duration, SystemTime};

use filetime::FileTime;
use support::pki::{self, Ca};
use support::{inventory, verdict};

// ---- server ---------------------------------------------------------------------------

#[test]
fn server_ports_are_checked_one_by_one() {
    let open = support::silent();
    let closed = support::closed_port();
    let inv = inventory(&format!(
        "[[server]]\nname = \"pacs-01\"\nhost = \"127.0.0.1\"\nports = [{}, {closed}]\n",
        open.port()
    ));
    let (doc, code) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, &format!("pacs-01:{}", open.port()));
    assert_eq!(status, "pass");
    assert!(detail.starts_with("connected in "), "{detail}");
    assert_eq!(verdict(&doc, &format!("pacs-01:{closed}")), ("fail".into(), "connection refused".into()));
    assert_eq!(code, 2);
}

#[test]
fn server_that_cannot_be_resolved_says_so() {
    let inv = inventory("[[server]]\nname = \"ghost\"\nhost = \"no-such-host.invalid\"\nports = [443]\n");
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "ghost:443");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("cannot resolve no-such-host.invalid"), "{detail}");
}

// ---- tls ------------------------------------------------------------------------------

fn tls_check(name: &str, port: u16) -> String {
    format!("[[tls]]\nname = {name:?}\nhost = \"localhost\"\nport = {port}\nca_file = \"ca.pem\"\n")
}

#[test]
fn tls_reports_issuer_and_days_left() {
    let ca = Ca::root("Clinic LDAP CA");
    let server = support::tls_only(&ca.leaf(&["localhost"], -1, 200));
    let inv = inventory(&tls_check("LDAPS", server.port()));
    inv.write("ca.pem", &ca.pem);
    let (doc, code) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "LDAPS");
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.starts_with("issued by \"Clinic LDAP CA\", certificate expires in 200 days"), "{detail}");
}

#[test]
fn tls_expired_and_expiring_certificates() {
    let ca = Ca::root("Clinic LDAP CA");
    let expired = support::tls_only(&ca.leaf(&["localhost"], -400, -10));
    let expiring = support::tls_only(&ca.leaf(&["localhost"], -1, 12));
    let inv = inventory(&(tls_check("expired", expired.port()) + &tls_check("expiring", expiring.port())));
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "expired");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("certificate expired "), "{detail}");
    let (status, detail) = verdict(&doc, "expiring");
    assert_eq!(status, "warn");
    assert!(detail.contains("expires in 12 days"), "{detail}");
}

#[test]
fn tls_against_a_server_that_does_not_speak_tls() {
    let server = support::http(|_| support::reply(200, "plain"));
    let inv = inventory(&format!("[[tls]]\nname = \"plain\"\nhost = \"localhost\"\nport = {}\n", server.port()));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "plain");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("TLS handshake failed"), "{detail}");
}

#[test]
fn tls_self_signed_fails() {
    let server = support::tls_only(&pki::self_signed(&["localhost"]));
    let inv = inventory(&format!("[[tls]]\nname = \"selfie\"\nhost = \"localhost\"\nport = {}\n", server.port()));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "selfie");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("self-signed certificate"), "{detail}");
}

// ---- backup ---------------------------------------------------------------------------

fn set_age(path: &std::path::Path, hours: u64) {
    let when = SystemTime::now() - Duration::from_secs(hours * 3600 + 60);
    filetime::set_file_mtime(path, FileTime::from_system_time(when)).expect("set mtime");
}

const BACKUP: &str = r#"
[[backup]]
name = "EHR nightly dump"
path = "backups"
pattern = "*.dump"
max_age = "26h"
warn_age = "25h"
min_size = "1 KiB"
"#;

fn backup_inventory() -> support::Inventory {
    let inv = inventory(BACKUP);
    std::fs::create_dir(inv.dir.path().join("backups")).expect("mkdir");
    inv
}

#[test]
fn backup_newest_matching_file_counts() {
    let inv = backup_inventory();
    let big = "x".repeat(4096);
    set_age(&inv.write("backups/EHR-2026-11-22.dump", &big), 50);
    set_age(&inv.write("backups/EHR-2026-11-24.dump", &big), 3);
    set_age(&inv.write("backups/notes.txt", "newer but not a dump"), 0);
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(
        verdict(&doc, "EHR nightly dump"),
        ("pass".into(), "newest EHR-2026-11-24.dump is 3 h old (limit 26 h), 4.0 KiB".into())
    );
    assert_eq!(code, 0);
}

#[test]
fn backup_too_old_fails_and_says_by_how_much() {
    let inv = backup_inventory();
    set_age(&inv.write("backups/EHR.dump", &"x".repeat(4096)), 31);
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "EHR nightly dump"), ("fail".into(), "newest EHR.dump is 31 h old, limit 26 h".into()));
    assert_eq!(code, 2);
}

#[test]
fn backup_past_warn_age_warns() {
    let inv = backup_inventory();
    set_age(&inv.write("backups/EHR.dump", &"x".repeat(4096)), 25);
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "EHR nightly dump").0, "warn");
}

#[test]
fn backup_too_small_fails() {
    let inv = backup_inventory();
    set_age(&inv.write("backups/EHR.dump", "tiny"), 1);
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "EHR nightly dump"), ("fail".into(), "newest EHR.dump is 4 B, below 1.0 KiB".into()));
}

#[test]
fn backup_with_no_matching_file_or_no_folder() {
    let inv = backup_inventory();
    inv.write("backups/readme.txt", "no dumps here");
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "EHR nightly dump"), ("fail".into(), "no file matches *.dump".into()));

    let missing = inventory(BACKUP);
    let (doc, _) = missing.run_json(&[]);
    assert_eq!(verdict(&doc, "EHR nightly dump"), ("fail".into(), "path does not exist".into()));
}

#[test]
fn backup_path_can_be_a_single_file() {
    let inv = inventory("[[backup]]\nname = \"sync log\"\npath = \"last-sync.log\"\nmax_age = \"8d\"\n");
    set_age(&inv.write("last-sync.log", "done"), 24 * 9);
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "sync log"), ("fail".into(), "newest last-sync.log is 9 days old, limit 8 days".into()));
}

// ---- disk -----------------------------------------------------------------------------

#[test]
fn disk_reports_free_space_and_thresholds() {
    let inv = inventory(
        "[[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n\n\
         [[disk]]\nname = \"impossible\"\npath = \"/\"\nmin_free = \"100%\"\n\n\
         [[disk]]\nname = \"huge\"\npath = \"/\"\nmin_free = \"1 KiB\"\nwarn_free = \"1000000 TiB\"\n",
    );
    let (doc, code) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "root");
    assert_eq!(status, "pass");
    assert!(detail.contains(" free of ") && detail.ends_with("%)"), "{detail}");
    let (status, detail) = verdict(&doc, "impossible");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("below 100%"), "{detail}");
    assert_eq!(verdict(&doc, "huge").0, "warn");
    assert_eq!(code, 2);
}

#[test]
fn disk_path_that_does_not_exist_fails() {
    let inv = inventory("[[disk]]\nname = \"gone\"\npath = \"/no/such/mount\"\n");
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "gone");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("cannot read free space"), "{detail}");
}

// ---- ping -------------------------------------------------------------------------------

#[test]
fn ping_loopback_gets_an_echo_reply() {
    let inv = inventory("[[server]]\nname = \"me\"\nhost = \"127.0.0.1\"\nping = true\n");
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "me:ping");
    // As root (CI) or where unprivileged ICMP is allowed, loopback answers; anywhere else the
    // check must say why it cannot ping, never panic.
    if status == "pass" {
        assert!(detail.starts_with("echo reply in "), "{detail}");
    } else {
        assert!(detail.starts_with("cannot ping: ICMP sockets are not allowed"), "{detail}");
    }
}

fn is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false)
}

/// Runs `rounds --format json` on `inv` as user nobody without capabilities, inside
/// `sh -c PREFIX...` (e.g. a network namespace), and returns the JSON document.
fn run_unprivileged(inv: &support::Inventory, namespace_setup: Option<&str>) -> serde_json::Value {
    std::fs::set_permissions(inv.dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // A copy the unprivileged user can reach: the checkout may sit under a private home.
    let bin = inv.dir.path().join("rounds");
    std::fs::copy(assert_cmd::cargo::cargo_bin!("rounds"), &bin).unwrap();
    let unprivileged = format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all {} --format json --config {}",
        bin.display(),
        inv.path.display()
    );
    let run = || {
        let mut command = match namespace_setup {
            Some(setup) => {
                let mut c = std::process::Command::new("unshare");
                c.args(["--net", "sh", "-c", &format!("{setup} && {unprivileged}")]);
                c
            }
            None => {
                let mut c = std::process::Command::new("sh");
                c.args(["-c", &unprivileged]);
                c
            }
        };
        command.output().expect("util-linux setpriv and unshare")
    };
    // Another test thread forking while the copy was open for writing makes exec fail with
    // "Text file busy" for a moment.
    let mut output = run();
    for _ in 0..20 {
        if !String::from_utf8_lossy(&output.stderr).contains("Text file busy") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        output = run();
    }
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)))
}

const PING_LOOPBACK: &str = "[[server]]\nname = \"me\"\nhost = \"127.0.0.1\"\nping = true\n";

/// Without root, cap_net_raw or ping_group_range, the check fails and says why.
#[test]
fn ping_without_privileges_says_why() {
    if !is_root() {
        return; // this test drops root privileges; as a normal user the test above covers it
    }
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
    let doc = run_unprivileged(&inventory(PING_LOOPBACK), None);
    let (status, detail) = verdict(&doc, "me:ping");
    if range.split_whitespace().collect::<Vec<_>>() == ["1", "0"] {
        assert_eq!(status, "fail");
        assert!(detail.starts_with("cannot ping: ICMP sockets are not allowed"), "{detail}");
    } else {
        assert!(status == "pass" || detail.starts_with("cannot ping"), "{detail}");
    }
}

/// Where net.ipv4.ping_group_range allows it, an unprivileged user pings through an ICMP
/// datagram socket. The range is set inside a network namespace of the test's own, so the
/// machine's setting is not touched.
#[test]
fn ping_with_unprivileged_icmp_sockets() {
    if !is_root() {
        return; // creating the namespace needs root
    }
    let setup = "ip link set lo up && echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range";
    let doc = run_unprivileged(&inventory(PING_LOOPBACK), Some(setup));
    let (status, detail) = verdict(&doc, "me:ping");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("echo reply in "), "{detail}");
}
