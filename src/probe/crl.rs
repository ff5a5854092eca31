//! `check_revocation`: download the leaf's CRL over HTTP, bounded in size and time, and
//! judge it. An unreachable or unusable CRL is a warning, never a pass and never a failure
//! of the service itself: the service answered, only its revocation status is unknown.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::SystemTime;

use tokio::sync::OnceCell;

use rustls::pki_types::CertificateDer;

use crate::certs::{crl_urls, judge_crl, ClientSpec, Revocation, Trust};
use crate::human::date;
use crate::outcome::Status;
use crate::probe::kind::Budget;

/// Large public CAs shard their CRLs into a few MiB at most; more than this is not a CRL
/// worth waiting for, and a hostile server streaming without end costs no more than this.
const MAX_CRL_BYTES: usize = 16 * 1024 * 1024;

/// The CRLs downloaded in this run, by URL: the services of one CA share one CRL, which is
/// then fetched once however many checks need it. Only a download that worked is kept; after
/// a failure the next check that needs the CRL tries again, within its own time.
static DOWNLOADED: LazyLock<Mutex<HashMap<String, Arc<OnceCell<Crl>>>>> = LazyLock::new(Default::default);

/// A downloaded CRL (DER), shared by the checks that need it.
type Crl = Arc<Vec<u8>>;

/// The verdict on the served `chain`'s leaf, in words for the detail.
pub(crate) async fn revocation_verdict(
    trust: &Arc<Trust>,
    chain: &[CertificateDer<'static>],
    budget: Budget,
) -> (Status, String) {
    let Some(leaf) = chain.first() else {
        return (Status::Warn, "revocation not checked: no certificate".into());
    };
    let Some(url) = crl_urls(leaf).into_iter().next() else {
        return (Status::Warn, "revocation not checked: the certificate names no CRL distribution point".into());
    };
    let crl = match download_once(trust, &url, budget).await {
        Ok(crl) => crl,
        Err(why) => return (Status::Warn, format!("revocation not checked: CRL {url}: {why}")),
    };
    let issuers: Vec<CertificateDer<'static>> = chain[1..].iter().chain(trust.extra_cas()).cloned().collect();
    match judge_crl(&crl, leaf, &issuers, SystemTime::now()) {
        Revocation::NotRevoked { published } => (Status::Pass, format!("not revoked (CRL of {})", date(published))),
        Revocation::Revoked { on, reason } => {
            let reason = reason.map_or_else(String::new, |r| format!(" ({r})"));
            (Status::Fail, format!("certificate was REVOKED on {}{reason}: replace it", date(on)))
        }
        Revocation::Unknown(why) => (Status::Warn, format!("revocation not checked: {why}")),
    }
}

/// The CRL at `url`, from this run's downloads or fetched now.
async fn download_once(trust: &Arc<Trust>, url: &str, budget: Budget) -> Result<Crl, String> {
    let cell = match DOWNLOADED.lock() {
        Ok(mut downloaded) => downloaded.entry(url.to_owned()).or_default().clone(),
        Err(_) => Arc::new(OnceCell::new()),
    };
    let fetched = cell.get_or_try_init(|| async { download(trust, url, budget).await.map(Arc::new) });
    // Waiting on another check's download counts against this check's own time.
    match tokio::time::timeout_at(budget.step_deadline(), fetched).await {
        Ok(crl) => crl.cloned(),
        Err(_) => Err(format!("no answer in {}", budget.limit())),
    }
}

/// GETs `url` within the budget, refusing a body over [`MAX_CRL_BYTES`].
async fn download(trust: &Arc<Trust>, url: &str, budget: Budget) -> Result<Vec<u8>, String> {
    // Directly, whatever HTTP_PROXY says: the inventory names no proxy for CRLs.
    let (client, _) = trust.http_client(&ClientSpec::direct("CRL downloads"))?;
    let fetch = async {
        let mut response = client.get(url).send().await.map_err(|e| super::http::describe_reqwest(&e))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", super::http::status_text(response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| super::http::describe_reqwest(&e))? {
            if body.len() + chunk.len() > MAX_CRL_BYTES {
                return Err(format!("larger than {} MiB", MAX_CRL_BYTES / (1024 * 1024)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout_at(budget.step_deadline(), fetch)
        .await
        .unwrap_or_else(|_| Err(format!("no answer in {}", budget.limit())))
}
