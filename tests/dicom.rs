//! `[[dicom]]` against dcmtk's real DICOM peers, started on free loopback ports.
//! `.ci/run` installs dcmtk; without it these tests are skipped with one loud line (and fail
//! under `ROUNDS_REQUIRE_PEERS=1`).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::{inventory, verdict};

/// A dcmtk server process, killed on drop.
struct Peer {
    _child: support::Child,
    port: u16,
}

/// dcmtk's `program`, or `None` (the test is skipped) where dcmtk is not installed.
fn dcmtk(program: &str) -> Option<Command> {
    let path = support::peer(&[&format!("/usr/bin/{program}"), &format!("/usr/local/bin/{program}")], "dcmtk")?;
    let mut command = Command::new(path);
    // dcmtk sends a P-DATA header and its payload in two writes: without TCP_NODELAY every
    // echo waits ~40 ms for Nagle, which is the peer's quirk, not a slow PACS.
    command.env("TCP_NODELAY", "1").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    Some(command)
}

/// Starts `command` (which listens on `port`) and waits until it accepts connections.
fn start(mut command: Command, port: u16) -> Peer {
    let peer = Peer { _child: support::Child::spawn(&mut command), port };
    support::wait_for_tcp("the dcmtk peer", port);
    peer
}

fn storescp(ae_title: &str) -> Option<Peer> {
    let port = support::closed_port();
    let mut command = dcmtk("storescp")?;
    command.args(["--aetitle", ae_title, &port.to_string()]);
    Some(start(command, port))
}

/// dcmqrscp knows only the AE title PACS, and rejects associations called anything else.
fn dcmqrscp(dir: &Path) -> Option<Peer> {
    let mut command = dcmtk("dcmqrscp")?;
    let port = support::closed_port();
    let storage = dir.join("db");
    std::fs::create_dir_all(&storage).unwrap();
    let config = dir.join("dcmqrscp.cfg");
    std::fs::write(
        &config,
        format!(
            "NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\
             HostTable BEGIN\nHostTable END\nVendorTable BEGIN\nVendorTable END\n\
             AETable BEGIN\nPACS {} RW (10, 1024mb) ANY\nAETable END\n",
            storage.display()
        ),
    )
    .unwrap();
    command.args(["--fork", "-c"]).arg(&config);
    Some(start(command, port))
}

fn dicom(name: &str, port: u16, called: &str) -> String {
    format!(
        "[[dicom]]\nname = {name:?}\nhost = \"127.0.0.1\"\nport = {port}\ncalled_ae = {called:?}\ntimeout = \"10s\"\n"
    )
}

#[test]
fn accepted_echo_passes() {
    let Some(pacs) = storescp("PACS") else { return };
    let (doc, code) = inventory(&dicom("PACS", pacs.port, "PACS")).run_json(&[]);
    let (status, detail) = verdict(&doc, "PACS");
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.starts_with("C-ECHO accepted by PACS in "), "{detail}");
    assert_eq!(support::check(&doc, "PACS")["target"], format!("PACS@127.0.0.1:{}", pacs.port));
}

#[test]
fn a_called_ae_title_the_peer_does_not_know_is_rejected_with_the_reason() {
    let inv = inventory("");
    let Some(pacs) = dcmqrscp(inv.dir.path()) else { return };
    std::fs::write(&inv.path, dicom("known", pacs.port, "PACS") + &dicom("unknown", pacs.port, "NOT-PACS")).unwrap();
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "known").0, "pass", "{:?}", verdict(&doc, "known"));
    assert_eq!(
        verdict(&doc, "unknown"),
        ("fail".into(), "association rejected: called AE title not recognized".into())
    );
    assert_eq!(code, 2);
}

#[test]
fn a_closed_port_fails() {
    let port = support::closed_port();
    let (doc, _) = inventory(&dicom("gone", port, "PACS")).run_json(&[]);
    assert_eq!(verdict(&doc, "gone"), ("fail".into(), "connection refused".into()));
}

#[test]
fn a_silent_peer_fails_at_the_timeout() {
    let silent = support::silent();
    let toml =
        format!("[[dicom]]\nname = \"hung\"\nhost = \"127.0.0.1\"\nport = {}\ntimeout = \"1s\"\n", silent.port());
    let (doc, _) = inventory(&toml).run_json(&[]);
    assert_eq!(verdict(&doc, "hung"), ("fail".into(), "no answer in 1 s".into()));
}

/// A peer that answers the association request with an A-ABORT PDU (PS3.8 9.3.8).
#[test]
fn an_aborted_association_fails_and_says_so() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let aborting = support::raw(|mut stream| {
        Box::pin(async move {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            // type 07, reserved, length 4, two reserved bytes, source 2 (provider), reason 0
            let abort = [0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x02, 0x00];
            let _ = stream.write_all(&abort).await;
            let _ = stream.shutdown().await;
        })
    });
    let (doc, _) = inventory(&dicom("aborting", aborting.port(), "PACS")).run_json(&[]);
    assert_eq!(verdict(&doc, "aborting"), ("fail".into(), "the peer aborted the association".into()));
}
