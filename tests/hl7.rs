//! `[[hl7]]` against an MLLP interface engine started by each test.
//!
//! The engine is a stand-in for commercial interface engines (Mirth Connect, Rhapsody,
//! Cloverleaf), which cannot be installed here; it speaks MLLP framing and HL7 v2 ACKs as
//! the HL7 v2.5.1 standard (chapter 2) and the MLLP release 1 transport define them.

mod support;

use support::{inventory, verdict};

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
    /// Accepts only a training-mode (MSH-11 "T") HL7 2.3 message carrying the agreed NCK
    /// segment, as an engine configured for the keepalive the interface team agreed on.
    AgreedKeepalive,
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
                Engine::AgreedKeepalive => {
                    let fields: Vec<&str> = message.split('\r').next().unwrap_or_default().split('|').collect();
                    let agreed = fields.get(10) == Some(&"T")
                        && fields.get(11) == Some(&"2.3")
                        && message.contains("\rNCK|")
                        && fields.get(6).is_some_and(|t| t.starts_with("20") && *t != "20200101000000");
                    match agreed {
                        true => format!("{msh}MSA|AA|{control_id}\r"),
                        false => format!("{msh}MSA|AR|{control_id}|not the agreed keepalive\r"),
                    }
                }
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
    assert_eq!(verdict(&doc, "silent"), ("fail".into(), "connected and sent, but no ACK in 1 s".into()));
    assert_eq!(verdict(&doc, "hang up"), ("fail".into(), "the engine closed the connection without an ACK".into()));
    assert_eq!(verdict(&doc, "down"), ("fail".into(), "connection refused".into()));
    assert_eq!(code, 2);
}

/// Safe in production: the agreed keepalive from a file, in training mode, HL7 2.3, with
/// rounds' own time and control id in it.
#[test]
fn an_agreed_keepalive_message_from_a_file() {
    let engine = mllp_engine(Engine::AgreedKeepalive);
    let inv = inventory(&format!(
        "[[hl7]]\nname = \"keepalive\"\nhost = \"127.0.0.1\"\nport = {}\nmessage_file = \"keepalive.hl7\"\ntimeout = \"2s\"\n\n\
         [[hl7]]\nname = \"generated\"\nhost = \"127.0.0.1\"\nport = {}\nprocessing_id = \"T\"\nversion = \"2.3\"\ntimeout = \"2s\"\n",
        engine.port(),
        engine.port()
    ));
    inv.write("keepalive.hl7", "MSH|^~\\&|ROUNDS|CLINIC|LIS|LAB|20200101000000||NMD^N02|OLD|T|2.3\nNCK|20200101\n");
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "keepalive");
    assert_eq!(status, "pass", "{detail}");
    let (status, detail) = verdict(&doc, "generated");
    assert_eq!(
        (status.as_str(), detail.as_str()),
        ("fail", "AR (application reject) from LIS: not the agreed keepalive"),
        "no NCK segment"
    );
    // A file with patient data is refused before anything is sent.
    inv.write("keepalive.hl7", "MSH|^~\\&|ROUNDS||LIS||20200101||ADT^A01|1|T|2.3\nPID|1||12345^^^MRN||DOE^JANE\n");
    let out = inv.rounds(&["validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("message_file has a PID segment (patient data)"), "{out:?}");
}

#[test]
fn hl7_over_tls_through_stunnel() {
    let engine = mllp_engine(Engine::Accept);
    let ca = support::pki::Ca::root("Clinic Interface CA");
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = ca.leaf(&["localhost"], -1, 200).write_pem(certs.path());
    let Some((_stunnel, port, _dir)) = support::stunnel(engine.port(), &cert, &key, "") else { return };
    let check = |name: &str, extra: &str| {
        format!("[[hl7]]\nname = {name:?}\nhost = \"localhost\"\nport = {port}\nreceiving_app = \"LIS\"\ntls = true\ntimeout = \"5s\"\n{extra}\n")
    };
    let inv = inventory(&(check("encrypted", "ca_file = \"ca.pem\"") + &check("untrusted", "")));
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "encrypted");
    assert_eq!(status, "pass", "{detail}");
    assert!(
        detail.starts_with("AA from LIS in ") && detail.contains("; certificate expires in 200 days ("),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "untrusted");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("untrusted certificate: issuer \"Clinic Interface CA\""), "{detail}");
}

/// An engine behind stunnel that requires a client certificate (`verify = 2`): rounds
/// presents `client_cert`/`client_key` and gets its ACK; without them it fails.
#[test]
fn hl7_mutual_tls_through_stunnel() {
    let engine = mllp_engine(Engine::Accept);
    let ca = support::pki::Ca::root("Clinic Interface CA");
    let client_ca = support::pki::Ca::root("Clinic Client CA");
    let (server_dir, client_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (cert, key) = ca.leaf(&["localhost"], -1, 200).write_pem(server_dir.path());
    let (client_cert, client_key) = client_ca.leaf(&["rounds.clinic.example"], -1, 200).write_pem(client_dir.path());
    std::fs::write(server_dir.path().join("client-ca.pem"), &client_ca.pem).unwrap();
    let verify = format!("verify = 2\nCAfile = {}", server_dir.path().join("client-ca.pem").display());
    let Some((_stunnel, port, _dir)) = support::stunnel(engine.port(), &cert, &key, &verify) else { return };
    let check = |name: &str, extra: &str| {
        format!("[[hl7]]\nname = {name:?}\nhost = \"localhost\"\nport = {port}\nreceiving_app = \"LIS\"\ntls = true\nca_file = \"ca.pem\"\ntimeout = \"5s\"\n{extra}\n")
    };
    let identity = format!(
        "client_cert = {:?}\nclient_key = {:?}",
        client_cert.display().to_string(),
        client_key.display().to_string()
    );
    let inv = inventory(&(check("mutual", &identity) + &check("anonymous", "")));
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "mutual");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("AA from LIS in "), "{detail}");
    let (status, detail) = verdict(&doc, "anonymous");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("the server requires a client certificate (give client_cert and client_key)"), "{detail}");
}

/// An interface engine behind stunnel with the self-signed CA certificate openssl makes: a
/// `pin` or the certificate itself in `ca_file` trusts it; without either, the pin is named.
#[test]
fn hl7_over_tls_trusts_an_engines_own_certificate_by_pin() {
    let Some(appliance) = support::pki::openssl_appliance(90) else { return };
    let engine = mllp_engine(Engine::Accept);
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = appliance.identity.write_pem(certs.path());
    let Some((_stunnel, port, _dir)) = support::stunnel(engine.port(), &cert, &key, "") else { return };
    let check = |name: &str, extra: &str| {
        format!("[[hl7]]\nname = {name:?}\nhost = \"localhost\"\nport = {port}\nreceiving_app = \"LIS\"\ntls = true\ntimeout = \"5s\"\n{extra}\n")
    };
    let pin = &appliance.pin;
    let wrong = "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let inv = inventory(
        &(check("pinned", &format!("pin = {pin:?}"))
            + &check("in ca_file", "ca_file = \"ca.pem\"")
            + &check("wrong pin", &format!("pin = {wrong:?}"))
            + &check("untrusted", "")),
    );
    inv.write("ca.pem", &appliance.pem);
    let (doc, _) = inv.run_json(&["--no-state"]);
    for name in ["pinned", "in ca_file"] {
        let (status, detail) = verdict(&doc, name);
        assert_eq!(status, "pass", "{name}: {detail}");
        assert!(detail.starts_with("AA from LIS in ") && detail.contains("; certificate expires in "), "{detail}");
    }
    let (status, detail) = verdict(&doc, "wrong pin");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains(&format!("the server's key is \"{pin}\", which matches no pin")), "{detail}");
    let (status, detail) = verdict(&doc, "untrusted");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains(&format!("add it to ca_file, or pin = \"{pin}\"")), "{detail}");
}
