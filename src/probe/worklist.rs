//! `[[worklist]]`: the Modality Worklist answers a C-FIND for today's scheduled procedure
//! steps, optionally for one modality and station, with at least `min_items` of them.
//!
//! A kind of its own rather than a key on `[[dicom]]`: the worklist is usually served by a
//! different AE (the RIS or a broker) than the PACS that answers C-ECHO, it fails in its own
//! ways (an empty list at 7:00 is news even when every association works), and a separate
//! check can `depends_on` the echo. The association and messages are `dimse`'s.
//!
//! The query asks only for scheduling keys (modality, station, date, time, step id): no
//! patient name or id is requested, so none comes back to be handled.

use dicom_core::value::DataSetSequence;
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

const C_FIND_RQ: u16 = 0x0020;
const C_FIND_RSP: u16 = 0x8020;
const DATA_SET_PRESENT: u16 = 0x0000;
const MEDIUM_PRIORITY: u16 = 0x0000;
const MESSAGE_ID: u16 = 1;
const SERVICE: &str = "Modality Worklist (C-FIND)";

check_table! {
    /// `[[worklist]]` as written in the inventory.
    pub(crate) struct WorklistTable with protocol_tls {
        host: Spanned<String>,
        port: Port,
        /// The worklist SCP's AE title; default "ANY-SCP".
        called_ae: Option<Spanned<String>>,
        /// Ours; default "ROUNDS". Most worklist servers answer only AE titles they know.
        calling_ae: Option<Spanned<String>>,
        /// Only steps for this modality ("CT", "MR", "US").
        modality: Option<Spanned<String>>,
        /// Only steps scheduled on this station (Scheduled Station AE Title).
        station_ae: Option<Spanned<String>>,
        /// Fewer procedures scheduled today fails the check; default 0 (an answer is enough).
        #[serde(default)]
        min_items: u32,
    }
}

impl Table for WorklistTable {
    type Probe = WorklistProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<WorklistProbe>>, ConfigError> {
        let common = self.common();
        let modality = match &self.modality {
            Some(m) => Some(code_string(loader, m, "modality is a DICOM modality code, like \"CT\" or \"MR\"")?),
            None => None,
        };
        let station_ae = match &self.station_ae {
            Some(s) => Some(dimse::ae_title(loader, Some(s), "")?),
            None => None,
        };
        let peer = DicomPeer::plan(loader, peer_keys!(self))?;
        let probe = WorklistProbe { modality, station_ae, min_items: self.min_items, peer };
        loader.single(&common, probe.peer.target(), probe)
    }
}

/// A Code String: up to 16 capitals, digits, spaces and underscores.
fn code_string(loader: &Loader, value: &Spanned<String>, why: &str) -> Result<String, ConfigError> {
    let code = value.get_ref().trim();
    let valid = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == ' ';
    if code.is_empty() || code.len() > 16 || !code.chars().all(valid) {
        return Err(loader.error(value.span(), why));
    }
    Ok(code.to_owned())
}

#[derive(Debug)]
pub(crate) struct WorklistProbe {
    pub peer: DicomPeer,
    pub modality: Option<String>,
    pub station_ae: Option<String>,
    pub min_items: u32,
}

impl RunProbe for WorklistProbe {
    fn kind(&self) -> &'static str {
        "worklist"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let start = tokio::time::Instant::now();
        let mut association =
            match self.peer.associate(uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND, SERVICE, budget).await {
                Ok(a) => a,
                Err(outcome) => return outcome,
            };
        let today = jiff::tz::TimeZone::system().to_datetime(jiff::Timestamp::now()).date();
        let query = self.identifier(&today.strftime("%Y%m%d").to_string());
        let counted = match association.send(&find_request(MESSAGE_ID), Some(&query)).await {
            Ok(()) => count_answers(&mut association).await,
            Err(why) => Err(format!("sending the worklist query failed: {why}")),
        };
        let elapsed = human::duration(start.elapsed());
        let outcome = match counted {
            Ok(items) => self.judge(items, &elapsed),
            Err(why) => Outcome::fail(why),
        };
        let outcome = association.with_certificate(outcome);
        // The answer is complete before the release; a failed release changes nothing.
        let _ = association.release().await;
        outcome
    }
}

impl WorklistProbe {
    /// The C-FIND identifier: one Scheduled Procedure Step item matching today's date (and
    /// the modality and station, when given), with empty return keys for time and step id.
    fn identifier(&self, date: &str) -> InMemDicomObject {
        let text = |tag, vr, value: &str| DataElement::new(tag, vr, PrimitiveValue::from(value));
        let step = InMemDicomObject::from_element_iter([
            text(tags::MODALITY, VR::CS, self.modality.as_deref().unwrap_or("")),
            text(tags::SCHEDULED_STATION_AE_TITLE, VR::AE, self.station_ae.as_deref().unwrap_or("")),
            text(tags::SCHEDULED_PROCEDURE_STEP_START_DATE, VR::DA, date),
            text(tags::SCHEDULED_PROCEDURE_STEP_START_TIME, VR::TM, ""),
            text(tags::SCHEDULED_PROCEDURE_STEP_ID, VR::SH, ""),
        ]);
        InMemDicomObject::from_element_iter([DataElement::new(
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![step]),
        )])
    }

    /// "for CT on CT01", "for CT", or nothing when the query is for every step today.
    fn scope(&self) -> String {
        match (&self.modality, &self.station_ae) {
            (Some(m), Some(s)) => format!(" for {m} on {s}"),
            (Some(m), None) => format!(" for {m}"),
            (None, Some(s)) => format!(" on {s}"),
            (None, None) => String::new(),
        }
    }

    fn judge(&self, items: u32, elapsed: &str) -> Outcome {
        let scheduled = match items {
            1 => "1 procedure scheduled".to_owned(),
            n => format!("{n} procedures scheduled"),
        };
        let scope = self.scope();
        if items < self.min_items {
            return Outcome::fail(format!(
                "worklist answered in {elapsed}, but only {scheduled} today{scope} (at least {} expected)",
                self.min_items
            ));
        }
        Outcome::pass(format!("worklist answered in {elapsed}: {scheduled} today{scope}"))
    }
}

/// The C-FIND-RQ command set (PS3.7 9.3.2.1).
fn find_request(message_id: u16) -> InMemDicomObject {
    let number = |tag, value: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(value));
    InMemDicomObject::command_from_element_iter([
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND),
        ),
        number(tags::COMMAND_FIELD, C_FIND_RQ),
        number(tags::MESSAGE_ID, message_id),
        number(tags::PRIORITY, MEDIUM_PRIORITY),
        number(tags::COMMAND_DATA_SET_TYPE, DATA_SET_PRESENT),
    ])
}

/// Reads C-FIND responses up to the final one: each pending response (0xFF00, 0xFF01) is
/// one scheduled step; the final status must be success. Items are counted, never kept.
async fn count_answers(association: &mut dimse::Association) -> Result<u32, String> {
    let mut items = 0u32;
    loop {
        match association.receive().await?.status_of(C_FIND_RSP, "C-FIND-RSP")? {
            0xFF00 | 0xFF01 => items = items.saturating_add(1),
            0x0000 => return Ok(items),
            code => {
                return Err(format!(
                    "the worklist query failed with status {code:#06x} ({})",
                    dimse::status_meaning(code)
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;

    use super::*;

    fn probe(modality: Option<&str>, station: Option<&str>, min_items: u32) -> WorklistProbe {
        WorklistProbe {
            peer: DicomPeer {
                host: "ris.clinic.local".into(),
                port: 104,
                called_ae: "RIS".into(),
                calling_ae: "ROUNDS".into(),
                tls: None,
            },
            modality: modality.map(str::to_owned),
            station_ae: station.map(str::to_owned),
            min_items,
        }
    }

    #[test]
    fn the_identifier_asks_for_today_and_no_patient_data() {
        let query = probe(Some("CT"), Some("CT01"), 0).identifier("20261125");
        let mut bytes = Vec::new();
        query.write_dataset_with_ts(&mut bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased()).unwrap();
        let read =
            InMemDicomObject::read_dataset_with_ts(bytes.as_slice(), &IMPLICIT_VR_LITTLE_ENDIAN.erased()).unwrap();
        let items = read.get(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE).unwrap().items().unwrap();
        let step = &items[0];
        let text = |tag| step.get(tag).unwrap().to_str().unwrap().trim().to_owned();
        assert_eq!(text(tags::MODALITY), "CT");
        assert_eq!(text(tags::SCHEDULED_STATION_AE_TITLE), "CT01");
        assert_eq!(text(tags::SCHEDULED_PROCEDURE_STEP_START_DATE), "20261125");
        assert!(read.get(tags::PATIENT_NAME).is_none() && read.get(tags::PATIENT_ID).is_none());
    }

    #[test]
    fn details_name_the_count_and_the_scope() {
        assert_eq!(
            probe(Some("CT"), None, 0).judge(12, "40 ms").detail,
            "worklist answered in 40 ms: 12 procedures scheduled today for CT"
        );
        assert_eq!(
            probe(None, Some("CT01"), 0).judge(1, "40 ms").detail,
            "worklist answered in 40 ms: 1 procedure scheduled today on CT01"
        );
        let short = probe(Some("MR"), Some("MR1"), 2).judge(0, "9 ms");
        assert_eq!(short.status, crate::outcome::Status::Fail);
        assert_eq!(
            short.detail,
            "worklist answered in 9 ms, but only 0 procedures scheduled today for MR on MR1 (at least 2 expected)"
        );
    }
}
