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
    assert_eq!(verdict(&doc, "silent"), ("fail".into(), "connected and sent, but no ACK in 1 s".into()));
    assert_eq!(verdict(&doc, "hang up"), ("fail".into(), "the engine closed the connection without an ACK".into()));
    assert_eq!(verdict(&doc, "down"), ("fail".into(), "connection refused".into()));
    assert_eq!(code, 2);
}
