//! "I can't log in": `[[ldap]]` against a real OpenLDAP `slapd` (ldap://, ldaps://, StartTLS,
//! a service account, a ppolicy-locked account, a size limit) and against a stand-in for
//! Active Directory's bind sub-codes; `[[ntp]]` against a real `chronyd` and against a
//! stand-in NTP server for offsets and unsynchronised servers.
//!
//! slapd and chronyd are started once for this whole test binary (a shared fixture) and
//! killed when it exits.

mod support;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{inventory, pki, start_shared, toml_path, verdict, wait_for_tcp, wait_until, Inventory};

const PASSWORD: &str = "svc-secret-123-do-not-show";

// ---------------------------------------------------------------------------------------
// Shared peers: started once per test binary, stopped when it exits.

/// A TCP port on 127.0.0.1 below the ephemeral range that a plain bind (no SO_REUSEADDR)
/// gets now: slapd binds that way, and a port held in TIME-WAIT would refuse it.
fn low_tcp_port() -> u16 {
    let start = 20_000 + (std::process::id() % 5_000) as u16 * 2;
    (start..32_000)
        .find(|&port| {
            let Ok(socket) = tokio::net::TcpSocket::new_v4() else { return false };
            socket.bind(([127, 0, 0, 1], port).into()).is_ok()
        })
        .expect("a free port below 32000")
}

// ---------------------------------------------------------------------------------------
// slapd

struct Slapd {
    ldap: u16,
    ldaps: u16,
    /// The CA that issued slapd's certificate (for `ca_file`).
    ca_file: PathBuf,
}

const SUFFIX: &str = "dc=clinic,dc=test";

const TREE: &str = "\
dn: dc=clinic,dc=test
objectClass: dcObject
objectClass: organization
o: clinic
dc: clinic

dn: ou=policies,dc=clinic,dc=test
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,dc=clinic,dc=test
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMaxFailure: 3

dn: ou=service,dc=clinic,dc=test
objectClass: organizationalUnit
ou: service

dn: uid=svc-rounds,ou=service,dc=clinic,dc=test
objectClass: inetOrgPerson
uid: svc-rounds
cn: svc-rounds
sn: rounds
userPassword: svc-secret-123-do-not-show

dn: uid=limited,ou=service,dc=clinic,dc=test
objectClass: inetOrgPerson
uid: limited
cn: limited
sn: limited
userPassword: svc-secret-123-do-not-show

dn: uid=locked,ou=service,dc=clinic,dc=test
objectClass: inetOrgPerson
uid: locked
cn: locked
sn: locked
userPassword: svc-secret-123-do-not-show
pwdAccountLockedTime: 000001010000Z

dn: ou=staff,dc=clinic,dc=test
objectClass: organizationalUnit
ou: staff

dn: uid=alice,ou=staff,dc=clinic,dc=test
objectClass: inetOrgPerson
uid: alice
cn: alice
sn: a

dn: uid=bob,ou=staff,dc=clinic,dc=test
objectClass: inetOrgPerson
uid: bob
cn: bob
sn: b

dn: uid=carol,ou=staff,dc=clinic,dc=test
objectClass: inetOrgPerson
uid: carol
cn: carol
sn: c
";

/// One slapd for this binary: its own config and database in a temporary folder, a tree
/// loaded with slapadd, ldap:// and ldaps:// on loopback ports, a certificate for
/// "localhost" from a test CA, the ppolicy overlay (one account locked) and a size limit of
/// 2 for `uid=limited`. `None` (skipped) when slapd is not installed.
fn slapd() -> Option<&'static Slapd> {
    static SLAPD: OnceLock<Option<Slapd>> = OnceLock::new();
    let binary = support::peer(&["/usr/sbin/slapd"], "slapd ldap-utils")?;
    SLAPD.get_or_init(|| Some(start_slapd(binary))).as_ref()
}

fn start_slapd(binary: PathBuf) -> Slapd {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::create_dir(d.join("db")).expect("db folder");
    let ca = pki::Ca::root("Directory Test CA");
    ca.leaf(&["localhost"], -1, 365).write_pem(d);
    let ca_file = d.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("write CA");
    let config = format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
TLSCertificateFile {d}/server.crt
TLSCertificateKeyFile {d}/server.key
database mdb
maxsize 10485760
suffix \"{SUFFIX}\"
rootdn \"cn=admin,{SUFFIX}\"
directory {d}/db
limits dn.exact=\"uid=limited,ou=service,{SUFFIX}\" size=2
access to attrs=userPassword by anonymous auth by * none
access to * by * read
overlay ppolicy
ppolicy_default \"cn=default,ou=policies,{SUFFIX}\"
ppolicy_use_lockout
",
        d = d.display()
    );
    let conf = d.join("slapd.conf");
    std::fs::write(&conf, config).expect("write slapd.conf");
    // 250 devices: more than one page of a paged search (rounds asks for 100 a page).
    let devices: String = (0..250)
        .map(|n| format!("\ndn: cn=device-{n},ou=devices,{SUFFIX}\nobjectClass: device\ncn: device-{n}\n"))
        .collect();
    let tree = format!("{TREE}\ndn: ou=devices,{SUFFIX}\nobjectClass: organizationalUnit\nou: devices\n{devices}");
    // A service account whose password changed 5 days ago under a 10-day maximum age, with
    // expiry warnings for the last 10 days: every bind carries "expires in ~5 days".
    let changed = time::OffsetDateTime::now_utc() - time::Duration::days(5);
    let changed = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        changed.year(),
        u8::from(changed.month()),
        changed.day(),
        changed.hour(),
        changed.minute(),
        changed.second()
    );
    let expiring = format!(
        "\ndn: cn=expiring,ou=policies,{SUFFIX}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: expiring\n\
         pwdAttribute: userPassword\npwdMaxAge: 864000\npwdExpireWarning: 864000\n\
         \ndn: uid=expiring,ou=service,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: expiring\ncn: expiring\nsn: e\n\
         userPassword: {PASSWORD}\npwdPolicySubentry: cn=expiring,ou=policies,{SUFFIX}\npwdChangedTime: {changed}\n"
    );
    let tree = tree + &expiring;
    std::fs::write(d.join("tree.ldif"), tree).expect("write tree");
    let slapadd = binary.with_file_name("slapadd");
    let added = std::process::Command::new(&slapadd)
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(d.join("tree.ldif"))
        .output()
        .expect("run slapadd");
    assert!(added.status.success(), "slapadd failed: {}", String::from_utf8_lossy(&added.stderr));
    let (ldap, ldaps) = (low_tcp_port(), low_tcp_port_after());
    let mut command = std::process::Command::new(&binary);
    command
        .args(["-d", "0", "-f"])
        .arg(&conf)
        .arg("-h")
        .arg(format!("ldap://127.0.0.1:{ldap}/ ldaps://127.0.0.1:{ldaps}/"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    start_shared(command, dir, libc::SIGKILL);
    wait_for_tcp("slapd (ldap://)", ldap);
    wait_for_tcp("slapd (ldaps://)", ldaps);
    Slapd { ldap, ldaps, ca_file }
}

/// A second low port, distinct from the one `low_tcp_port` just returned.
fn low_tcp_port_after() -> u16 {
    // Hold the first so the search moves past it.
    let first = low_tcp_port();
    let held = tokio::net::TcpSocket::new_v4().expect("socket");
    held.bind(([127, 0, 0, 1], first).into()).expect("bind");
    let second = low_tcp_port();
    drop(held);
    second
}

/// Runs rounds over `inv` with `LDAP_PASSWORD` set; returns the JSON document, and asserts
/// that the password appears nowhere in what rounds printed.
fn run(inv: &Inventory) -> serde_json::Value {
    let output = inv.rounds(&["--format", "json"]).env("LDAP_PASSWORD", PASSWORD).output().expect("run rounds");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD), "the password leaked:\n{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n{stderr}"))
}

fn ldap_check(name: &str, url: &str, keys: &str) -> String {
    format!("[[ldap]]\nname = \"{name}\"\nurl = \"{url}\"\ntimeout = \"10s\"\n{keys}\n\n")
}

#[test]
fn ldap_binds_searches_and_judges_the_certificate_against_slapd() {
    let Some(slapd) = slapd() else { return };
    let (plain, tls) = (format!("ldap://127.0.0.1:{}", slapd.ldap), format!("ldaps://localhost:{}", slapd.ldaps));
    let starttls = format!("ldap://localhost:{}", slapd.ldap);
    let ca = format!("ca_file = \"{}\"", toml_path(&slapd.ca_file));
    let account = format!("bind_dn = \"uid=svc-rounds,ou=service,{SUFFIX}\"\npassword = \"${{LDAP_PASSWORD}}\"");
    let staff = format!("{account}\nbase = \"ou=staff,{SUFFIX}\"\nfilter = \"(objectClass=inetOrgPerson)\"");
    let mut toml = String::new();
    toml += &ldap_check("plain", &plain, &staff);
    toml += &ldap_check("ldaps", &tls, &format!("{staff}\n{ca}"));
    toml += &ldap_check("starttls", &starttls, &format!("{staff}\nstarttls = true\n{ca}"));
    toml += &ldap_check("untrusted", &tls, &staff);
    toml += &ldap_check("anonymous", &plain, "");
    toml +=
        &ldap_check("one level", &plain, &format!("{account}\nbase = \"{SUFFIX}\"\nscope = \"one\"\nmin_entries = 3"));
    let devices = format!("{account}\nbase = \"ou=devices,{SUFFIX}\"\nfilter = \"(objectClass=device)\"");
    toml += &ldap_check("pages", &plain, &devices);
    // Thresholds the 365-day certificate misses: TLS works, the verdict fails, and joins the
    // bind's own failure rather than hiding it.
    let near = format!("{ca}\ncert_warn_days = 400\ncert_crit_days = 380");
    toml += &ldap_check("short-lived", &tls, &format!("{staff}\n{near}"));
    toml += &ldap_check("revocation", &tls, &format!("{staff}\n{ca}\ncheck_revocation = true"));
    let wrong = format!("bind_dn = \"uid=svc-rounds,ou=service,{SUFFIX}\"\npassword = \"not-it\"\n{near}");
    toml += &ldap_check("short-lived, wrong password", &tls, &wrong);
    let inv = inventory(&toml);
    let doc = run(&inv);

    let (status, detail) = verdict(&doc, "plain");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("bound as svc-rounds, 3 entries in "), "{detail}");
    for name in ["ldaps", "starttls"] {
        let (status, detail) = verdict(&doc, name);
        assert_eq!(status, "pass", "{name}: {detail}");
        assert!(detail.starts_with("bound as svc-rounds, 3 entries in "), "{name}: {detail}");
        assert!(detail.contains("certificate expires in 365 days"), "{name}: {detail}");
    }
    let (status, detail) = verdict(&doc, "untrusted");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("\"Directory Test CA\" is not a trusted CA"), "{detail}");
    let (status, detail) = verdict(&doc, "anonymous");
    assert_eq!((status.as_str(), detail.starts_with("bound anonymously, 1 entry in ")), ("pass", true), "{detail}");
    let (status, detail) = verdict(&doc, "short-lived");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("bound as svc-rounds, 3 entries in "), "{detail}");
    assert!(detail.contains("; certificate expires in 365 days") && detail.ends_with("limit 380 days"), "{detail}");
    let (status, detail) = verdict(&doc, "short-lived, wrong password");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("the bind was refused: invalid credentials"), "{detail}");
    assert!(detail.ends_with("limit 380 days"), "{detail}");
    // The test CA's leaf names no CRL: revocation unknown is a warning, never a pass.
    let (status, detail) = verdict(&doc, "revocation");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.starts_with("bound as svc-rounds, 3 entries in "), "{detail}");
    assert!(detail.ends_with("revocation not checked: the certificate names no CRL distribution point"), "{detail}");
    let (status, detail) = verdict(&doc, "pages");
    assert_eq!(
        (status.as_str(), detail.starts_with("bound as svc-rounds, 250 entries in ")),
        ("pass", true),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "one level");
    assert_eq!((status.as_str(), detail.starts_with("bound as svc-rounds, 4 entries")), ("pass", true), "{detail}");
}

#[test]
fn ldap_failures_against_slapd_are_said_in_words() {
    let Some(slapd) = slapd() else { return };
    let plain = format!("ldap://127.0.0.1:{}", slapd.ldap);
    let as_user = |uid: &str, rest: &str| {
        format!("bind_dn = \"uid={uid},ou=service,{SUFFIX}\"\npassword = \"${{LDAP_PASSWORD}}\"\n{rest}")
    };
    let staff = format!("base = \"ou=staff,{SUFFIX}\"");
    let mut toml = String::new();
    toml += &ldap_check(
        "wrong password",
        &plain,
        &format!("bind_dn = \"uid=svc-rounds,ou=service,{SUFFIX}\"\npassword = \"not-it\"\n{staff}"),
    );
    toml += &ldap_check("locked", &plain, &as_user("locked", &staff));
    toml += &ldap_check("no base", &plain, &as_user("svc-rounds", &format!("base = \"ou=gone,{SUFFIX}\"")));
    toml += &ldap_check("size limit", &plain, &as_user("limited", &staff));
    toml += &ldap_check("too few", &plain, &as_user("svc-rounds", &format!("{staff}\nmin_entries = 5")));
    toml += &ldap_check("too many", &plain, &as_user("svc-rounds", &format!("{staff}\nmax_entries = 2")));
    let devices = format!("base = \"ou=devices,{SUFFIX}\"\nfilter = \"(objectClass=device)\"\nmax_entries = 120");
    toml += &ldap_check("too many pages", &plain, &as_user("svc-rounds", &devices));
    toml += &ldap_check("expiring", &plain, &as_user("expiring", &staff));
    toml += &ldap_check("closed", &format!("ldap://127.0.0.1:{}", support::closed_port()), "");
    let inv = inventory(&toml);
    let doc = run(&inv);
    let expect = [
        ("wrong password", "the bind was refused: invalid credentials"),
        ("locked", "the bind was refused: the account is locked"),
        ("no base", "no such object: the base \"ou=gone,dc=clinic,dc=test\" does not exist"),
        ("size limit", "bound as limited, but the server's size limit stopped the search after 2 entries"),
        ("too few", "bound as svc-rounds, but only 4 entries found (min_entries 5)"),
        ("too many", "bound as svc-rounds, but more than max_entries (2) match"),
        ("too many pages", "bound as svc-rounds, but more than max_entries (120) match"),
        ("closed", "connection refused"),
    ];
    let (status, detail) = verdict(&doc, "expiring");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.starts_with("bound as expiring, 4 entries in "), "{detail}");
    // Just under 5 days are left when rounds asks: rounding may say 4 or 5.
    assert!(
        detail.ends_with("; the password expires in 4 days") || detail.ends_with("; the password expires in 5 days"),
        "{detail}"
    );
    for (name, words) in expect {
        let (status, detail) = verdict(&doc, name);
        assert_eq!(status, "fail", "{name}: {detail}");
        assert!(detail.contains(words), "{name}: {detail:?} lacks {words:?}");
    }
}

// ---------------------------------------------------------------------------------------
// A stand-in for Active Directory's bind answers.

/// A STAND-IN, not a directory: it answers every bind with invalidCredentials and the
/// diagnostic message Active Directory writes ("..., data 52e, v4563", as Microsoft
/// documents the sub-codes), and refuses StartTLS with protocolError. Messages are decoded
/// and encoded with lber, ldap3's BER codec. A samba AD DC would cost a minute of
/// provisioning and the standard ports.
struct AdStandIn {
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

fn ad_stand_in(subcode: &'static str) -> AdStandIn {
    use ldap3::asn1::{parse_tag, ASNTag, Enumerated, Integer, OctetString, Sequence, Tag, TagClass, PL};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let text = format!("80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data {subcode}, v4563");
    runtime.spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let text = text.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 1024];
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    while let Ok((rest, message)) = parse_tag(&buf) {
                        let consumed = buf.len() - rest.len();
                        let PL::C(parts) = message.payload else { return };
                        let (Some(id), Some(op)) = (parts.first(), parts.get(1)) else { return };
                        let PL::P(id_bytes) = &id.payload else { return };
                        let id = id_bytes.iter().fold(0i64, |n, b| n << 8 | i64::from(*b));
                        let (answer_op, rc, diagnostic) = match op.id {
                            0 => (1, 49, text.clone()),                     // bind -> invalidCredentials
                            23 => (24, 2, "StartTLS not supported".into()), // extended -> protocolError
                            _ => return,                                    // unbind or anything else
                        };
                        let answer = Tag::Sequence(Sequence {
                            inner: vec![
                                Tag::Integer(Integer { inner: id, ..Default::default() }),
                                Tag::Sequence(Sequence {
                                    id: answer_op,
                                    class: TagClass::Application,
                                    inner: vec![
                                        Tag::Enumerated(Enumerated { inner: rc, ..Default::default() }),
                                        Tag::OctetString(OctetString { inner: Vec::new(), ..Default::default() }),
                                        Tag::OctetString(OctetString {
                                            inner: diagnostic.into_bytes(),
                                            ..Default::default()
                                        }),
                                    ],
                                }),
                            ],
                            ..Default::default()
                        });
                        let mut out = bytes::BytesMut::new();
                        ldap3::asn1::write::encode_into(&mut out, answer.into_structure()).expect("encode");
                        if stream.write_all(&out).await.is_err() {
                            return;
                        }
                        buf.drain(..consumed);
                    }
                }
            });
        }
    });
    AdStandIn { port, _runtime: runtime }
}

#[test]
fn active_directory_bind_sub_codes_are_said_in_words() {
    let cases = [
        ("52e", "wrong password (AD 52e)"),
        ("775", "the account is locked out (AD 775)"),
        ("532", "the password has expired (AD 532)"),
        ("533", "the account is disabled (AD 533)"),
    ];
    let servers: Vec<_> = cases.iter().map(|(code, _)| ad_stand_in(code)).collect();
    let account = "bind_dn = \"CN=svc-rounds,OU=Service,DC=clinic,DC=local\"\npassword = \"${LDAP_PASSWORD}\"";
    let mut toml = String::new();
    for ((code, _), server) in cases.iter().zip(&servers) {
        toml += &ldap_check(code, &format!("ldap://127.0.0.1:{}", server.port), account);
    }
    toml += &ldap_check(
        "starttls refused",
        &format!("ldap://localhost:{}", servers[0].port),
        &format!("{account}\nstarttls = true"),
    );
    let doc = run(&inventory(&toml));
    for (code, words) in cases {
        assert_eq!(verdict(&doc, code), ("fail".to_owned(), format!("the bind was refused: {words}")));
    }
    let (status, detail) = verdict(&doc, "starttls refused");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("StartTLS refused: protocol error"), "{detail}");
}

// ---------------------------------------------------------------------------------------
// chronyd

/// One chronyd for this binary serving NTP on a loopback port, off the system clock (-x),
/// with a local reference at stratum 8 and no command socket. `None` when not installed.
fn chronyd() -> Option<u16> {
    static CHRONYD: OnceLock<u16> = OnceLock::new();
    let binary = support::peer(&["/usr/sbin/chronyd"], "chrony")?;
    Some(*CHRONYD.get_or_init(|| start_chronyd(std::process::Command::new(binary))))
}

/// A second chronyd whose clock libfaketime sets 252 s ahead of this machine's: a real
/// server with a real offset.
fn chronyd_ahead() -> Option<u16> {
    static AHEAD: OnceLock<u16> = OnceLock::new();
    let binary = support::peer(&["/usr/sbin/chronyd"], "chrony")?;
    // The library itself, preloaded: the `faketime` wrapper would fork chronyd as a child
    // of its own, which killing the wrapper would leave behind.
    let library = support::peer(
        &[
            "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
            "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        ],
        "faketime",
    )?;
    Some(*AHEAD.get_or_init(|| {
        let mut command = std::process::Command::new(binary);
        command.env("LD_PRELOAD", library).env("FAKETIME", "+252s");
        start_chronyd(command)
    }))
}

/// Starts `command` (chronyd) with its own config.
fn start_chronyd(mut command: std::process::Command) -> u16 {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = support::free_udp_port();
    let conf = dir.path().join("chrony.conf");
    let config = format!(
        "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\nbindcmdaddress /\n\
         pidfile {}/chronyd.pid\n",
        dir.path().display()
    );
    std::fs::write(&conf, config).expect("write chrony.conf");
    command
        .args(["-x", "-d", "-u", "root", "-f"])
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    start_shared(command, dir, libc::SIGKILL);
    wait_until("chronyd answering", || ntp_answers(port));
    port
}

/// Whether an NTP server answers a client request on 127.0.0.1:`port`.
fn ntp_answers(port: u16) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else { return false };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let mut request = [0u8; 48];
    request[0] = 0x23;
    let mut answer = [0u8; 512];
    socket.send_to(&request, ("127.0.0.1", port)).is_ok() && socket.recv(&mut answer).is_ok_and(|n| n >= 48)
}

fn ntp_check(name: &str, port: u16, keys: &str) -> String {
    format!("[[ntp]]\nname = \"{name}\"\nserver = \"127.0.0.1\"\nport = {port}\ntimeout = \"3s\"\n{keys}\n\n")
}

#[test]
fn ntp_agrees_with_chronyd_and_judges_its_stratum() {
    let Some(port) = chronyd() else { return };
    let toml = ntp_check("chrony", port, "")
        + &ntp_check("strict", port, "max_stratum = 5")
        + &ntp_check("by name", port, "").replace("server = \"127.0.0.1\"", "server = \"localhost\"");
    let doc = run(&inventory(&toml));
    let (status, detail) = verdict(&doc, "chrony");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("this machine is ") && detail.ends_with(" 127.0.0.1 (stratum 8)"), "{detail}");
    // localhost may resolve to ::1 first, where nothing listens: the next address answers.
    let (status, detail) = verdict(&doc, "by name");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.ends_with(" localhost (stratum 8)"), "{detail}");
    let (status, detail) = verdict(&doc, "strict");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.ends_with("stratum 8 is above max_stratum 5"), "{detail}");
}

#[test]
fn ntp_says_how_far_behind_a_chronyd_running_ahead_is() {
    let Some(port) = chronyd_ahead() else { return };
    let doc = run(&inventory(&ntp_check("ahead", port, "")));
    assert_eq!(
        verdict(&doc, "ahead"),
        (
            "fail".to_owned(),
            "this machine is 4 min 12 s behind 127.0.0.1 (stratum 8); logins by Kerberos fail past 5 min".to_owned()
        )
    );
}

// ---------------------------------------------------------------------------------------
// A stand-in NTP server.

/// What the stand-in answers.
#[derive(Clone, Copy)]
struct Behaviour {
    /// Its clock minus ours, in seconds.
    offset: f64,
    leap: u8,
    stratum: u8,
    reference_id: [u8; 4],
    silent: bool,
}

const GOOD: Behaviour = Behaviour { offset: 0.0, leap: 0, stratum: 2, reference_id: *b"GPS\0", silent: false };

/// A STAND-IN NTP server written from RFC 5905 (section 7.3, the packet header), not a
/// real one: chronyd cannot be made to serve a wrong time, a leap indicator of 3 or a
/// kiss-o'-death on demand. It echoes the client's transmit timestamp as origin and
/// stamps receive and transmit with its clock, shifted by `offset`.
struct NtpStandIn {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Drop for NtpStandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn ntp_stand_in(behaviour: Behaviour) -> NtpStandIn {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    socket.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let port = socket.local_addr().expect("addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !stopped.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
            if n < 48 || behaviour.silent {
                continue;
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs_f64();
            let theirs = now + 2_208_988_800.0 + behaviour.offset;
            let stamp = ((theirs.trunc() as u64) << 32) | ((theirs.fract() * 4_294_967_296.0) as u64);
            let mut answer = [0u8; 48];
            answer[0] = behaviour.leap << 6 | 4 << 3 | 4;
            answer[1] = behaviour.stratum;
            answer[12..16].copy_from_slice(&behaviour.reference_id);
            answer[24..32].copy_from_slice(&buf[40..48]);
            answer[32..40].copy_from_slice(&stamp.to_be_bytes());
            answer[40..48].copy_from_slice(&stamp.to_be_bytes());
            let _ = socket.send_to(&answer, from);
        }
    });
    NtpStandIn { port, stop }
}

#[test]
fn ntp_offsets_and_unsynchronised_servers_against_a_stand_in() {
    let cases = [
        ("behind", Behaviour { offset: 252.0, stratum: 3, ..GOOD }),
        ("ahead", Behaviour { offset: -5.0, ..GOOD }),
        ("leap 3", Behaviour { leap: 3, ..GOOD }),
        ("stratum 16", Behaviour { stratum: 16, ..GOOD }),
        ("kiss", Behaviour { stratum: 0, leap: 3, reference_id: *b"RATE", ..GOOD }),
        ("silent", Behaviour { silent: true, ..GOOD }),
    ];
    let servers: Vec<_> = cases.iter().map(|(_, b)| ntp_stand_in(*b)).collect();
    let mut toml: String = cases.iter().zip(&servers).map(|((name, _), s)| ntp_check(name, s.port, "")).collect();
    toml += &ntp_check("closed", support::free_udp_port(), "");
    let doc = run(&inventory(&toml));
    let expect = [
        (
            "behind",
            "fail",
            "this machine is 4 min 12 s behind 127.0.0.1 (stratum 3); logins by Kerberos fail past 5 min",
        ),
        ("ahead", "warn", "this machine is 5 s ahead of 127.0.0.1 (stratum 2); logins by Kerberos fail past 5 min"),
        (
            "leap 3",
            "fail",
            "127.0.0.1 is not synchronised itself (leap indicator 3, stratum 2): its time cannot be trusted",
        ),
        (
            "stratum 16",
            "fail",
            "127.0.0.1 is not synchronised itself (leap indicator 0, stratum 16): its time cannot be trusted",
        ),
        ("kiss", "fail", "127.0.0.1 sent a kiss-o'-death (RATE: we asked too often)"),
    ];
    for (name, status, detail) in expect {
        assert_eq!(verdict(&doc, name), (status.to_owned(), detail.to_owned()), "{name}");
    }
    let (status, detail) = verdict(&doc, "silent");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("127.0.0.1 (127.0.0.1:") && detail.ends_with("): no answer in 3 s"), "{detail}");
    let (status, detail) = verdict(&doc, "closed");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.ends_with("no NTP server there (port unreachable)"), "{detail}");
}

/// A server that answers a bind with a message ldap3 cannot decode (an LDAPMessage with a
/// message id and nothing else). ldap3 panics on its connection task for such input; rounds
/// must still report the check as failed, with the other checks of the run intact.
#[test]
fn a_malformed_ldap_answer_fails_the_check_without_ending_the_run() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 512];
            if stream.read(&mut buf).is_ok_and(|n| n > 0) {
                let _ = stream.write_all(&[0x30, 0x03, 0x02, 0x01, 0x01]);
            }
        }
    });
    let toml = ldap_check("garbled", &format!("ldap://127.0.0.1:{port}"), "")
        + "[[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n";
    let inv = inventory(&toml);
    let output = inv.rounds(&["--format", "json"]).output().expect("run rounds");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    let (status, detail) = verdict(&doc, "garbled");
    assert_eq!((status.as_str(), detail.as_str()), ("fail", "the server sent an LDAP message that cannot be decoded"));
    assert_eq!(verdict(&doc, "root").0, "pass");
    // ldap3's own panic on the garbled answer is the check's failure, not an internal error.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("internal error"), "{stderr}");
}
