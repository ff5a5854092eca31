//! `[[hl7]]`: the interface engine accepts an HL7 v2 message over MLLP and acknowledges it.
//!
//! MLLP framing is `0x0B message 0x1C 0x0D`; hand-written because it is that small. The
//! probe sends one message (by default `NMD^N02`, the network-management message meant for
//! exactly this, carrying only an MSH segment so no engine files it as patient data) and
//! passes on an ACK whose MSA-1 is AA or CA and whose MSA-2 echoes our control id.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use toml::Spanned;

use crate::certs::{self, ProtocolTls};
use crate::config::values::Port;
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::Outcome;
use crate::probe::kind::{Budget, RunProbe};

const START: u8 = 0x0B;
const END: [u8; 2] = [0x1C, 0x0D];
/// An ACK is a few hundred bytes; an answer larger than this is not one.
const MAX_ANSWER: usize = 1024 * 1024;
pub(crate) const DEFAULT_MESSAGE_TYPE: &str = "NMD^N02";

check_table! {
    /// `[[hl7]]` as written in the inventory.
    pub(crate) struct Hl7Table with protocol_tls {
        host: Spanned<String>,
        port: Port,
        /// MSH-3, MSH-4, MSH-5, MSH-6.
        sending_app: Option<Spanned<String>>,
        sending_facility: Option<Spanned<String>>,
        receiving_app: Option<Spanned<String>>,
        receiving_facility: Option<Spanned<String>>,
        /// MSH-9, like "ADT^A01"; default NMD^N02.
        message_type: Option<Spanned<String>>,
        /// MSH-11: "P" (production, the default: most engines refuse other values on a
        /// production port), "T" (training) or "D" (debugging).
        processing_id: Option<Spanned<String>>,
        /// MSH-12, the HL7 version; default "2.5.1".
        version: Option<Spanned<String>>,
        /// A message the interface team agreed on, instead of the generated one (relative to
        /// the inventory). rounds replaces its MSH-7 (time) and MSH-10 (control id).
        message_file: Option<Spanned<String>>,
        /// A message_file with a PID segment is refused unless this is true: no
        /// real-looking patient data is ever injected by accident.
        #[serde(default)]
        allow_patient_segments: bool,
    }
}

impl Table for Hl7Table {
    type Probe = Hl7Probe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<Hl7Probe>>, ConfigError> {
        let common = self.common();
        let field =
            |value: &Option<Spanned<String>>, default: &str| -> Result<String, ConfigError> {
                match value {
                    None => Ok(default.to_owned()),
                    Some(v) if v.get_ref().chars().any(|c| "|~\\&\r\n".contains(c)) => Err(loader
                        .error(v.span(), "HL7 field values cannot contain the separators | ~ \\ & or line breaks")),
                    Some(v) => Ok(v.get_ref().clone()),
                }
            };
        let message_type = field(&self.message_type, DEFAULT_MESSAGE_TYPE)?;
        if let Some(t) = &self.message_type {
            let parts: Vec<&str> = t.get_ref().split('^').collect();
            if parts.len() < 2
                || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                return Err(loader.error(t.span(), "message_type looks like \"ADT^A01\": message code ^ trigger event"));
            }
        }
        let processing_id = field(&self.processing_id, "P")?;
        if let Some(p) = self.processing_id.as_ref().filter(|_| !matches!(processing_id.as_str(), "P" | "T" | "D")) {
            return Err(
                loader.error(p.span(), "processing_id is \"P\" (production), \"T\" (training) or \"D\" (debugging)")
            );
        }
        let version = field(&self.version, "2.5.1")?;
        if let Some(v) = self.version.as_ref().filter(|_| !version.starts_with("2.")) {
            return Err(loader.error(v.span(), "version is an HL7 v2 version, like \"2.5.1\" or \"2.3\""));
        }
        let template = match &self.message_file {
            Some(file) => Some(read_message_file(loader, file, self.allow_patient_segments)?),
            None => None,
        };
        let sending_app = field(&self.sending_app, "ROUNDS")?;
        let sending_facility = field(&self.sending_facility, "")?;
        let receiving_app = field(&self.receiving_app, "")?;
        let receiving_facility = field(&self.receiving_facility, "")?;
        let host = loader.host(&self.host)?;
        let tls = loader.protocol_tls(self.protocol_tls_keys())?;
        let probe = Hl7Probe {
            tls,
            processing_id,
            version,
            template,
            host: host.clone(),
            port: self.port.0,
            sending_app,
            sending_facility,
            receiving_app,
            receiving_facility,
            message_type,
        };
        let target = format!("{host}:{}", self.port.0);
        loader.single(&common, target, probe)
    }
}

#[derive(Debug)]
pub(crate) struct Hl7Probe {
    pub tls: Option<ProtocolTls>,
    pub processing_id: String,
    pub version: String,
    /// The agreed message from `message_file`, segments separated by CR.
    pub template: Option<String>,
    pub host: String,
    pub port: u16,
    pub sending_app: String,
    pub sending_facility: String,
    pub receiving_app: String,
    pub receiving_facility: String,
    pub message_type: String,
}

impl RunProbe for Hl7Probe {
    fn kind(&self) -> &'static str {
        "hl7"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let stream = match super::net::connect_within(&self.host, self.port, budget).await {
            Ok(s) => s,
            Err(why) => return Outcome::fail(why),
        };
        let Some(tls) = &self.tls else { return self.exchange(stream, budget).await };
        let connecting = certs::connect_tls(&tls.trust, tls.client.as_ref(), stream, tls.server_name.clone());
        let (seen, connected) = match tokio::time::timeout_at(budget.step_deadline(), connecting).await {
            Ok(Ok(result)) => result,
            Ok(Err(why)) => return Outcome::fail(why),
            Err(_) => {
                return Outcome::fail(format!("connected, but the TLS handshake did not finish in {}", budget.limit()))
            }
        };
        let verdict = seen.map(|h| certs::assess(&h, tls.limits, SystemTime::now()));
        let stream = match (connected, &verdict) {
            (Ok(stream), _) => stream,
            (Err(_), Some(v)) if v.status.is_failure() => return Outcome::fail(v.text.clone()),
            (Err(e), _) => return Outcome::fail(format!("TLS handshake failed: {}", super::net::describe_io(&e))),
        };
        let outcome = self.exchange(stream, budget).await;
        match verdict {
            Some(v) => v.joined_to(outcome),
            None => outcome,
        }
    }
}

impl Hl7Probe {
    /// Sends the message over `stream` (plain or TLS) and judges the ACK.
    async fn exchange(
        &self,
        mut stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        budget: Budget,
    ) -> Outcome {
        let start = tokio::time::Instant::now();
        let control_id = control_id();
        let message = self.message(&control_id, SystemTime::now());
        if let Err(e) = stream.write_all(&frame(&message)).await {
            return Outcome::fail(format!("sending the message failed: {}", super::net::describe_io(&e)));
        }
        let answer = match tokio::time::timeout_at(budget.step_deadline(), read_frame(&mut stream)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(why)) => return Outcome::fail(why),
            Err(_) => return Outcome::fail(format!("connected and sent, but no ACK in {}", budget.limit())),
        };
        let elapsed = human::duration(start.elapsed());
        judge_ack(&answer, &control_id, &elapsed)
    }

    /// An HL7 v2.5.1 message of one MSH segment.
    fn message(&self, control_id: &str, now: SystemTime) -> String {
        if let Some(template) = &self.template {
            return stamp(template, control_id, &hl7_timestamp(now));
        }
        format!(
            "MSH|^~\\&|{}|{}|{}|{}|{}||{}|{control_id}|{}|{}\r",
            self.sending_app,
            self.sending_facility,
            self.receiving_app,
            self.receiving_facility,
            hl7_timestamp(now),
            self.message_type,
            self.processing_id,
            self.version,
        )
    }
}

/// Reads `message_file`: HL7 v2 text starting with MSH, line ends made CR; a PID segment is
/// refused unless `allow_patient_segments`.
fn read_message_file(loader: &Loader, file: &Spanned<String>, allow_patient: bool) -> Result<String, ConfigError> {
    let path = loader.resolve_path(file.get_ref());
    let text = std::fs::read_to_string(&path)
        .map_err(|e| loader.error(file.span(), format!("cannot read message_file {}: {e}", path.display())))?;
    let segments: Vec<&str> = text.split(['\r', '\n']).map(str::trim_end).filter(|l| !l.is_empty()).collect();
    if !segments.first().is_some_and(|s| s.starts_with("MSH|")) {
        return Err(loader.error(file.span(), "message_file must hold an HL7 v2 message starting with an MSH segment"));
    }
    if !allow_patient && segments.iter().any(|s| s.starts_with("PID|")) {
        return Err(loader.error(
            file.span(),
            "message_file has a PID segment (patient data); set allow_patient_segments = true if the interface team agreed to it",
        ));
    }
    Ok(segments.iter().map(|s| format!("{s}\r")).collect())
}

/// `template` with its MSH-7 (time) and MSH-10 (control id) replaced.
fn stamp(template: &str, control_id: &str, time: &str) -> String {
    let (msh, rest) = template.split_once('\r').unwrap_or((template, ""));
    let mut fields: Vec<String> = msh.split('|').map(str::to_owned).collect();
    // fields[0] is "MSH" and the separator itself is MSH-1, so MSH-n is fields[n - 1].
    while fields.len() < 10 {
        fields.push(String::new());
    }
    fields[6] = time.to_owned();
    fields[9] = control_id.to_owned();
    format!("{}\r{rest}", fields.join("|"))
}

/// Unique per message: a late ACK for an earlier run is then recognised as not ours.
fn control_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("RND{}", nanos % 100_000_000_000_000)
}

/// `YYYYMMDDHHMMSS` in UTC.
fn hl7_timestamp(now: SystemTime) -> String {
    crate::human::rfc3339(now).chars().filter(char::is_ascii_digit).take(14).collect()
}

pub(crate) fn frame(message: &str) -> Vec<u8> {
    let mut framed = Vec::with_capacity(message.len() + 3);
    framed.push(START);
    framed.extend_from_slice(message.as_bytes());
    framed.extend_from_slice(&END);
    framed
}

/// Reads one MLLP frame and returns the message inside it.
async fn read_frame(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> Result<String, String> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading the ACK failed: {}", super::net::describe_io(&e)))?;
        if n == 0 {
            return Err(if answer.is_empty() {
                "the engine closed the connection without an ACK".into()
            } else {
                "bad framing: the answer ended without MLLP's end bytes 0x1C 0x0D".into()
            });
        }
        // Only the new bytes (and the one before them) can complete the end marker: the
        // search stays linear however the peer splits its answer.
        let searched_to = answer.len().saturating_sub(1);
        answer.extend_from_slice(&buf[..n]);
        let lead = answer.iter().position(|b| !b.is_ascii_whitespace());
        let Some(lead) = lead else { continue };
        if answer[lead] != START {
            return Err(format!("bad framing: the answer starts with {:#04x}, not MLLP's 0x0B", answer[lead]));
        }
        let from = searched_to.max(lead);
        if let Some(at) = answer[from..].windows(2).position(|w| w == END) {
            return Ok(String::from_utf8_lossy(&answer[lead + 1..from + at]).into_owned());
        }
        if answer.len() > MAX_ANSWER {
            return Err("bad framing: no MLLP end bytes in the first 1 MiB".into());
        }
    }
}

/// The fields of one segment: `fields[n]` is SEG-n (for MSH too: its field separator is MSH-1).
fn segment<'a>(message: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let line = message.split(['\r', '\n']).find(|s| s.starts_with(name))?;
    let mut fields: Vec<&str> = line.split('|').collect();
    if name == "MSH" {
        fields.insert(1, "|");
    }
    Some(fields)
}

pub(crate) fn field<'a>(fields: &[&'a str], n: usize) -> &'a str {
    fields.get(n).copied().unwrap_or_default()
}

fn judge_ack(answer: &str, control_id: &str, elapsed: &str) -> Outcome {
    let Some(msa) = segment(answer, "MSA") else {
        return Outcome::fail("the answer has no MSA segment: it is not an HL7 ACK");
    };
    let code = field(&msa, 1);
    let acked = field(&msa, 2);
    let from = segment(answer, "MSH").map(|msh| field(&msh, 3).to_owned()).filter(|a| !a.is_empty());
    let from = from.map(|a| format!(" from {a}")).unwrap_or_default();
    let meaning = match code {
        "AA" | "CA" => None,
        "AE" => Some("application error"),
        "AR" => Some("application reject"),
        "CE" => Some("commit error"),
        "CR" => Some("commit reject"),
        other => return Outcome::fail(format!("unknown acknowledgment code {other:?} in MSA-1")),
    };
    if let Some(meaning) = meaning {
        let reasons: Vec<String> =
            [field(&msa, 3).to_owned(), error_text(answer)].into_iter().filter(|r| !r.is_empty()).collect();
        let reasons = if reasons.is_empty() { String::new() } else { format!(": {}", reasons.join("; ")) };
        return Outcome::fail(format!("{code} ({meaning}){from}{reasons}"));
    }
    if acked != control_id {
        return Outcome::fail(format!("{code}{from}, but for control id {acked:?}, not ours ({control_id:?})"));
    }
    Outcome::pass(format!("{code}{from} in {elapsed}"))
}

/// What the ERR segment says, for people: ERR-8 (user message), else the text of ERR-3
/// (v2.5 error code), else ERR-1 (v2.3 error code and location).
fn error_text(answer: &str) -> String {
    let Some(err) = segment(answer, "ERR") else { return String::new() };
    let readable = |f: &str| f.split(['^', '&']).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ");
    let user_message = field(&err, 8);
    if !user_message.is_empty() {
        return user_message.to_owned();
    }
    let code_text = field(&err, 3).split('^').nth(1).unwrap_or_default();
    if !code_text.is_empty() {
        return code_text.to_owned();
    }
    readable(field(&err, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT: &str = include_str!("../../tests/data/hl7/adt_a01.hl7");
    const ORU: &str = include_str!("../../tests/data/hl7/oru_r01.hl7");
    const ACK_AE: &str = include_str!("../../tests/data/hl7/ack_ae.hl7");

    #[test]
    fn reads_msh_fields_of_real_messages() {
        let msh = segment(ADT, "MSH").unwrap();
        assert_eq!((field(&msh, 3), field(&msh, 9), field(&msh, 10)), ("EPICADT", "ADT^A01^ADT_A01", "MSG00001"));
        let msh = segment(ORU, "MSH").unwrap();
        assert_eq!((field(&msh, 9), field(&msh, 10), field(&msh, 12)), ("ORU^R01^ORU_R01", "LAB7788123", "2.5.1"));
        assert!(judge_ack(ORU, "x", "1 ms").detail.contains("no MSA segment"));
    }

    #[test]
    fn an_application_error_says_why() {
        let outcome = judge_ack(ACK_AE, "CONTROLID", "1 ms");
        assert_eq!(
            outcome.detail,
            "AE (application error) from LIS: Required field missing; Patient identifier list (PID-3) is required"
        );
    }

    #[test]
    fn accepted_ack_must_echo_our_control_id() {
        let ack = "MSH|^~\\&|LIS||||20261124||ACK|1|P|2.5.1\rMSA|AA|RND42\r";
        assert_eq!(judge_ack(ack, "RND42", "3 ms"), Outcome::pass("AA from LIS in 3 ms"));
        assert!(judge_ack(ack, "RND43", "3 ms").detail.contains("not ours"));
    }

    #[test]
    fn an_agreed_message_gets_our_time_and_control_id() {
        let template = "MSH|^~\\&|ROUNDS|CLINIC|LIS|LAB|20200101000000||NMD^N02|OLD|T|2.3\rNCK|20200101\r";
        assert_eq!(
            stamp(template, "RND7", "20261125100000"),
            "MSH|^~\\&|ROUNDS|CLINIC|LIS|LAB|20261125100000||NMD^N02|RND7|T|2.3\rNCK|20200101\r"
        );
    }

    #[test]
    fn the_message_is_one_msh_segment() {
        let probe = Hl7Probe {
            tls: None,
            processing_id: "P".into(),
            version: "2.5.1".into(),
            template: None,
            host: "h".into(),
            port: 1,
            sending_app: "ROUNDS".into(),
            sending_facility: "".into(),
            receiving_app: "LIS".into(),
            receiving_facility: "".into(),
            message_type: DEFAULT_MESSAGE_TYPE.into(),
        };
        let msg = probe.message("RND1", UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000));
        assert_eq!(msg, "MSH|^~\\&|ROUNDS||LIS||20261118110640||NMD^N02|RND1|P|2.5.1\r");
    }

    proptest::proptest! {
        /// Fuzzing: any answer an engine sends is judged without a panic.
        #[test]
        fn fuzz_ack_parsing_never_panics(answer in ".{0,400}", id in "[A-Z0-9]{0,12}") {
            let _ = judge_ack(&answer, &id, "1 ms");
            let _ = segment(&answer, "MSA");
            let _ = error_text(&answer);
        }

        /// Fuzzing: any bytes, in any pieces, are read as one frame or refused, never more
        /// than the cap.
        #[test]
        fn fuzz_mllp_frames_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut input: &[u8] = &bytes;
            let _ = runtime.block_on(read_frame(&mut input));
        }
    }
}
