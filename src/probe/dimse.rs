//! DICOM for the kinds that speak it (`[[dicom]]`: C-ECHO, `[[worklist]]`: C-FIND): the keys
//! that name a peer, an association over TCP or TLS, and DIMSE messages in and out.
//!
//! The association is dicom-ul's (A-ASSOCIATE negotiation, PDU framing, release, TLS through
//! our rustls configuration, so the certificate is recorded and judged as by `[[tls]]`).
//! Command sets and identifiers are dicom-object's, in Implicit VR Little Endian, the one
//! transfer syntax every DICOM peer must accept.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
use dicom_ul::association::client::{AsyncClientAssociation, AsyncTlsStream, ClientAssociationOptions};
use dicom_ul::association::Error as AssociationError;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, PresentationContextResultReason};
use tokio::net::TcpStream;
use toml::Spanned;

use crate::certs::{self, CertVerdict, ProtocolTls};
use crate::config::{ConfigError, Loader, ProtocolTlsKeys};
use crate::human;
use crate::outcome::Outcome;
use crate::probe::kind::Budget;

/// A command set is about a hundred bytes and a worklist item a few kilobytes; a peer
/// sending fragments forever is cut off here rather than filling memory.
const MAX_MESSAGE_PART: usize = 1024 * 1024;

/// `[[dicom]]` and `[[worklist]]` keys that name the peer, as written.
pub(crate) struct PeerKeys<'a> {
    pub port: u16,
    pub called_ae: Option<&'a Spanned<String>>,
    pub calling_ae: Option<&'a Spanned<String>>,
    /// `host` and the TLS keys.
    pub tls: ProtocolTlsKeys<'a>,
}

/// The [`PeerKeys`] of a table that declares `port`, `called_ae`, `calling_ae` and the
/// protocol TLS keys (`check_table! { ... with protocol_tls }`): `[[dicom]]`, `[[worklist]]`.
macro_rules! peer_keys {
    ($table:expr) => {
        $crate::probe::dimse::PeerKeys {
            port: $table.port.0,
            called_ae: $table.called_ae.as_ref(),
            calling_ae: $table.calling_ae.as_ref(),
            tls: $table.protocol_tls_keys(),
        }
    };
}
pub(crate) use peer_keys;

/// A DICOM application entity to associate with.
#[derive(Debug)]
pub(crate) struct DicomPeer {
    pub host: String,
    pub port: u16,
    pub called_ae: String,
    pub calling_ae: String,
    pub tls: Option<ProtocolTls>,
}

impl DicomPeer {
    pub fn plan(loader: &mut Loader, keys: PeerKeys<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            host: loader.host(keys.tls.host)?,
            port: keys.port,
            called_ae: ae_title(loader, keys.called_ae, "ANY-SCP")?,
            calling_ae: ae_title(loader, keys.calling_ae, "ROUNDS")?,
            tls: loader.protocol_tls(keys.tls)?,
        })
    }

    /// "PACS@pacs.clinic.local:104", as reports name the target.
    pub fn target(&self) -> String {
        format!("{}@{}:{}", self.called_ae, self.host, self.port)
    }

    /// Opens an association proposing `abstract_syntax` (the service, named `service` in
    /// details: "Verification (C-ECHO)"). `Err` is the check's outcome: why it failed, or
    /// the certificate's verdict when that is why the handshake failed.
    pub async fn associate(
        &self,
        abstract_syntax: &str,
        service: &str,
        budget: Budget,
    ) -> Result<Association, Outcome> {
        // dicom-ul sets no timeouts of its own, and with TLS support built in it reports any
        // failure to read the association answer (a timeout, a closed connection) as "peer
        // seems to be sending TLS data". So our own deadline comes first, and dicom-ul's
        // timeouts are only a backstop a second later.
        let step = budget.step_remaining() + Duration::from_secs(1);
        let options = ClientAssociationOptions::new()
            .calling_ae_title(self.calling_ae.as_str())
            .called_ae_title(self.called_ae.as_str())
            .with_presentation_context(abstract_syntax, vec![IMPLICIT_VR_LITTLE_ENDIAN.uid()])
            .connection_timeout(step)
            .read_timeout(step)
            .write_timeout(step);
        let establishing = self.establish(options, service, budget);
        let (link, certificate) = tokio::time::timeout_at(budget.step_deadline(), establishing)
            .await
            .map_err(|_| Outcome::fail(no_answer(budget)))??;
        let accepted = link.contexts().iter().find(|pc| pc.reason == PresentationContextResultReason::Acceptance);
        let Some(context) = accepted.map(|pc| pc.id) else {
            let _ = link.abort().await;
            return Err(Outcome::fail(format!("association accepted, but not for {service}")));
        };
        let calling_ae = self.calling_ae.clone();
        Ok(Association { link, context, certificate, pending: VecDeque::new(), budget, calling_ae, ended: false })
    }

    /// The association over TCP or TLS, with the verdict on the certificate over TLS.
    async fn establish(
        &self,
        options: ClientAssociationOptions<'_>,
        service: &str,
        budget: Budget,
    ) -> Result<(Link, Option<CertVerdict>), Outcome> {
        let address = (self.host.as_str(), self.port);
        Ok(match &self.tls {
            None => match options.establish_async(address).await {
                Ok(a) => (Link::Plain(Box::new(a)), None),
                Err(e) => return Err(Outcome::fail(describe(&e, budget, service))),
            },
            Some(tls) => {
                let (config, recorder) = tls.trust.recording_config_as(tls.client.as_ref()).map_err(Outcome::fail)?;
                let options = options.tls_config(Arc::new(config)).server_name(&tls.server_name.to_str());
                let established = options.establish_tls_async(address).await;
                let verdict = recorder.single().map(|h| certs::assess(&h, tls.limits, SystemTime::now()));
                match (established, verdict) {
                    (Ok(a), verdict) => (Link::Tls(Box::new(a)), verdict),
                    (Err(_), Some(v)) if v.status.is_failure() => return Err(Outcome::fail(v.text)),
                    // Under TLS 1.3 a server refuses a client certificate (or its absence)
                    // after our side of the handshake is done: dicom-ul then fails to read
                    // the association answer and says only "TLS not supported".
                    (Err(AssociationError::TlsNotSupported), _) => {
                        return Err(Outcome::fail(match tls.client {
                            None => "the peer closed the TLS connection without answering the association request \
                                     (a peer that requires a client certificate does this: give client_cert and client_key)",
                            Some(_) => "the peer closed the TLS connection without answering the association request \
                                        (does it trust our client_cert?)",
                        }))
                    }
                    (Err(e), _) => return Err(Outcome::fail(describe(&e, budget, service))),
                }
            }
        })
    }
}

/// An AE title: 1 to 16 ASCII characters without backslash; `default` when not given.
pub(crate) fn ae_title(loader: &Loader, value: Option<&Spanned<String>>, default: &str) -> Result<String, ConfigError> {
    let Some(v) = value else { return Ok(default.to_owned()) };
    let title = v.get_ref().trim();
    if title.is_empty() || title.len() > 16 || title.chars().any(|c| c == '\\' || c.is_control() || !c.is_ascii()) {
        return Err(loader.error(v.span(), "an AE title is 1 to 16 ASCII characters, without backslash"));
    }
    Ok(title.to_owned())
}

/// dicom-ul's association over TCP or over TLS: two types, one set of operations. Boxed,
/// since a TLS connection is some kilobytes and an association moves around.
enum Link {
    Plain(Box<AsyncClientAssociation<TcpStream>>),
    Tls(Box<AsyncClientAssociation<AsyncTlsStream>>),
}

impl Link {
    fn contexts(&self) -> &[dicom_ul::pdu::PresentationContextNegotiated] {
        match self {
            Link::Plain(a) => a.presentation_contexts(),
            Link::Tls(a) => a.presentation_contexts(),
        }
    }

    async fn send(&mut self, pdu: &Pdu) -> Result<(), AssociationError> {
        match self {
            Link::Plain(a) => a.send(pdu).await,
            Link::Tls(a) => a.send(pdu).await,
        }
    }

    async fn receive(&mut self) -> Result<Pdu, AssociationError> {
        match self {
            Link::Plain(a) => a.receive().await,
            Link::Tls(a) => a.receive().await,
        }
    }

    async fn release(self) -> Result<(), AssociationError> {
        match self {
            Link::Plain(a) => a.release().await,
            Link::Tls(a) => a.release().await,
        }
    }

    async fn abort(self) -> Result<(), AssociationError> {
        match self {
            Link::Plain(a) => a.abort().await,
            Link::Tls(a) => a.abort().await,
        }
    }
}

/// An open association with one accepted presentation context.
pub(crate) struct Association {
    link: Link,
    context: u8,
    /// Over TLS: the verdict on the certificate the peer showed.
    certificate: Option<CertVerdict>,
    /// Fragments received with the end of the previous message (one P-DATA PDU may carry
    /// the last command fragment and the first data fragment).
    pending: VecDeque<PDataValue>,
    budget: Budget,
    /// Ours, for details that may hinge on it.
    calling_ae: String,
    /// The peer aborted, released or closed: there is nothing left to release.
    ended: bool,
}

/// One DIMSE message received: its command set, and its data set (an identifier) if any.
pub(crate) struct Message {
    /// Command elements by element number (all are group 0000).
    command: HashMap<u16, Vec<u8>>,
    pub dataset: Option<Vec<u8>>,
}

impl Message {
    /// Reads a command set (Implicit VR Little Endian) with every length checked against
    /// the bytes received. Not dicom-object: its reader (0.10) sets aside the length an
    /// element declares before reading it, so an 8-byte answer declaring a 4 GiB value took
    /// 25 s and gigabytes of memory to refuse; a hostile peer must not cost us that.
    fn parse_command(bytes: &[u8]) -> Result<HashMap<u16, Vec<u8>>, String> {
        let mut elements = HashMap::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let header = rest.get(..8).ok_or("the peer's command set is cut short")?;
            let group = u16::from_le_bytes([header[0], header[1]]);
            let number = u16::from_le_bytes([header[2], header[3]]);
            let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
            if group != 0x0000 {
                return Err(format!("the peer's command set holds a group {group:04X} element: not a DICOM answer"));
            }
            // Checked: on a 32-bit machine a declared 4 GiB would overflow the end.
            let end =
                length.checked_add(8).filter(|end| *end <= rest.len()).ok_or("the peer's command set is cut short")?;
            elements.insert(number, rest[8..end].to_vec());
            rest = &rest[end..];
        }
        Ok(elements)
    }

    fn unsigned(&self, tag: Tag) -> Option<u16> {
        let value = self.command.get(&tag.element())?;
        value.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    /// (0000,0100) Command Field, such as 0x8030 for C-ECHO-RSP.
    fn command_field(&self) -> Option<u16> {
        self.unsigned(tags::COMMAND_FIELD)
    }

    /// (0000,0900) Status.
    fn status(&self) -> Option<u16> {
        self.unsigned(tags::STATUS)
    }

    /// The Status of this answer, which must be the response `expected` (a command field
    /// such as 0x8030), called `name` in details ("C-ECHO-RSP").
    pub fn status_of(&self, expected: u16, name: &str) -> Result<u16, String> {
        match self.command_field() {
            Some(field) if field == expected => self.status().ok_or_else(|| format!("the {name} has no status")),
            Some(other) => Err(format!("the peer answered with command {other:#06x}, not a {name}")),
            None => Err("the peer's answer has no command field".into()),
        }
    }

    /// Whether a data set follows: (0000,0800) is 0x0101 when none does.
    fn has_dataset(&self) -> bool {
        self.unsigned(tags::COMMAND_DATA_SET_TYPE).is_some_and(|t| t != 0x0101)
    }
}

impl Association {
    /// Sends a command set and, if given, its data set.
    pub async fn send(&mut self, command: &InMemDicomObject, dataset: Option<&InMemDicomObject>) -> Result<(), String> {
        let mut values = vec![self.value(PDataValueType::Command, command)?];
        if let Some(dataset) = dataset {
            values.push(self.value(PDataValueType::Data, dataset)?);
        }
        for value in values {
            let sent = self.link.send(&Pdu::PData { data: vec![value] }).await;
            sent.map_err(|e| describe(&e, self.budget, "the request"))?;
        }
        Ok(())
    }

    fn value(&self, value_type: PDataValueType, object: &InMemDicomObject) -> Result<PDataValue, String> {
        let mut data = Vec::new();
        object
            .write_dataset_with_ts(&mut data, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
            .map_err(|e| format!("cannot encode the request: {e}"))?;
        Ok(PDataValue { presentation_context_id: self.context, value_type, is_last: true, data })
    }

    /// Receives the next message: its command set, then its data set when the command says
    /// one follows.
    pub async fn receive(&mut self) -> Result<Message, String> {
        let bytes = self.receive_part(PDataValueType::Command).await?;
        let mut message = Message { command: Message::parse_command(&bytes)?, dataset: None };
        if message.has_dataset() {
            message.dataset = Some(self.receive_part(PDataValueType::Data).await?);
        }
        Ok(message)
    }

    /// The fragments of one command set or data set, up to the last one.
    async fn receive_part(&mut self, wanted: PDataValueType) -> Result<Vec<u8>, String> {
        let mut part = Vec::new();
        loop {
            let Some(value) = self.pending.pop_front() else {
                self.receive_values().await?;
                continue;
            };
            if value.value_type != wanted {
                return Err("the peer's answer is out of order (a command and data set interleaved)".into());
            }
            part.extend_from_slice(&value.data);
            if part.len() > MAX_MESSAGE_PART {
                return Err(format!(
                    "the peer's answer runs past {} without ending: not a DICOM answer",
                    human::size(MAX_MESSAGE_PART as u64)
                ));
            }
            if value.is_last {
                return Ok(part);
            }
        }
    }

    async fn receive_values(&mut self) -> Result<(), String> {
        let received = tokio::time::timeout_at(self.budget.step_deadline(), self.link.receive()).await;
        let pdu = match received {
            Ok(Ok(pdu)) => pdu,
            Ok(Err(e)) => return Err(self.ended(describe(&e, self.budget, "the request"))),
            Err(_) => return Err(no_answer(self.budget)),
        };
        match pdu {
            Pdu::PData { data } => {
                self.pending.extend(data);
                Ok(())
            }
            // Orthanc, for one, answers a query from an AE title it does not know this way.
            Pdu::AbortRQ { .. } => Err(self.ended(format!(
                "the peer aborted the association instead of answering (does it know our AE title {:?}?)",
                self.calling_ae
            ))),
            Pdu::ReleaseRQ => Err(self.ended("the peer released the association without answering".into())),
            other => Err(format!("unexpected answer from the peer: {}", pdu_name(&other))),
        }
    }

    /// Notes that the peer has ended the association (`why`), so that nothing waits on it.
    fn ended(&mut self, why: String) -> String {
        self.ended = true;
        why
    }

    /// Releases the association; `Err` says why the release failed. After the peer ended
    /// it, the connection is only dropped: a release would wait for an answer that cannot
    /// come, until the deadline.
    pub async fn release(self) -> Result<(), String> {
        if self.ended {
            return Ok(());
        }
        let budget = self.budget;
        match tokio::time::timeout_at(budget.step_deadline(), self.link.release()).await {
            Ok(released) => released.map_err(|e| describe(&e, budget, "the release")),
            Err(_) => Err(no_answer(budget)),
        }
    }

    /// The service's outcome, with the certificate's verdict joined when over TLS.
    pub fn with_certificate(&self, outcome: Outcome) -> Outcome {
        match &self.certificate {
            Some(v) => v.clone().joined_to(outcome),
            None => outcome,
        }
    }
}

fn no_answer(budget: Budget) -> String {
    format!("no answer in {}", human::limit(budget.timeout))
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

/// An association error in words; `service` names what was asked ("Verification (C-ECHO)").
fn describe(error: &AssociationError, budget: Budget, service: &str) -> String {
    match error {
        AssociationError::Rejected { association_rj, .. } => format!("association rejected: {}", association_rj.source),
        AssociationError::Connect { source, .. } | AssociationError::TlsHandshake { source, .. } => {
            super::net::describe_io(source)
        }
        AssociationError::ToAddress { source, .. } => {
            format!("cannot resolve: {}", super::net::lookup_reason(source))
        }
        AssociationError::Timeout { .. } => no_answer(budget),
        // dicom-ul's guess whenever the association answer cannot be read (see `associate`).
        AssociationError::TlsNotSupported => {
            "no DICOM answer to the association request (if the peer expects TLS, set tls = true)".into()
        }
        // An abort in answer to the association request arrives as an "unexpected" PDU.
        AssociationError::Aborted { .. } => "the peer aborted the association".into(),
        AssociationError::UnexpectedPdu { pdu, .. } if matches!(**pdu, Pdu::AbortRQ { .. }) => {
            "the peer aborted the association".into()
        }
        AssociationError::UnexpectedPdu { pdu, .. } => format!("unexpected answer from the peer: {}", pdu_name(pdu)),
        AssociationError::NoAcceptedPresentationContexts { .. } => {
            format!("the peer accepts no {service} presentation context")
        }
        AssociationError::ConnectionClosed { .. } => "the peer closed the connection".into(),
        other => std::iter::once(other.to_string())
            .chain(super::net::causes(other).iter().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join(": "),
    }
}

/// A DIMSE status code in words (PS3.7 annex C), for failure details.
pub(crate) fn status_meaning(code: u16) -> &'static str {
    match code {
        0x0110 => "processing failure",
        0x0112 => "no such SOP class",
        0x0122 => "SOP class not supported",
        0x0211 => "unrecognized operation",
        0xA700..=0xA7FF => "out of resources",
        0xA900..=0xA9FF => "the query does not match the SOP class",
        0xC000..=0xCFFF => "unable to process",
        0xFE00 => "cancelled",
        _ => "failure",
    }
}

#[cfg(test)]
mod tests {
    use dicom_core::{DataElement, PrimitiveValue, VR};

    use super::*;

    fn encoded(object: &InMemDicomObject) -> Vec<u8> {
        let mut bytes = Vec::new();
        object.write_dataset_with_ts(&mut bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased()).unwrap();
        bytes
    }

    #[test]
    fn a_command_set_from_dicom_object_is_read_back() {
        let command = InMemDicomObject::command_from_element_iter([
            DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x8030_u16)),
            DataElement::new(tags::STATUS, VR::US, PrimitiveValue::from(0x0110_u16)),
            DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, PrimitiveValue::from(0x0101_u16)),
        ]);
        let message = Message { command: Message::parse_command(&encoded(&command)).unwrap(), dataset: None };
        assert_eq!(message.command_field(), Some(0x8030));
        assert_eq!(message.status(), Some(0x0110));
        assert!(!message.has_dataset());
    }

    #[test]
    fn a_declared_length_past_the_answer_is_refused_at_once() {
        let huge = [0, 0, 0, 0x01, 0xf0, 0xff, 0xff, 0xff];
        assert_eq!(Message::parse_command(&huge).unwrap_err(), "the peer's command set is cut short");
        let data_element = [0x08, 0, 0x50, 0, 0, 0, 0, 0];
        assert!(Message::parse_command(&data_element).unwrap_err().contains("group 0008"));
    }

    proptest::proptest! {
        /// Fuzzing: any command set a peer sends is read or refused, never a panic.
        #[test]
        fn fuzz_command_sets_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(command) = Message::parse_command(&bytes) {
                let message = Message { command, dataset: None };
                let _ = (message.command_field(), message.status(), message.has_dataset());
            }
        }
    }
}
