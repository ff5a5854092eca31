//! The heartbeat: who notices when the morning check never ran?
//!
//! With `[settings] heartbeat = URL`, rounds tells a dead man's switch that it ran:
//! healthchecks.io's ping API (also self-hosted) gets `URL/start` when the run begins and
//! `URL/<exit code>` when it ends, with the summary as the body; an Uptime Kuma push monitor
//! (`.../api/push/<token>`) gets `?status=up|down&msg=<summary>&ping=<ms>` at the end. Each
//! ping has its own short timeout and one retry, and a heartbeat service that is down never
//! fails the run: it is said in one line. The URL is a secret and is never shown.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use crate::certs::{ClientSpec, Trust};

/// Per ping, by default: a heartbeat must never hold up the morning report.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// A refused or reset connection is tried once more; a timeout is not (it has cost enough).
const ATTEMPTS: u32 = 2;

/// Where to ping, and in which dialect.
#[derive(Clone)]
pub(crate) struct Heartbeat {
    url: Url,
    timeout: Duration,
}

impl std::fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Heartbeat(url not shown)")
    }
}

impl Heartbeat {
    pub fn new(url: Url, timeout: Duration) -> Self {
        Self { url, timeout }
    }

    fn is_uptime_kuma(&self) -> bool {
        self.url.path().contains("/api/push/")
    }

    /// `URL/start`, for healthchecks.io: it then also measures how long the run took.
    pub async fn start(&self) -> Option<String> {
        if self.is_uptime_kuma() {
            return None;
        }
        self.send(self.joined("start"), String::new()).await
    }

    /// `URL/<exit code>` with the summary, or Kuma's push with status and message.
    pub async fn finish(&self, exit_code: u8, summary: &str, took: Duration) -> Option<String> {
        if self.is_uptime_kuma() {
            let mut url = self.url.clone();
            url.query_pairs_mut()
                .clear()
                .append_pair("status", if exit_code == 0 { "up" } else { "down" })
                .append_pair("msg", summary)
                .append_pair("ping", &took.as_millis().to_string());
            return self.send(url, String::new()).await;
        }
        self.send(self.joined(&exit_code.to_string()), summary.to_owned()).await
    }

    fn joined(&self, last: &str) -> Url {
        let mut url = self.url.clone();
        let path = format!("{}/{last}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    /// Sends one ping; `Some(warning)` when it could not be delivered.
    async fn send(&self, url: Url, body: String) -> Option<String> {
        // The system's CAs, through the same verified rustls set-up as every HTTPS check.
        let trust = Arc::new(Trust::system());
        let timeout = self.timeout;
        let spec = ClientSpec { timeout: Some(timeout), ..ClientSpec::direct("heartbeat") };
        let client = match trust.http_client(&spec) {
            Ok((client, _)) => client,
            Err(e) => return Some(format!("heartbeat not sent: {e}")),
        };
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            let request = client.post(url.clone()).header("content-type", "text/plain").body(body.clone());
            match request.send().await {
                Ok(r) if r.status().is_success() => return None,
                Ok(r) => last = format!("the heartbeat service answered {}", r.status()),
                Err(e) if e.is_timeout() => {
                    last = format!("no answer in {}", crate::human::limit(self.timeout));
                    break;
                }
                // Without the URL: it is a secret.
                Err(e) => last = e.without_url().to_string(),
            }
        }
        Some(format!("heartbeat not delivered ({last}); the run itself is unaffected"))
    }
}
