//! `[[dicom]]`: a PACS or modality answers DICOM Verification (C-ECHO), over TCP or TLS.
//!
//! The association and messages are `dimse`'s, shared with `[[worklist]]`.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use toml::Spanned;

use crate::config::values::Port;
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::Outcome;
use crate::probe::dimse::{self, peer_keys, DicomPeer};
use crate::probe::kind::{Budget, RunProbe};

const C_ECHO_RQ: u16 = 0x0030;
const C_ECHO_RSP: u16 = 0x8030;
const NO_DATA_SET: u16 = 0x0101;
const MESSAGE_ID: u16 = 1;
const SERVICE: &str = "Verification (C-ECHO)";

check_table! {
    /// `[[dicom]]` as written in the inventory.
    pub(crate) struct DicomTable with protocol_tls {
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
        let peer = DicomPeer::plan(loader, peer_keys!(self))?;
        loader.single(&common, peer.target(), DicomProbe { peer })
    }
}

#[derive(Debug)]
pub(crate) struct DicomProbe {
    pub peer: DicomPeer,
}

impl RunProbe for DicomProbe {
    fn kind(&self) -> &'static str {
        "dicom"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let start = tokio::time::Instant::now();
        let mut association = match self.peer.associate(uids::VERIFICATION, SERVICE, budget).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        if let Err(why) = association.send(&echo_request(MESSAGE_ID), None).await {
            return Outcome::fail(format!("sending C-ECHO failed: {why}"));
        }
        let status = association.receive().await.and_then(|answer| answer.status_of(C_ECHO_RSP, "C-ECHO-RSP"));
        let elapsed = human::duration(start.elapsed());
        let outcome = match status {
            Ok(0x0000) => Outcome::pass(format!("C-ECHO accepted by {} in {elapsed}", self.peer.called_ae)),
            Ok(code) => {
                Outcome::fail(format!("C-ECHO answered with status {code:#06x} ({})", dimse::status_meaning(code)))
            }
            Err(why) => Outcome::fail(why),
        };
        let outcome = association.with_certificate(outcome);
        match association.release().await {
            Err(why) if outcome.status.is_healthy() => {
                Outcome::warn(format!("{}, but the release failed: {why}", outcome.detail))
            }
            _ => outcome,
        }
    }
}

/// The C-ECHO-RQ command set (PS3.7 9.3.5).
fn echo_request(message_id: u16) -> InMemDicomObject {
    InMemDicomObject::command_from_element_iter([
        DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, PrimitiveValue::from(uids::VERIFICATION)),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(C_ECHO_RQ)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, PrimitiveValue::from(NO_DATA_SET)),
    ])
}
