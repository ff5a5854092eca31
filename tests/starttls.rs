//! `starttls` on `[[tls]]` against real servers: aiosmtpd (SMTP), dovecot (IMAP and POP3),
//! slapd (LDAP) and PostgreSQL, each in a folder of its own on a loopback port, each started
//! once for this test binary; and small stand-ins on loopback for what a real server does not
//! do on request (data queued after the go-ahead, silence).

mod support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use support::{inventory, pki, start_shared, toml_path, verdict, wait_for_tcp};

// ---------------------------------------------------------------------------------------
// Shared peers (support::start_shared) and their ports.

/// A TCP port on 127.0.0.1 below the ephemeral range, free for a plain bind now; the ports
/// handed out are remembered so two peers never get the same one.
fn low_tcp_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let start = 22_000 + (std::process::id() % 4_000) as u16 * 2;
    let port = (start..32_000)
        .find(|&port| {
            let Ok(socket) = tokio::net::TcpSocket::new_v4() else { return false };
            !given.contains(&port) && socket.bind(([127, 0, 0, 1], port).into()).is_ok()
        })
        .expect("a free port below 32000");
    given.push(port);
    port
}

/// One CA for every peer, and its PEM file for `ca_file`.
fn ca() -> &'static (pki::Ca, PathBuf, tempfile::TempDir) {
    pki::shared_ca("StartTLS Test CA")
}

/// A folder holding server.crt and server.key for `localhost`, issued by [`ca`].
fn peer_folder() -> tempfile::TempDir {
    pki::localhost_folder(&ca().0)
}

/// Runs one `[[tls]]` check with `starttls = protocol`; returns (status, detail, exit code).
fn starttls_check(protocol: &str, port: u16, trusted: bool) -> (String, String, i32) {
    let ca_line = if trusted { format!("ca_file = \"{}\"\n", toml_path(&ca().1)) } else { String::new() };
    let inv = inventory(&format!(
        "[[tls]]\nname = \"svc\"\nhost = \"localhost\"\nport = {port}\nstarttls = \"{protocol}\"\ntimeout = \"10s\"\n{ca_line}"
    ));
    let (doc, code) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "svc");
    (status, detail, code)
}

// ---------------------------------------------------------------------------------------
// aiosmtpd

/// aiosmtpd with STARTTLS (`with_tls`) or without; its port.
fn aiosmtpd(with_tls: bool) -> Option<u16> {
    static TLS: OnceLock<u16> = OnceLock::new();
    static PLAIN: OnceLock<u16> = OnceLock::new();
    let python = support::python_with(&[("aiosmtpd", "aiosmtpd")])?;
    let start = || {
        let dir = peer_folder();
        let port = low_tcp_port();
        let mut command = Command::new(python);
        command.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
        if with_tls {
            command.arg("--tlscert").arg(dir.path().join("server.crt"));
            command.arg("--tlskey").arg(dir.path().join("server.key"));
        }
        command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        start_shared(command, dir, libc::SIGTERM);
        wait_for_tcp("aiosmtpd", port);
        port
    };
    Some(*if with_tls { TLS.get_or_init(start) } else { PLAIN.get_or_init(start) })
}

#[test]
fn smtp_starttls_judges_the_certificate_of_aiosmtpd() {
    let Some(port) = aiosmtpd(true) else { return };
    let (status, detail, code) = starttls_check("smtp", port, true);
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.starts_with("issued by \"StartTLS Test CA\""), "{detail}");
    // The same certificate, not trusted: judged exactly as on a TLS port.
    let (status, detail, _) = starttls_check("smtp", port, false);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("issuer") || detail.contains("trusted"), "{detail}");
}

#[test]
fn smtp_server_without_starttls_fails_in_words() {
    let Some(port) = aiosmtpd(false) else { return };
    let (status, detail, code) = starttls_check("smtp", port, true);
    assert_eq!((status.as_str(), code), ("fail", 2), "{detail}");
    assert_eq!(detail, "smtp STARTTLS: the server does not offer STARTTLS");
}

// ---------------------------------------------------------------------------------------
// dovecot (IMAP and POP3)

/// dovecot with its own config, state and runtime folders; (imap port, pop3 port).
fn dovecot() -> Option<(u16, u16)> {
    static DOVECOT: OnceLock<(u16, u16)> = OnceLock::new();
    let binary = support::peer(&["/usr/sbin/dovecot"], "dovecot-imapd dovecot-pop3d")?;
    Some(*DOVECOT.get_or_init(|| {
        let dir = peer_folder();
        let d = dir.path().display().to_string();
        for sub in ["run", "state"] {
            std::fs::create_dir(dir.path().join(sub)).expect("dovecot folder");
        }
        let (imap, pop3) = (low_tcp_port(), low_tcp_port());
        let conf = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
             protocols = imap pop3\nlisten = 127.0.0.1\nssl = yes\n\
             ssl_cert = <{d}/server.crt\nssl_key = <{d}/server.key\n\
             passdb {{\n  driver = static\n  args = nopassword=y\n}}\n\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={d}/state\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap}\n  }}\n  \
             inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    address = 127.0.0.1\n    port = {pop3}\n  }}\n  \
             inet_listener pop3s {{\n    port = 0\n  }}\n}}\n"
        );
        let path = dir.path().join("dovecot.conf");
        std::fs::write(&path, conf).expect("write dovecot.conf");
        let mut command = Command::new(binary);
        command.arg("-F").arg("-c").arg(&path);
        command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        start_shared(command, dir, libc::SIGTERM);
        wait_for_tcp("dovecot (imap)", imap);
        wait_for_tcp("dovecot (pop3)", pop3);
        (imap, pop3)
    }))
}

#[test]
fn imap_and_pop3_starttls_against_dovecot() {
    let Some((imap, pop3)) = dovecot() else { return };
    for (protocol, port) in [("imap", imap), ("pop3", pop3)] {
        let (status, detail, code) = starttls_check(protocol, port, true);
        assert_eq!((status.as_str(), code), ("pass", 0), "{protocol}: {detail}");
        assert!(detail.starts_with("issued by \"StartTLS Test CA\""), "{protocol}: {detail}");
    }
    // IMAP spoken to the POP3 port: said in words, never a pass.
    let (status, detail, _) = starttls_check("imap", pop3, true);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("imap STARTTLS: not an IMAP greeting: \"+OK"), "{detail}");
}

// ---------------------------------------------------------------------------------------
// slapd

/// slapd with a certificate and no database (StartTLS needs none); its ldap:// port.
fn slapd() -> Option<u16> {
    static SLAPD: OnceLock<u16> = OnceLock::new();
    let binary = support::peer(&["/usr/sbin/slapd"], "slapd")?;
    Some(*SLAPD.get_or_init(|| {
        let dir = peer_folder();
        let d = dir.path().display().to_string();
        let conf = format!(
            "pidfile {d}/slapd.pid\nargsfile {d}/slapd.args\n\
             TLSCertificateFile {d}/server.crt\nTLSCertificateKeyFile {d}/server.key\n"
        );
        let path = dir.path().join("slapd.conf");
        std::fs::write(&path, conf).expect("write slapd.conf");
        let port = low_tcp_port();
        let mut command = Command::new(binary);
        command.args(["-d", "0", "-f"]).arg(&path).arg("-h").arg(format!("ldap://127.0.0.1:{port}/"));
        command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        start_shared(command, dir, libc::SIGTERM);
        wait_for_tcp("slapd", port);
        port
    }))
}

#[test]
fn ldap_starttls_against_slapd() {
    let Some(port) = slapd() else { return };
    let (status, detail, code) = starttls_check("ldap", port, true);
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.starts_with("issued by \"StartTLS Test CA\""), "{detail}");
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

/// A throwaway cluster with `ssl = on` listening on 127.0.0.1 (tests/support/databases.rs);
/// its port.
fn postgres() -> Option<u16> {
    static POSTGRES: OnceLock<Option<u16>> = OnceLock::new();
    *POSTGRES.get_or_init(|| support::databases::postgres(peer_folder(), &[]).map(|cluster| cluster.port))
}

#[test]
fn postgres_sslrequest_against_a_real_cluster() {
    let Some(port) = postgres() else { return };
    let (status, detail, code) = starttls_check("postgres", port, true);
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.starts_with("issued by \"StartTLS Test CA\""), "{detail}");
}

// ---------------------------------------------------------------------------------------
// Stand-ins on loopback

/// A server that answers each connection with `script(stream)` on a thread of its own.
fn stand_in(script: fn(&mut std::net::TcpStream)) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || script(&mut stream));
        }
    });
    port
}

/// Reads one line (up to LF) from the client.
fn read_line(stream: &mut std::net::TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while stream.read(&mut byte).is_ok_and(|n| n == 1) && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}

#[test]
fn plain_text_queued_after_the_go_ahead_is_refused() {
    // The STARTTLS command-injection attack: "220 go ahead" and a forged reply in one packet.
    let port = stand_in(|s| {
        let _ = s.write_all(b"220 mail ESMTP\r\n");
        let _ = read_line(s);
        let _ = s.write_all(b"250-mail\r\n250 STARTTLS\r\n");
        let _ = read_line(s);
        let _ = s.write_all(b"220 go ahead\r\n250 forged\r\n");
        let _ = read_line(s);
    });
    let (status, detail, _) = starttls_check("smtp", port, true);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("plain text after agreeing to STARTTLS"), "{detail}");
}

#[test]
fn refusals_and_silence_are_said_in_words() {
    let pop3 = stand_in(|s| {
        let _ = s.write_all(b"+OK ready\r\n");
        let _ = read_line(s);
        let _ = s.write_all(b"-ERR \x1b[31mcommand not recognised\r\n");
    });
    let (status, detail, _) = starttls_check("pop3", pop3, true);
    assert_eq!(status, "fail");
    assert_eq!(detail, "pop3 STARTTLS: the server does not offer STARTTLS (it answered: [31mcommand not recognised)");
    let postgres = stand_in(|s| {
        let mut request = [0u8; 8];
        let _ = s.read_exact(&mut request);
        let _ = s.write_all(if request == [0, 0, 0, 8, 4, 210, 22, 47] { b"N" } else { b"?" });
    });
    let (status, detail, _) = starttls_check("postgres", postgres, true);
    assert_eq!(status, "fail");
    assert_eq!(detail, "postgres STARTTLS: the server does not offer STARTTLS (ssl is off)");
    // A greeting that never ends: the check says so within its timeout, no hang.
    let silent = stand_in(|s| {
        let _ = s.write_all(b"220-mail\r\n");
        let _ = read_line(s);
    });
    let inv = inventory(&format!(
        "[[tls]]\nname = \"svc\"\nhost = \"127.0.0.1\"\nport = {silent}\nstarttls = \"smtp\"\ntimeout = \"1s\"\n"
    ));
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "svc");
    assert_eq!(status, "fail");
    assert_eq!(detail, "connected, but the smtp STARTTLS exchange did not finish in 1 s");
}

#[test]
fn starttls_keys_are_checked_at_load_time() {
    let error = |toml: &str| {
        let inv = inventory(toml);
        let output = support::rounds().args(["validate", "-c"]).arg(&inv.path).output().expect("run rounds");
        assert_eq!(output.status.code(), Some(3), "{toml}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let head = "[[tls]]\nname = \"mail\"\nhost = \"mail.clinic.local\"\nport = 587\n";
    let err = error(&format!("{head}starttls = \"smtps\"\n"));
    assert!(
        err.contains("checks.toml:5:12: starttls is one of \"smtp\", \"imap\", \"pop3\", \"ldap\", \"postgres\""),
        "{err}"
    );
    let err = error(&format!("{head}starttls = \"smtp\"\nmin_tls = \"1.2\"\n"));
    assert!(err.contains("checks.toml:6:11: min_tls is checked on a TLS port only, not with starttls"), "{err}");
}

#[test]
fn settings_min_tls_leaves_starttls_checks_out() {
    // [settings] min_tls does not reach a starttls check: its legacy probe would speak a bare
    // ClientHello to the plain port and learn nothing.
    let Some(port) = aiosmtpd(true) else { return };
    let inv = inventory(&format!(
        "[settings]\nmin_tls = \"1.2\"\n\n[[tls]]\nname = \"svc\"\nhost = \"localhost\"\nport = {port}\n\
         starttls = \"smtp\"\ntimeout = \"10s\"\nca_file = \"{}\"\n",
        toml_path(&ca().1)
    ));
    let (doc, code) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "svc");
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(!detail.contains("negotiated") && !detail.contains("TLS 1.0"), "{detail}");
}
