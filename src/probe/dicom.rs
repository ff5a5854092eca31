//! `[[dicom]]`: a PACS or modality answers DICOM Verification (C-ECHO).
//!
//! The association is dicom-ul's (A-ASSOCIATE negotiation, PDU framing, release); the
//! C-ECHO command set itself is five elements in Implicit VR Little Endian, encoded here
//! rather than by pulling in dicom-object.

use std::collections::HashMap;

use dicom_ul::association::client::ClientAssociationOptions;
use dicom_ul::association::Error as AssociationError;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use toml::Spanned;

use crate::config::values::Port;
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::Outcome;
use crate::probe::kind::{Budget, RunProbe};

const VERIFICATION_SOP_CLASS: &str = "1.2.840.10008.1.1";
const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";
const C_ECHO_RQ: u16 = 0x0030;
const C_ECHO_RSP: u16 = 0x8030;
const NO_DATA_SET: u16 = 0x0101;
const MESSAGE_ID: u16 = 1;
/// A C-ECHO-RSP command set is about a hundred bytes; a peer sending fragments forever is
/// cut off here rather than filling memory.
const MAX_COMMAND: usize = 64 * 1024;

check_table! {
    /// `[[dicom]]` as written in the inventory.
    pub(crate) struct DicomTable {
        host: Spanned<String>,
        port: Port,
        /// The peer's AE title; default "ANY-SCP".
        called_ae: Option<Spanned<String>>,
        /// Ours; default "ROUNDS". Some PACS only answer AE titles they know.
        calling_ae: Option<Spanned<String>>,
    }
}

impl Table for DicomTable {
    type Probe = DicomProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<DicomProbe>>, ConfigError> {
        let common = self.common();
        let ae_title = |value: &Option<Spanned<String>>, default: &str| -> Result<String, ConfigError> {
            let Some(v) = value else { return Ok(default.to_owned()) };
            let title = v.get_ref().trim();
            if title.is_empty()
                || title.len() > 16
                || title.chars().any(|c| c == '\\' || c.is_control() || !c.is_ascii())
            {
                return Err(loader.error(v.span(), "an AE title is 1 to 16 ASCII characters, without backslash"));
            }
            Ok(title.to_owned())
        };
        let host = loader.host(&self.host)?;
        let probe = DicomProbe {
            host: host.clone(),
            port: self.port.0,
            called_ae: ae_title(&self.called_ae, "ANY-SCP")?,
            calling_ae: ae_title(&self.calling_ae, "ROUNDS")?,
        };
        let target = format!("{}@{host}:{}", probe.called_ae, self.port.0);
        loader.single(&common, target, probe)
    }
}

#[derive(Debug)]
pub(crate) struct DicomProbe {
    pub host: String,
    pub port: u16,
    pub called_ae: String,
    pub calling_ae: String,
}

impl RunProbe for DicomProbe {
    fn kind(&self) -> &'static str {
        "dicom"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let start = tokio::time::Instant::now();
        // dicom-ul sets no timeouts of its own: without these a silent peer would only be
        // stopped by the runner, with less to say about where it hung.
        let step = budget.step_remaining();
        let options = ClientAssociationOptions::new()
            .calling_ae_title(self.calling_ae.as_str())
            .called_ae_title(self.called_ae.as_str())
            .with_presentation_context(VERIFICATION_SOP_CLASS, vec![IMPLICIT_VR_LITTLE_ENDIAN])
            .connection_timeout(step)
            .read_timeout(step)
            .write_timeout(step);
        let mut association = match options.establish_async((self.host.as_str(), self.port)).await {
            Ok(a) => a,
            Err(e) => return Outcome::fail(describe(&e, budget)),
        };
        let Some(context) = association.presentation_contexts().first().map(|pc| pc.id) else {
            let _ = association.abort().await;
            return Outcome::fail("association accepted, but not for Verification (C-ECHO)");
        };
        let request = Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: context,
                value_type: PDataValueType::Command,
                is_last: true,
                data: echo_request(MESSAGE_ID),
            }],
        };
        if let Err(e) = association.send(&request).await {
            return Outcome::fail(format!("sending C-ECHO failed: {}", describe(&e, budget)));
        }
        let status = match receive_command(&mut association, budget).await {
            Ok(command) => echo_status(&command),
            Err(why) => return Outcome::fail(why),
        };
        let elapsed = human::duration(start.elapsed());
        let released = association.release().await;
        match (status, released) {
            (Ok(0x0000), Ok(())) => Outcome::pass(format!("C-ECHO accepted by {} in {elapsed}", self.called_ae)),
            (Ok(0x0000), Err(e)) => {
                Outcome::warn(format!("C-ECHO accepted in {elapsed}, but the release failed: {}", describe(&e, budget)))
            }
            (Ok(code), _) => {
                Outcome::fail(format!("C-ECHO answered with status {code:#06x} ({})", status_meaning(code)))
            }
            (Err(why), _) => Outcome::fail(why),
        }
    }
}

/// Collects command fragments until the last one.
async fn receive_command(
    association: &mut dicom_ul::association::client::AsyncClientAssociation<tokio::net::TcpStream>,
    budget: Budget,
) -> Result<Vec<u8>, String> {
    let mut command = Vec::new();
    loop {
        match association.receive().await.map_err(|e| describe(&e, budget))? {
            Pdu::PData { data } => {
                for value in data.into_iter().filter(|v| v.value_type == PDataValueType::Command) {
                    command.extend_from_slice(&value.data);
                    if command.len() > MAX_COMMAND {
                        return Err(format!(
                            "the peer's answer runs past {} without ending: not a C-ECHO response",
                            human::size(MAX_COMMAND as u64)
                        ));
                    }
                    if value.is_last {
                        return Ok(command);
                    }
                }
            }
            Pdu::AbortRQ { .. } => return Err("the peer aborted the association".into()),
            Pdu::ReleaseRQ => return Err("the peer released the association without answering".into()),
            other => return Err(format!("unexpected answer from the peer: {}", pdu_name(&other))),
        }
    }
}

fn pdu_name(pdu: &Pdu) -> &'static str {
    match pdu {
        Pdu::AssociationRQ(_) => "A-ASSOCIATE-RQ",
        Pdu::AssociationAC(_) => "A-ASSOCIATE-AC",
        Pdu::AssociationRJ(_) => "A-ASSOCIATE-RJ",
        Pdu::ReleaseRP => "A-RELEASE-RP",
        _ => "an unknown PDU",
    }
}

fn describe(error: &AssociationError, budget: Budget) -> String {
    match error {
        AssociationError::Rejected { association_rj, .. } => format!("association rejected: {}", association_rj.source),
        AssociationError::Connect { source, .. } => super::net::describe_io(source),
        AssociationError::ToAddress { source, .. } => {
            format!("cannot resolve: {}", super::net::lookup_reason(source))
        }
        AssociationError::Timeout { .. } => format!("no answer in {}", human::limit(budget.timeout)),
        // An abort in answer to the association request arrives as an "unexpected" PDU.
        AssociationError::Aborted { .. } => "the peer aborted the association".into(),
        AssociationError::UnexpectedPdu { pdu, .. } if matches!(**pdu, Pdu::AbortRQ { .. }) => {
            "the peer aborted the association".into()
        }
        AssociationError::UnexpectedPdu { pdu, .. } => format!("unexpected answer from the peer: {}", pdu_name(pdu)),
        AssociationError::NoAcceptedPresentationContexts { .. } => {
            "the peer accepts no Verification (C-ECHO) presentation context".into()
        }
        AssociationError::ConnectionClosed { .. } => "the peer closed the connection".into(),
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            text
        }
    }
}

/// One data element in Implicit VR Little Endian.
fn element(out: &mut Vec<u8>, group: u16, element: u16, value: &[u8]) {
    out.extend_from_slice(&group.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

/// The C-ECHO-RQ command set (PS3.7 9.3.5).
fn echo_request(message_id: u16) -> Vec<u8> {
    let mut uid = VERIFICATION_SOP_CLASS.as_bytes().to_vec();
    if uid.len() % 2 == 1 {
        uid.push(0); // UIDs are padded to even length with NUL
    }
    let mut body = Vec::new();
    element(&mut body, 0x0000, 0x0002, &uid);
    element(&mut body, 0x0000, 0x0100, &C_ECHO_RQ.to_le_bytes());
    element(&mut body, 0x0000, 0x0110, &message_id.to_le_bytes());
    element(&mut body, 0x0000, 0x0800, &NO_DATA_SET.to_le_bytes());
    let mut command = Vec::new();
    element(&mut command, 0x0000, 0x0000, &(body.len() as u32).to_le_bytes());
    command.extend_from_slice(&body);
    command
}

/// The elements of a command set, by element number (all are group 0000).
fn parse_command(bytes: &[u8]) -> Result<HashMap<u16, &[u8]>, String> {
    let mut elements = HashMap::new();
    let mut rest = bytes;
    while rest.len() >= 8 {
        let number = u16::from_le_bytes([rest[2], rest[3]]);
        let length = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let value = rest.get(8..8 + length).ok_or("the C-ECHO answer is cut short")?;
        elements.insert(number, value);
        rest = &rest[8 + length..];
    }
    Ok(elements)
}

fn read_u16(elements: &HashMap<u16, &[u8]>, number: u16) -> Option<u16> {
    elements.get(&number).and_then(|v| v.get(..2)).map(|b| u16::from_le_bytes([b[0], b[1]]))
}

/// The Status (0000,0900) of a C-ECHO-RSP.
fn echo_status(command: &[u8]) -> Result<u16, String> {
    let elements = parse_command(command)?;
    match read_u16(&elements, 0x0100) {
        Some(C_ECHO_RSP) => {}
        Some(other) => return Err(format!("the peer answered with command {other:#06x}, not a C-ECHO-RSP")),
        None => return Err("the peer's answer has no command field".into()),
    }
    read_u16(&elements, 0x0900).ok_or_else(|| "the C-ECHO-RSP has no status".into())
}

fn status_meaning(code: u16) -> &'static str {
    match code {
        0x0110 => "processing failure",
        0x0112 => "no such SOP class",
        0x0122 => "SOP class not supported",
        0x0211 => "unrecognized operation",
        0xA700..=0xA7FF => "out of resources",
        0xC000..=0xCFFF => "cannot understand",
        _ => "failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_round_trips_through_the_parser() {
        let command = echo_request(7);
        let elements = parse_command(&command).unwrap();
        assert_eq!(read_u16(&elements, 0x0100), Some(C_ECHO_RQ));
        assert_eq!(read_u16(&elements, 0x0110), Some(7));
        assert_eq!(elements[&0x0002], b"1.2.840.10008.1.1\0");
        let group_length = u32::from_le_bytes(elements[&0x0000].try_into().unwrap()) as usize;
        assert_eq!(group_length, command.len() - 12);
    }

    #[test]
    fn response_status_is_read() {
        let mut rsp = Vec::new();
        element(&mut rsp, 0, 0x0100, &C_ECHO_RSP.to_le_bytes());
        element(&mut rsp, 0, 0x0900, &0x0110u16.to_le_bytes());
        assert_eq!(echo_status(&rsp), Ok(0x0110));
        assert!(echo_status(&rsp[..rsp.len() - 1]).unwrap_err().contains("cut short"));
    }

    proptest::proptest! {
        /// Fuzzing: any command set a peer sends is parsed or refused, never a panic.
        #[test]
        fn fuzz_command_sets_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = echo_status(&bytes);
        }
    }
}
