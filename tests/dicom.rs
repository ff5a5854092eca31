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

/// `date +%Y%m%d` for today (`days` = 0) or another day: the worklist is asked for today in
/// local time, as the test's peers see it.
fn dicom_date(days: i64) -> String {
    let output = Command::new("date").args(["-d", &format!("{days} days"), "+%Y%m%d"]).output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Writes one worklist file per `(modality, station, days from today)` into `dir`, made
/// with dcmtk's dump2dcm from a text dump in the shape of dcmtk's own examples (wlistdb).
/// Every patient is made up.
fn worklist_files(dir: &Path, steps: &[(&str, &str, i64)]) -> Option<()> {
    let dump2dcm = support::peer(&["/usr/bin/dump2dcm", "/usr/local/bin/dump2dcm"], "dcmtk")?;
    std::fs::create_dir_all(dir).unwrap();
    for (i, (modality, station, days)) in steps.iter().enumerate() {
        let dump = format!(
            "(0008,0050) SH [ACC{i}]\n(0010,0010) PN [TEST^PATIENT{i}]\n(0010,0020) LO [TEST{i}]\n\
             (0010,0030) DA [19700101]\n(0010,0040) CS [O]\n(0020,000d) UI [1.2.826.0.1.3680043.9.7{i}]\n\
             (0032,1032) PN [SMITH]\n(0032,1060) LO [EXAM]\n(0040,0100) SQ\n(fffe,e000) -\n\
             (0008,0060) CS [{modality}]\n(0040,0001) AE [{station}]\n(0040,0002) DA [{}]\n\
             (0040,0003) TM [0800]\n(0040,0006) PN [JOHNSON]\n(0040,0007) LO [EXAM]\n\
             (0040,0009) SH [SPS{i}]\n(0040,0010) SH [STN]\n(0040,0011) SH [ROOM]\n\
             (fffe,e00d) -\n(fffe,e0dd) -\n(0040,1001) SH [RP{i}]\n",
            dicom_date(*days)
        );
        let text = dir.join(format!("step{i}.dump"));
        std::fs::write(&text, dump).unwrap();
        let status =
            Command::new(&dump2dcm).arg("-q").arg(&text).arg(dir.join(format!("step{i}.wl"))).status().unwrap();
        assert!(status.success(), "dump2dcm failed");
        std::fs::remove_file(text).unwrap();
    }
    Some(())
}

/// Today: two CT steps on CT01 and CT02, one MR; tomorrow: one more CT, which must not count.
const SCHEDULE: &[(&str, &str, i64)] = &[("CT", "CT01", 0), ("CT", "CT02", 0), ("MR", "MR01", 0), ("CT", "CT01", 1)];

/// dcmtk's wlmscpfs serving worklist files from `<dir>/RIS/` under the AE title RIS (it
/// rejects any other called AE title: it has no folder for it).
fn wlmscpfs(dir: &Path) -> Option<Peer> {
    let mut command = dcmtk("wlmscpfs")?;
    worklist_files(&dir.join("RIS"), SCHEDULE)?;
    std::fs::write(dir.join("RIS").join("lockfile"), "").unwrap();
    let port = support::closed_port();
    command.arg("-dfp").arg(dir).arg(port.to_string());
    Some(start(command, port))
}

/// Orthanc with its ModalityWorklists plugin (Debian's `orthanc`), checking the called AE
/// title and answering worklist queries only from the AE titles in `allowed`.
fn orthanc(dir: &Path, allowed: &[&str]) -> Option<Peer> {
    let program = support::peer(&["/usr/sbin/Orthanc", "/usr/bin/Orthanc"], "orthanc")?;
    let plugin = support::peer(&["/usr/share/orthanc/plugins/libModalityWorklists.so"], "orthanc")?;
    worklist_files(&dir.join("worklists"), SCHEDULE)?;
    let port = support::closed_port();
    let modalities: serde_json::Map<String, serde_json::Value> =
        allowed.iter().map(|ae| (ae.to_lowercase(), serde_json::json!([ae, "127.0.0.1", 104]))).collect();
    let config = serde_json::json!({
        "Name": "rounds-test",
        "StorageDirectory": dir.join("db"),
        "IndexDirectory": dir.join("db"),
        "DicomAet": "ORTHANC",
        "DicomPort": port,
        "DicomCheckCalledAet": true,
        "DicomModalities": modalities,
        "HttpServerEnabled": false,
        "Plugins": [plugin],
        "Worklists": { "Enable": true, "Database": dir.join("worklists") },
    });
    let path = dir.join("orthanc.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let mut command = Command::new(program);
    command.arg(&path).env("TCP_NODELAY", "1").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    Some(start(command, port))
}

fn worklist(name: &str, port: u16, called: &str, extra: &str) -> String {
    format!(
        "[[worklist]]\nname = {name:?}\nhost = \"127.0.0.1\"\nport = {port}\ncalled_ae = {called:?}\ntimeout = \"10s\"\n{extra}\n"
    )
}

/// The counts in the details are of today's steps only, filtered by modality and station.
fn assert_counts(doc: &serde_json::Value) {
    let detail = |name: &str| {
        let (status, detail) = verdict(doc, name);
        assert_eq!(status, "pass", "{name}: {detail}");
        let (answered, counted) = detail.split_once(": ").unwrap();
        assert!(answered.starts_with("worklist answered in "), "{detail}");
        counted.to_owned()
    };
    assert_eq!(detail("all"), "3 procedures scheduled today");
    assert_eq!(detail("ct"), "2 procedures scheduled today for CT");
    assert_eq!(detail("ct01"), "1 procedure scheduled today for CT on CT01");
    let (status, detail) = verdict(doc, "us");
    assert_eq!(status, "fail");
    assert!(detail.ends_with(", but only 0 procedures scheduled today for US (at least 1 expected)"), "{detail}");
}

fn counting_checks(port: u16, called: &str) -> String {
    worklist("all", port, called, "min_items = 3")
        + &worklist("ct", port, called, "modality = \"CT\"")
        + &worklist("ct01", port, called, "modality = \"CT\"\nstation_ae = \"CT01\"\nmin_items = 1")
        + &worklist("us", port, called, "modality = \"US\"\nmin_items = 1")
}

#[test]
fn wlmscpfs_worklist_is_counted_for_today_by_modality_and_station() {
    let inv = inventory("");
    let Some(ris) = wlmscpfs(&inv.dir.path().join("wlmdb")) else { return };
    let checks = counting_checks(ris.port, "RIS") + &worklist("wrong-ae", ris.port, "PACS", "");
    std::fs::write(&inv.path, checks).unwrap();
    let (doc, code) = inv.run_json(&["--no-state"]);
    assert_counts(&doc);
    assert_eq!(
        verdict(&doc, "wrong-ae"),
        ("fail".into(), "association rejected: called AE title not recognized".into())
    );
    assert_eq!(code, 2);
    assert_eq!(support::check(&doc, "all")["target"], format!("RIS@127.0.0.1:{}", ris.port));
}

#[test]
fn orthanc_worklist_plugin_is_counted_and_an_unknown_calling_ae_is_named() {
    let inv = inventory("");
    let Some(orthanc) = orthanc(&inv.dir.path().join("orthanc"), &["ROUNDS"]) else { return };
    let checks = counting_checks(orthanc.port, "ORTHANC")
        + &worklist("stranger", orthanc.port, "ORTHANC", "calling_ae = \"STRANGER\"")
        + &worklist("wrong-ae", orthanc.port, "PACS", "");
    std::fs::write(&inv.path, checks).unwrap();
    let (doc, _) = inv.run_json(&["--no-state"]);
    assert_counts(&doc);
    assert_eq!(
        verdict(&doc, "stranger"),
        (
            "fail".into(),
            "the peer aborted the association instead of answering (does it know our AE title \"STRANGER\"?)".into()
        )
    );
    assert_eq!(verdict(&doc, "wrong-ae").1, "association rejected: called AE title not recognized");

    // The plugin's folder gone: Orthanc answers the query with a failure status.
    let folder = inv.dir.path().join("orthanc").join("worklists");
    std::fs::rename(&folder, folder.with_extension("gone")).unwrap();
    let (doc, code) = inv.run_json(&["--no-state", "--only", "all"]);
    assert_eq!(
        verdict(&doc, "all"),
        ("fail".into(), "the worklist query failed with status 0xc000 (unable to process)".into())
    );
    assert_eq!(code, 2);
}

#[test]
fn a_peer_without_a_worklist_a_stopped_one_and_a_silent_one_fail_in_words() {
    let Some(pacs) = storescp("PACS") else { return };
    let stopped = support::closed_port();
    let silent = support::silent();
    let checks = worklist("store-only", pacs.port, "PACS", "")
        + &worklist("stopped", stopped, "RIS", "")
        + &worklist("silent", silent.port(), "RIS", "").replace("timeout = \"10s\"", "timeout = \"1s\"");
    let (doc, code) = inventory(&checks).run_json(&["--no-state"]);
    assert_eq!(
        verdict(&doc, "store-only"),
        ("fail".into(), "the peer accepts no Modality Worklist (C-FIND) presentation context".into())
    );
    assert_eq!(verdict(&doc, "stopped"), ("fail".into(), "connection refused".into()));
    assert_eq!(verdict(&doc, "silent"), ("fail".into(), "no answer in 1 s".into()));
    assert_eq!(code, 2);
}

/// dcmtk's storescp speaking DICOM over TLS (Debian's dcmtk is built with OpenSSL) with our
/// test CA's certificate for "localhost"; `peer_cert` is its peer authentication option:
/// `-ic` ignores client certificates, `-rc` requires one signed by a CA in `+cf`.
fn storescp_tls(cert: &Path, key: &Path, peer_cert: &[&str]) -> Option<Peer> {
    let port = support::closed_port();
    let mut command = dcmtk("storescp")?;
    command.args(["--aetitle", "PACS", "+tls"]).arg(key).arg(cert).arg("-pw").args(peer_cert).arg(port.to_string());
    Some(start(command, port))
}

fn dicom_tls(name: &str, port: u16, extra: &str) -> String {
    format!(
        "[[dicom]]\nname = {name:?}\nhost = \"localhost\"\nport = {port}\ncalled_ae = \"PACS\"\ntls = true\ntimeout = \"10s\"\n{extra}\n"
    )
}

#[test]
fn echo_over_tls_reports_the_certificate() {
    let ca = support::pki::Ca::root("Clinic PACS CA");
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = ca.leaf(&["localhost"], -1, 20).write_pem(certs.path());
    let Some(pacs) = storescp_tls(&cert, &key, &["-ic"]) else { return };
    let checks = dicom_tls("encrypted", pacs.port, "ca_file = \"ca.pem\"\ncert_warn_days = 30")
        + &dicom_tls("untrusted", pacs.port, "")
        + &dicom("plain-to-tls", pacs.port, "PACS")
            .replace("host = \"127.0.0.1\"\n", "host = \"localhost\"\ntimeout = \"3s\"\n")
            .replace("timeout = \"10s\"\n", "");
    let inv = inventory(&checks);
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "encrypted");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.starts_with("C-ECHO accepted by PACS in "), "{detail}");
    assert!(detail.contains("; certificate expires in 20 days ("), "{detail}");
    let (status, detail) = verdict(&doc, "untrusted");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("untrusted certificate: issuer \"Clinic PACS CA\""), "{detail}");
    let (status, detail) = verdict(&doc, "plain-to-tls");
    assert_eq!(status, "fail");
    assert!(detail.contains("set tls = true"), "{detail}");
}

#[test]
fn echo_over_mutual_tls_presents_the_client_certificate() {
    let ca = support::pki::Ca::root("Clinic PACS CA");
    let client_ca = support::pki::Ca::root("Clinic Client CA");
    let (server_dir, client_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (cert, key) = ca.leaf(&["localhost"], -1, 200).write_pem(server_dir.path());
    let (client_cert, client_key) = client_ca.leaf(&["rounds.clinic.example"], -1, 200).write_pem(client_dir.path());
    let client_ca_file = server_dir.path().join("client-ca.pem");
    std::fs::write(&client_ca_file, &client_ca.pem).unwrap();
    let Some(pacs) = storescp_tls(&cert, &key, &["-rc", "+cf", client_ca_file.to_str().unwrap()]) else {
        return;
    };
    let identity = format!(
        "client_cert = {:?}\nclient_key = {:?}",
        client_cert.display().to_string(),
        client_key.display().to_string()
    );
    let checks = dicom_tls("with-identity", pacs.port, &format!("ca_file = \"ca.pem\"\n{identity}"))
        + &dicom_tls("without", pacs.port, "ca_file = \"ca.pem\"");
    let inv = inventory(&checks);
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "with-identity");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("; certificate expires in 200 days ("), "{detail}");
    let (status, detail) = verdict(&doc, "without");
    assert_eq!(status, "fail");
    assert!(detail.contains("client certificate"), "{detail}");
}

/// A worklist server behind stunnel, as clinics add TLS to one that cannot do it itself: the
/// C-FIND runs over rounds' TLS and the certificate is judged with it.
#[test]
fn worklist_over_tls_through_stunnel() {
    let inv = inventory("");
    let Some(ris) = wlmscpfs(&inv.dir.path().join("wlmdb")) else { return };
    let ca = support::pki::Ca::root("Clinic RIS CA");
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = ca.leaf(&["localhost"], -1, 200).write_pem(certs.path());
    let Some((_stunnel, port, _dir)) = support::stunnel(ris.port, &cert, &key, "") else { return };
    let checks = format!(
        "[[worklist]]\nname = \"ct\"\nhost = \"localhost\"\nport = {port}\ncalled_ae = \"RIS\"\nmodality = \"CT\"\n\
         tls = true\nca_file = \"ca.pem\"\ntimeout = \"10s\"\n"
    );
    std::fs::write(&inv.path, checks).unwrap();
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "ct");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains(": 2 procedures scheduled today for CT; certificate expires in 200 days ("), "{detail}");
}

/// A PACS with the self-signed CA certificate openssl makes, trusted by its pin.
#[test]
fn echo_over_tls_trusts_a_pacs_own_certificate_by_pin() {
    let Some(appliance) = support::pki::openssl_appliance(90) else { return };
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = appliance.identity.write_pem(certs.path());
    let Some(pacs) = storescp_tls(&cert, &key, &["-ic"]) else { return };
    let inv = inventory(
        &(dicom_tls("pinned", pacs.port, &format!("pin = {:?}", appliance.pin))
            + &dicom_tls("untrusted", pacs.port, "")),
    );
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "pinned");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("C-ECHO accepted by PACS in ") && detail.contains("trusted by its pin"), "{detail}");
    let (status, detail) = verdict(&doc, "untrusted");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains(&format!("pin = \"{}\"", appliance.pin)), "{detail}");
}
