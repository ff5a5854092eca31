//! HTTP security posture of an endpoint: headers that must be there, HSTS, and a redirect
//! from http:// to https://. Used by `[[endpoint]]`; reported in plain words ("missing
//! X-Content-Type-Options", "HSTS max-age is 30 days, at least 180 required").

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, HeaderName, STRICT_TRANSPORT_SECURITY};
use reqwest::Url;
use toml::Spanned;

use crate::config::{ConfigError, Loader};

/// HSTS shorter than this is not taken seriously by browsers' preload lists, nor by auditors.
const MIN_HSTS_SECONDS: u64 = 180 * 86_400;

/// What an endpoint's answer must show.
#[derive(Debug, Default, Clone)]
pub(crate) struct HeaderRules {
    /// Header, its name as written, and the value it must have (`None`: any, `"*"`).
    expect: Vec<(HeaderName, String, Option<String>)>,
    require_hsts: bool,
    require_https: bool,
}

impl HeaderRules {
    /// From `expect_headers`, `require_hsts` and `require_https`; `url` is the check's URL.
    pub fn from_table(
        loader: &Loader,
        expect: &BTreeMap<Spanned<String>, String>,
        require_hsts: bool,
        require_https: Option<&Spanned<bool>>,
        url: &Url,
    ) -> Result<Self, ConfigError> {
        let mut rules = HeaderRules { require_hsts, ..HeaderRules::default() };
        for (name, value) in expect {
            let header = HeaderName::from_bytes(name.get_ref().as_bytes())
                .map_err(|_| loader.error(name.span(), format!("{:?} is not a valid header name", name.get_ref())))?;
            rules.expect.push((header, name.get_ref().clone(), (value != "*").then(|| value.clone())));
        }
        if let Some(flag) = require_https.filter(|f| *f.get_ref()) {
            if url.scheme() != "http" {
                return Err(loader.error(
                    flag.span(),
                    "require_https checks an http:// URL redirects to https://; this URL is already https",
                ));
            }
            rules.require_https = true;
        }
        Ok(rules)
    }

    pub fn is_empty(&self) -> bool {
        self.expect.is_empty() && !self.require_hsts && !self.require_https
    }

    /// `Err(why)` names everything missing, in one line.
    pub fn judge(&self, headers: &HeaderMap, hops: &[Url]) -> Result<(), String> {
        let mut missing = Vec::new();
        if self.require_https {
            let first = hops.first();
            let last = hops.last();
            let upgraded = last.is_some_and(|l| l.scheme() == "https" && l.host_str() == first.and_then(Url::host_str));
            if !upgraded {
                missing.push("no redirect from http:// to https:// on the same host".to_owned());
            }
        }
        if self.require_hsts {
            match headers.get(STRICT_TRANSPORT_SECURITY).and_then(|v| v.to_str().ok()).map(max_age) {
                None => missing.push("no Strict-Transport-Security header".into()),
                Some(None) => missing.push("Strict-Transport-Security without a max-age".into()),
                Some(Some(age)) if age < MIN_HSTS_SECONDS => missing.push(format!(
                    "HSTS max-age is {} days, at least {} required",
                    age / 86_400,
                    MIN_HSTS_SECONDS / 86_400
                )),
                Some(Some(_)) => {}
            }
        }
        for (header, name, wanted) in &self.expect {
            let found = headers.get(header).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            match (found, wanted) {
                (None, _) => missing.push(format!("missing {name}")),
                (Some(found), Some(wanted)) if !found.eq_ignore_ascii_case(wanted) => {
                    missing.push(format!("{name} is {found:?}, expected {wanted:?}"))
                }
                _ => {}
            }
        }
        match missing.is_empty() {
            true => Ok(()),
            false => Err(missing.join("; ")),
        }
    }
}

/// `max-age` of a Strict-Transport-Security value, in seconds.
fn max_age(value: &str) -> Option<u64> {
    value.split(';').find_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case("max-age").then(|| value.trim().trim_matches('"').parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_max_age_is_read() {
        assert_eq!(max_age("max-age=31536000; includeSubDomains"), Some(31_536_000));
        assert_eq!(max_age("includeSubDomains; Max-Age=\"60\""), Some(60));
        assert_eq!(max_age("includeSubDomains"), None);
    }
}
