//! `[[fhir]]`: a FHIR server answers `GET [base]/metadata` with an active CapabilityStatement.
//!
//! Built on the endpoint probe, so TLS, certificate days, redirects, timeouts and secrets in
//! headers behave exactly as they do for `[[endpoint]]`; only the body is judged differently.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::header::{HeaderValue, ACCEPT};
use serde_json::Value;
use toml::Spanned;

use crate::config::values::{HumanDuration, Size};
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::outcome::Outcome;
use crate::probe::endpoint::{Connection, EndpointProbe};
use crate::probe::http::{parse_headers, parse_url, BodyJudge};
use crate::probe::kind::{Budget, RunProbe};

/// CapabilityStatements of large servers run to a few MiB; more than this is not one.
const MAX_CAPABILITY_STATEMENT: u64 = 16 * 1024 * 1024;

check_table! {
    /// `[[fhir]]` as written in the inventory.
    pub(crate) struct FhirTable with certificate {
        /// The FHIR base URL, like "https://fhir.clinic.local/r4"; may use `${VAR}`.
        base: Spanned<String>,
        /// If set, CapabilityStatement.fhirVersion must equal it (e.g. "4.0.1").
        fhir_version: Option<String>,
        #[serde(default)]
        headers: BTreeMap<Spanned<String>, Spanned<String>>,
        /// "http://host:port" to go through a proxy, "env" for the environment's; default direct.
        proxy: Option<Spanned<String>>,
        warn_latency: Option<HumanDuration>,
        max_body: Option<Size>,
        /// A search that must return a Bundle, like "Patient?_count=1": /metadata can answer
        /// while the database behind the API is down.
        query: Option<Spanned<String>>,
        /// With `query`: at least this many matches (Bundle.total).
        min_total: Option<u64>,
        /// Also check `/.well-known/smart-configuration` (SMART on FHIR authorization).
        #[serde(default)]
        smart: bool,
    }
}

impl Table for FhirTable {
    type Probe = FhirProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<FhirProbe>>, ConfigError> {
        let common = self.common();
        let mut base = parse_url(loader, &self.base)?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let url =
            base.join("metadata").map_err(|e| loader.error(self.base.span(), format!("invalid base URL: {e}")))?;
        let (mut headers, secret_headers) = parse_headers(loader, &self.headers)?;
        headers.entry(ACCEPT).or_insert(HeaderValue::from_static("application/fhir+json"));
        let connection = Connection::plan(loader, self.certificate_keys(), self.proxy.as_ref())?;
        let probe = EndpointProbe::judged_get(
            url,
            (headers, secret_headers),
            (
                self.max_body.map_or(MAX_CAPABILITY_STATEMENT, |s| s.0),
                Arc::new(CapabilityStatement { fhir_version: self.fhir_version }),
            ),
            self.warn_latency.map(|d| d.0),
            connection,
        );
        let target = self.base.get_ref().clone();
        let query = match &self.query {
            Some(q) => {
                let url = base
                    .join(q.get_ref().trim().trim_start_matches('/'))
                    .map_err(|e| loader.error(q.span(), format!("invalid query: {e}")))?;
                let judge = Arc::new(SearchBundle { min_total: self.min_total });
                // The TLS versions are the server's: asked once, on /metadata.
                let search = EndpointProbe { url, body_judge: Some(judge), min_tls: None, ..probe.clone() };
                Some(Box::new((q.get_ref().clone(), search)))
            }
            None => None,
        };
        let smart = match self.smart {
            true => {
                let url = base
                    .join(".well-known/smart-configuration")
                    .map_err(|e| loader.error(self.base.span(), e.to_string()))?;
                let judge = Arc::new(SmartConfiguration);
                Some(Box::new(EndpointProbe { url, body_judge: Some(judge), min_tls: None, ..probe.clone() }))
            }
            false => None,
        };
        loader.single(&common, target, FhirProbe { metadata: probe, query, smart })
    }
}

/// A FHIR server: its `/metadata`, and optionally a search and its SMART configuration,
/// each an endpoint probe; reported as one check of kind "fhir".
#[derive(Debug)]
pub(crate) struct FhirProbe {
    metadata: EndpointProbe,
    /// The query as written, and its probe. Boxed, like `smart`: most FHIR checks have
    /// neither, and every check of every kind is as large as the largest kind's probe.
    query: Option<Box<(String, EndpointProbe)>>,
    smart: Option<Box<EndpointProbe>>,
}

impl RunProbe for FhirProbe {
    fn kind(&self) -> &'static str {
        "fhir"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let mut outcome = self.metadata.run(budget).await;
        let parts = [
            self.query.as_deref().map(|(q, p)| (format!("search {q}"), p)),
            self.smart.as_deref().map(|p| ("SMART configuration".to_owned(), p)),
        ];
        for (what, probe) in parts.into_iter().flatten() {
            if outcome.status.is_failure() {
                break;
            }
            let part = probe.run(budget).await;
            outcome = Outcome {
                status: outcome.status.worst(part.status),
                detail: format!("{}; {what}: {}", outcome.detail, part.detail),
                facts: outcome.facts,
            };
        }
        outcome
    }
}

/// A search answer: a Bundle, with at least `min_total` matches if asked.
#[derive(Debug)]
struct SearchBundle {
    min_total: Option<u64>,
}

impl BodyJudge for SearchBundle {
    fn judge(&self, body: &[u8]) -> Result<Option<String>, String> {
        let doc: Value = serde_json::from_slice(body).map_err(|_| "the search answer is not JSON".to_owned())?;
        match doc["resourceType"].as_str() {
            Some("Bundle") => {}
            Some("OperationOutcome") => return Err(format!("the search failed: {}", outcome_text(&doc))),
            other => return Err(format!("the search answered {:?}, not a Bundle", other.unwrap_or("no resourceType"))),
        }
        let total = doc["total"].as_u64();
        let entries = doc["entry"].as_array().map_or(0, Vec::len) as u64;
        let matches = total.unwrap_or(entries);
        if let Some(min) = self.min_total.filter(|m| matches < *m) {
            return Err(format!("the search found {matches}, at least {min} expected"));
        }
        Ok(Some(match total {
            Some(t) => format!("Bundle, {t} matches"),
            None => format!("Bundle, {entries} entries"),
        }))
    }

    fn explain_error(&self, body: &[u8]) -> Option<String> {
        let doc: Value = serde_json::from_slice(body).ok()?;
        let text = (doc["resourceType"] == "OperationOutcome").then(|| outcome_text(&doc))?;
        (text != NO_DIAGNOSTICS).then_some(text)
    }
}

/// `/.well-known/smart-configuration`: the authorization and token endpoints must be there.
#[derive(Debug)]
struct SmartConfiguration;

impl BodyJudge for SmartConfiguration {
    fn judge(&self, body: &[u8]) -> Result<Option<String>, String> {
        let doc: Value = serde_json::from_slice(body).map_err(|_| "the SMART configuration is not JSON".to_owned())?;
        let missing: Vec<&str> = ["authorization_endpoint", "token_endpoint"]
            .into_iter()
            .filter(|k| doc[*k].as_str().is_none_or(str::is_empty))
            .collect();
        match missing.is_empty() {
            true => Ok(Some("authorization and token endpoints present".into())),
            false => Err(format!("the SMART configuration has no {}", missing.join(" or "))),
        }
    }
}

/// What a healthy `/metadata` answer looks like.
#[derive(Debug)]
struct CapabilityStatement {
    fhir_version: Option<String>,
}

impl BodyJudge for CapabilityStatement {
    fn explain_error(&self, body: &[u8]) -> Option<String> {
        let doc: Value = serde_json::from_slice(body).ok()?;
        let text = (doc["resourceType"] == "OperationOutcome").then(|| outcome_text(&doc))?;
        (text != NO_DIAGNOSTICS).then_some(text)
    }

    fn judge(&self, body: &[u8]) -> Result<Option<String>, String> {
        let doc: Value =
            serde_json::from_slice(body).map_err(|_| "the answer is not JSON (is this a FHIR base URL?)".to_owned())?;
        let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
        match doc["resourceType"].as_str() {
            Some("CapabilityStatement") => {}
            Some("OperationOutcome") => {
                return Err(format!("the server answered with an error: {}", outcome_text(&doc)))
            }
            Some(other) => return Err(format!("resourceType is {other:?}, expected \"CapabilityStatement\"")),
            None => return Err("the answer has no resourceType (is this a FHIR base URL?)".into()),
        }
        let status = text(&doc["status"]);
        if status != "active" {
            return Err(format!("CapabilityStatement status is {status:?}, expected \"active\""));
        }
        let version = text(&doc["fhirVersion"]);
        if let Some(wanted) = self.fhir_version.as_ref().filter(|w| **w != version) {
            return Err(format!("FHIR version is {version:?}, expected {wanted:?}"));
        }
        let software = [text(&doc["software"]["name"]), text(&doc["software"]["version"])].join(" ");
        let software = match software.trim() {
            "" => text(&doc["implementation"]["description"]),
            s => s.to_owned(),
        };
        let software = if software.is_empty() { "unnamed server".to_owned() } else { software };
        Ok(Some(format!("{software}, FHIR {version}")))
    }
}

const NO_DIAGNOSTICS: &str = "OperationOutcome without diagnostics";

/// The diagnostics of an OperationOutcome, which is how FHIR servers explain errors.
fn outcome_text(doc: &Value) -> String {
    let issues = doc["issue"].as_array().map(Vec::as_slice).unwrap_or_default();
    let texts: Vec<&str> =
        issues.iter().filter_map(|i| i["diagnostics"].as_str().or(i["details"]["text"].as_str())).collect();
    if texts.is_empty() {
        NO_DIAGNOSTICS.into()
    } else {
        texts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(body: &str, version: Option<&str>) -> Result<Option<String>, String> {
        CapabilityStatement { fhir_version: version.map(str::to_owned) }.judge(body.as_bytes())
    }

    #[test]
    fn names_software_and_version() {
        let body = r#"{"resourceType":"CapabilityStatement","status":"active","fhirVersion":"4.0.1",
            "software":{"name":"HAPI FHIR Server","version":"7.4.0"}}"#;
        assert_eq!(judge(body, Some("4.0.1")), Ok(Some("HAPI FHIR Server 7.4.0, FHIR 4.0.1".into())));
        assert_eq!(judge(body, Some("5.0.0")), Err("FHIR version is \"4.0.1\", expected \"5.0.0\"".into()));
    }

    #[test]
    fn explains_what_is_wrong() {
        assert!(judge("<html>", None).unwrap_err().contains("not JSON"));
        let patient = r#"{"resourceType":"Patient"}"#;
        assert_eq!(judge(patient, None), Err("resourceType is \"Patient\", expected \"CapabilityStatement\"".into()));
        let draft = r#"{"resourceType":"CapabilityStatement","status":"draft"}"#;
        assert!(judge(draft, None).unwrap_err().contains("status is \"draft\""));
        let error = r#"{"resourceType":"OperationOutcome","issue":[{"diagnostics":"database offline"}]}"#;
        assert_eq!(judge(error, None), Err("the server answered with an error: database offline".into()));
    }

    proptest::proptest! {
        /// Fuzzing: any metadata answer is judged without a panic, JSON-shaped ones too.
        #[test]
        fn fuzz_capability_statements_never_panic(
            body in ".{0,300}",
            kind in proptest::option::of("[A-Za-z]{0,20}"),
            status in proptest::option::of(".{0,10}"),
        ) {
            let _ = judge(&body, None);
            let doc = serde_json::json!({"resourceType": kind, "status": status, "issue": [{"diagnostics": body}]});
            let _ = judge(&doc.to_string(), Some("4.0.1"));
        }
    }
}
