//! `[[server]]`, `[[tls]]`, ping and `[[dns]]` against real sockets, TLS servers and dnsmasq.

mod support;

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

/// `check_revocation`: a revoked serial on a real CRL served over HTTP fails; a current CRL
/// without the serial passes; a CRL that cannot be had or trusted only warns.
#[test]
fn check_revocation_reads_the_leafs_crl() {
    let root = Ca::root("Clinic LDAP CA");
    let intermediate = root.intermediate("Clinic Issuing CA", 365);
    let stranger = Ca::root("Someone Else");
    let crls = [
        ("/root.crl", root.crl(&[1001], 7)),
        ("/issuing.crl", intermediate.crl(&[1001], 7)),
        ("/stale.crl", root.crl(&[], -1)),
        ("/forged.crl", stranger.crl(&[], 7)),
    ];
    let crl_server = support::http(move |req| match crls.iter().find(|(path, _)| req.uri().path() == *path) {
        Some((_, der)) => support::reply_bytes(200, der),
        None => support::reply(404, "no such CRL"),
    });
    let gone = support::closed_port();
    let leaves = [
        ("revoked", root.leaf_listing_crl(&["localhost"], 1001, &crl_server.url("/root.crl"))),
        ("good", intermediate.leaf_listing_crl(&["localhost"], 1002, &crl_server.url("/issuing.crl"))),
        ("unreachable", root.leaf_listing_crl(&["localhost"], 1003, &format!("http://127.0.0.1:{gone}/root.crl"))),
        ("stale", root.leaf_listing_crl(&["localhost"], 1004, &crl_server.url("/stale.crl"))),
        ("forged", root.leaf_listing_crl(&["localhost"], 1005, &crl_server.url("/forged.crl"))),
        ("missing", root.leaf_listing_crl(&["localhost"], 1006, &crl_server.url("/nothing.crl"))),
        ("no distribution point", root.leaf(&["localhost"], -1, 90)),
    ];
    let servers: Vec<_> = leaves.iter().map(|(name, leaf)| (*name, support::tls_only(leaf))).collect();
    let toml: String =
        servers.iter().map(|(name, server)| tls_check(name, server.port()) + "check_revocation = true\n").collect();
    let inv = inventory(&toml);
    inv.write("ca.pem", &root.pem);
    let (doc, code) = inv.run_json(&[]);
    let expect = [
        ("revoked", "fail", "certificate was REVOKED on "),
        ("good", "pass", "not revoked (CRL of "),
        ("unreachable", "warn", "revocation not checked: CRL http://127.0.0.1:"),
        ("stale", "warn", "revocation not checked: the CRL is out of date (its next update was due "),
        ("forged", "warn", "revocation not checked: the CRL is issued by CN=Someone Else"),
        ("missing", "warn", "answered 404"),
        ("no distribution point", "warn", "revocation not checked: the certificate names no CRL distribution point"),
    ];
    for (name, status, words) in expect {
        let (got, detail) = verdict(&doc, name);
        assert_eq!(got, status, "{name}: {detail}");
        assert!(detail.contains(words), "{name}: {detail}");
    }
    let (_, revoked) = verdict(&doc, "revoked");
    assert!(revoked.contains("(key compromise)"), "{revoked}");
    assert_eq!(code, 2);
}

/// A CRL signed with another key under the same CA name is not believed.
#[test]
fn a_crl_with_a_forged_signature_is_not_believed() {
    let root = Ca::root("Clinic LDAP CA");
    let impostor = Ca::root("Clinic LDAP CA");
    let forged = impostor.crl(&[], 7);
    let crl_server = support::http(move |_| support::reply_bytes(200, &forged));
    let server = support::tls_only(&root.leaf_listing_crl(&["localhost"], 7, &crl_server.url("/root.crl")));
    let inv = inventory(&(tls_check("LDAPS", server.port()) + "check_revocation = true\n"));
    inv.write("ca.pem", &root.pem);
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "LDAPS");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.contains("the CRL's signature does not verify against the certificate's issuer"), "{detail}");
}

/// A certificate whose notAfter is before 1970 once panicked the date formatting (exit 101).
#[test]
fn a_certificate_that_expired_before_1970_is_just_expired() {
    let ca = Ca::root("Clinic LDAP CA");
    // About 1963 to 1964: UTCTime still encodes those years.
    let ancient = support::tls_only(&ca.leaf(&["localhost"], -23_000, -22_700));
    let inv = inventory(&tls_check("ancient", ancient.port()));
    inv.write("ca.pem", &ca.pem);
    let output = inv.rounds(&["--format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "ancient");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("certificate expired ") && detail.contains("(196"), "{detail}");
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
    let Some(_) = support::peer(&["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"], "iproute2") else { return };
    let can_unshare = std::process::Command::new("unshare").args(["--net", "true"]).status().is_ok_and(|s| s.success());
    if !can_unshare {
        support::skipped::<()>("needs CAP_SYS_ADMIN to make a network namespace (unshare --net)".into());
        return;
    }
    let setup = "ip link set lo up && echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range";
    let doc = run_unprivileged(&inventory(PING_LOOPBACK), Some(setup));
    let (status, detail) = verdict(&doc, "me:ping");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("echo reply in "), "{detail}");
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
    _child: support::Child,
    port: u16,
}

/// dnsmasq binds UDP and TCP on its port: a port another test holds for TCP makes it exit,
/// so a start that fails is tried again on another port.
fn dnsmasq(records: &[&str]) -> Option<Dnsmasq> {
    let program = support::peer(&["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"], "dnsmasq-base")?;
    for _ in 0..10 {
        let port = support::free_udp_port();
        let mut command = std::process::Command::new(&program);
        command
            .args(["--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces"])
            .args(["--listen-address=127.0.0.1", "--pid-file=", &format!("--port={port}")])
            .args(records.iter().map(|r| format!("--address={r}")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = support::Child::spawn(&mut command);
        let mut exited = false;
        // Ready once the port is taken (or it gave up).
        support::wait_until("dnsmasq", || {
            exited = child.0.try_wait().ok().flatten().is_some();
            exited || std::net::UdpSocket::bind(("127.0.0.1", port)).is_err()
        });
        if !exited {
            return Some(Dnsmasq { _child: child, port });
        }
    }
    panic!("dnsmasq would not start on any of 10 free ports");
}

#[test]
fn dns_asks_a_given_server_directly() {
    let Some(server) = dnsmasq(&["/ehr.clinic.test/10.0.0.10", "/gone.clinic.test/"]) else { return };
    let closed = support::free_udp_port();
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

// ---- ports that must be closed --------------------------------------------------------------

#[test]
fn closed_ports_pass_when_refused_or_filtered_and_fail_when_open() {
    let open = support::http(|_| support::reply(200, "telnet-ish"));
    let refused = support::closed_port();
    let toml =
        format!("[[server]]\nname = \"pacs\"\nhost = \"127.0.0.1\"\nclosed_ports = [{refused}, {}]\n", open.port());
    let (doc, code) = inventory(&toml).run_json(&["--no-state"]);
    assert_eq!(
        verdict(&doc, &format!("pacs:closed:{refused}")),
        ("pass".into(), format!("port {refused} is closed (refused)"))
    );
    assert_eq!(
        verdict(&doc, &format!("pacs:closed:{}", open.port())),
        ("fail".into(), format!("port {} is open; close it or filter it", open.port()))
    );
    assert_eq!(support::check(&doc, &format!("pacs:closed:{refused}"))["kind"], "closed-port");
    assert_eq!(code, 2);
    // A port that never answers is filtered: a pass, within the short default timeout.
    if let Some((port, _held)) = support::unaccepting() {
        let toml = format!("[[server]]\nname = \"fw\"\nhost = \"127.0.0.1\"\nclosed_ports = [{port}]\n");
        let start = std::time::Instant::now();
        let (doc, _) = inventory(&toml).run_json(&["--no-state"]);
        assert_eq!(
            verdict(&doc, &format!("fw:closed:{port}")),
            ("pass".into(), format!("port {port} is filtered (no answer in 2 s)"))
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }
}

// ---- weak certificates -------------------------------------------------------------------------

/// Short-lived certificates judged by their own lifetime, and a leaf valid for too long.
#[test]
fn lifetime_shares_and_max_validity() {
    let ca = Ca::root("Clinic LDAP CA");
    let short_fresh = support::tls_only(&ca.leaf(&["localhost"], -27, 20)); // 47 days, 20 left (43%)
    let short_late = support::tls_only(&ca.leaf(&["localhost"], -38, 9)); // 47 days, 9 left (19%)
    let long = support::tls_only(&ca.leaf(&["localhost"], -1, 399));
    let shares = "cert_warn = \"25%\"\ncert_crit = \"10%\"\n";
    let toml = format!(
        "{}{shares}{}{shares}{}max_validity_days = 200\n",
        tls_check("fresh", short_fresh.port()),
        tls_check("late", short_late.port()),
        tls_check("long", long.port())
    );
    let inv = inventory(&toml);
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "fresh");
    assert_eq!(status, "pass", "20 days left is under 30, but 43% of a 47-day lifetime: {detail}");
    let (status, detail) = verdict(&doc, "late");
    assert_eq!(status, "warn");
    assert!(
        detail.contains("expires in 9 days") && detail.contains("19% of its 47-day lifetime left, warn below 25%"),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "long");
    assert_eq!(status, "fail");
    assert_eq!(detail, "the certificate is valid for 400 days, longer than max_validity_days = 200");
}

/// The same keys in `[settings]` apply to every check without its own thresholds; a check
/// with its own days is judged in days.
#[test]
fn lifetime_shares_and_max_validity_from_settings() {
    let ca = Ca::root("Clinic LDAP CA");
    let short_fresh = support::tls_only(&ca.leaf(&["localhost"], -27, 20)); // 47 days, 20 left (43%)
    let long_late = support::tls_only(&ca.leaf(&["localhost"], -150, 40)); // 190 days, 40 left (21%)
    let toml = format!(
        "[settings]\ncert_warn = \"25%\"\ncert_crit = \"10%\"\nmax_validity_days = 180\n\n{}{}{}cert_warn_days = 30\n",
        tls_check("fresh", short_fresh.port()),
        tls_check("late", long_late.port()),
        tls_check("in days", short_fresh.port())
    );
    let inv = inventory(&toml);
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "fresh");
    assert_eq!(status, "pass", "43% of a 47-day lifetime, by [settings]: {detail}");
    let (status, detail) = verdict(&doc, "late");
    assert_eq!(status, "fail", "{detail}");
    assert_eq!(detail, "the certificate is valid for 190 days, longer than max_validity_days = 180");
    let (status, detail) = verdict(&doc, "in days");
    assert_eq!(status, "warn", "its own cert_warn_days = 30 wins over [settings]' shares: {detail}");
    assert!(detail.contains("expires in 20 days"), "{detail}");
}

/// An RSA-1024 leaf under a SHA-1-signed intermediate, made with openssl and served by a
/// real nginx allowed to serve it (@SECLEVEL=0): both weaknesses are named.
#[test]
fn a_weak_key_and_a_sha1_intermediate_are_named() {
    let Some(openssl) = support::peer(&["/usr/bin/openssl"], "openssl") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&openssl).args(args).current_dir(d).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::write(d.join("ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
        .unwrap();
    std::fs::write(d.join("leaf.ext"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "root.key",
        "-out",
        "root.pem",
        "-days",
        "30",
        "-subj",
        "/CN=Weak Test Root",
        "-sha256",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "inter.key",
        "-out",
        "inter.csr",
        "-subj",
        "/CN=Old SHA1 Issuing CA",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "inter.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-CAcreateserial",
        "-out",
        "inter.pem",
        "-days",
        "30",
        "-sha1",
        "-extfile",
        "ca.ext",
    ]);
    run(&["req", "-newkey", "rsa:1024", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost"]);
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "inter.pem",
        "-CAkey",
        "inter.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "20",
        "-sha256",
        "-extfile",
        "leaf.ext",
    ]);
    let chain =
        std::fs::read_to_string(d.join("leaf.pem")).unwrap() + &std::fs::read_to_string(d.join("inter.pem")).unwrap();
    std::fs::write(d.join("chain.pem"), chain).unwrap();
    let servers = format!(
        "server {{ listen 127.0.0.1:{{port0}} ssl; ssl_certificate {0}/chain.pem; ssl_certificate_key {0}/leaf.key; \
         ssl_ciphers DEFAULT:@SECLEVEL=0; location / {{ return 200 ok; }} }}",
        d.display()
    );
    let Some(nginx) = support::nginx(&servers, 1) else { return };
    let inv = inventory(&tls_check("weak", nginx.ports[0]));
    std::fs::copy(d.join("root.pem"), inv.dir.path().join("ca.pem")).unwrap();
    let (doc, _) = inv.run_json(&["--no-state"]);
    assert_eq!(
        verdict(&doc, "weak"),
        (
            "fail".into(),
            "the certificate has an RSA key of 1024 bits; at least 2048 are needed; intermediate \"Old SHA1 Issuing CA\" \
             is signed with SHA-1, which is broken; reissue it with SHA-256"
                .into()
        )
    );
}

/// `min_tls = "1.2"` against a real nginx that still speaks TLS 1.0 and 1.1, and one that
/// does not: the legacy hello is answered, or refused.
#[test]
fn min_tls_names_legacy_versions_a_server_still_accepts() {
    let ca = Ca::root("Clinic Web CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.leaf(&["localhost"], -1, 200).write_pem(dir.path());
    let block = |protocols: &str| {
        format!(
            "ssl_certificate {}; ssl_certificate_key {}; ssl_protocols {protocols}; ssl_ciphers DEFAULT:@SECLEVEL=0; \
             location / {{ return 200 ok; }}",
            cert.display(),
            key.display()
        )
    };
    let servers = format!(
        "server {{ listen 127.0.0.1:{{port0}} ssl; {} }}\nserver {{ listen 127.0.0.1:{{port1}} ssl; {} }}",
        block("TLSv1 TLSv1.1 TLSv1.2"),
        block("TLSv1.2 TLSv1.3")
    );
    let Some(nginx) = support::nginx(&servers, 2) else { return };
    let toml = format!(
        "[settings]\nmin_tls = \"1.2\"\n\n{}{}[[endpoint]]\nname = \"legacy web\"\nurl = \"https://localhost:{}/\"\nca_file = \"ca.pem\"\n",
        tls_check("legacy", nginx.ports[0]),
        tls_check("modern", nginx.ports[1]),
        nginx.ports[0]
    );
    let inv = inventory(&toml);
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "legacy");
    assert_eq!(status, "fail");
    assert!(
        detail.contains("; negotiated TLS 1.2, ")
            && detail.ends_with("; but still accepts TLS 1.0 and 1.1; disable them"),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "modern");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("; negotiated TLS 1.3, TLS13_"), "{detail}");
    let (status, detail) = verdict(&doc, "legacy web");
    assert_eq!(status, "fail", "min_tls from [settings] applies to endpoints: {detail}");
    assert!(
        detail.starts_with("200 OK in ")
            && detail.contains("; negotiated TLS 1.2, ")
            && detail.ends_with("; but still accepts TLS 1.0 and 1.1; disable them"),
        "{detail}"
    );
}

/// `min_tls` on `[[fhir]]`: a FHIR server whose /metadata answers well still fails while it
/// accepts TLS 1.0; the same API behind TLS 1.2+ passes. Real nginx serving a
/// CapabilityStatement.
#[test]
fn min_tls_on_a_fhir_server() {
    let ca = Ca::root("Clinic Web CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.leaf(&["localhost"], -1, 200).write_pem(dir.path());
    let block = |protocols: &str| {
        format!(
            "ssl_certificate {}; ssl_certificate_key {}; ssl_protocols {protocols}; ssl_ciphers DEFAULT:@SECLEVEL=0; \
             location = /r4/metadata {{ default_type application/fhir+json; return 200 \
             '{{\"resourceType\":\"CapabilityStatement\",\"status\":\"active\",\"fhirVersion\":\"4.0.1\",\
             \"software\":{{\"name\":\"HAPI FHIR\",\"version\":\"7.4.0\"}}}}'; }}",
            cert.display(),
            key.display()
        )
    };
    let servers = format!(
        "server {{ listen 127.0.0.1:{{port0}} ssl; {} }}\nserver {{ listen 127.0.0.1:{{port1}} ssl; {} }}",
        block("TLSv1 TLSv1.2"),
        block("TLSv1.2 TLSv1.3")
    );
    let Some(nginx) = support::nginx(&servers, 2) else { return };
    let fhir = |name: &str, port: u16| {
        format!(
            "[[fhir]]\nname = {name:?}\nbase = \"https://localhost:{port}/r4\"\nca_file = \"ca.pem\"\nmin_tls = \"1.2\"\n"
        )
    };
    let inv = inventory(&(fhir("legacy fhir", nginx.ports[0]) + &fhir("modern fhir", nginx.ports[1])));
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "legacy fhir");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains("HAPI FHIR 7.4.0") && detail.ends_with("; but still accepts TLS 1.0; disable it"),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "modern fhir");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("HAPI FHIR 7.4.0") && detail.contains("; negotiated TLS 1.3, TLS13_"), "{detail}");
}
