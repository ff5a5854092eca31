//! `[[snmp]]`: switch ports, printers and UPS network cards that speak only SNMP, read
//! with SNMPv2c (a community) or SNMPv3 (a USM user, with authentication and privacy).
//!
//! SNMP itself (BER, the PDUs, USM's keys, digests and ciphers) comes from the
//! `async-snmp` crate, which is tested against net-snmp's agent; rounds' own tests prove
//! v2c and v3 authPriv against the real `snmpd`. What rounds adds is the profiles: which
//! objects to read for a switch port (IF-MIB), a printer (Printer-MIB and
//! HOST-RESOURCES-MIB) or a UPS (UPS-MIB, RFC 1628), and their meaning in words. Every walk
//! is bounded ([`MAX_ROWS`]) and everything runs inside the check's budget.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_snmp::{
    Auth, AuthProtocol, Client, DesSaltState, Oid, PersistedDesSaltState, PrivProtocol, Retry, UdpHandle, UsmConfig,
    Value, VarBind, WalkOptions,
};
use serde::Deserialize;
use toml::Spanned;

use crate::config::values::{HumanDuration, Port};
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::{Outcome, Status};
use crate::probe::kind::{Budget, RunProbe};

/// SNMP's port (IANA "snmp").
pub(crate) const DEFAULT_PORT: u16 = 161;
/// Rows one walk may return: a chassis switch has a few thousand interfaces, a printer a
/// dozen supplies. More is a broken agent, not a device.
const MAX_ROWS: usize = 4096;
/// Peer text (descriptions, aliases, values) is cut to this many characters.
const MAX_TEXT: usize = 80;
/// Interfaces named in the detail when one is not found.
const CLOSEST: usize = 3;

check_table! {
    /// `[[snmp]]` as written in the inventory.
    pub(crate) struct SnmpTable {
        /// The device: a host name or address.
        host: Spanned<String>,
        /// 161 unless given.
        port: Option<Port>,
        /// "2c" (a community, the default) or "3" (a USM user).
        version: Option<Spanned<String>>,
        /// SNMPv2c's community: a secret; use `${VAR}`.
        community: Option<Spanned<String>>,
        /// SNMPv3: the USM user, its authentication and privacy protocols and passwords.
        user: Option<Spanned<String>>,
        auth: Option<Spanned<String>>,
        auth_password: Option<Spanned<String>>,
        privacy: Option<Spanned<String>>,
        privacy_password: Option<Spanned<String>>,
        /// What the device is: "interface", "printer" or "ups".
        profile: Option<Spanned<String>>,
        /// `profile = "interface"`: the ports, by ifName or ifDescr.
        interfaces: Option<Spanned<Vec<Spanned<String>>>>,
        /// Raw gets: `{ oid = "1.3.6.1.2.1.1.3.0", min = 1 }`.
        oids: Option<Spanned<Vec<OidWritten>>>,
        /// `profile = "printer"`: supplies below these shares warn / fail (as on [[printer]]).
        warn_level: Option<Spanned<String>>,
        min_level: Option<Spanned<String>>,
        /// `profile = "ups"`: as on [[ups]].
        min_charge: Option<Spanned<String>>,
        warn_charge: Option<Spanned<String>>,
        min_runtime: Option<Spanned<HumanDuration>>,
    }
}

/// One raw get as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OidWritten {
    oid: Spanned<String>,
    equals: Option<Spanned<toml::Value>>,
    min: Option<Spanned<toml::Value>>,
    max: Option<Spanned<toml::Value>>,
}

impl Table for SnmpTable {
    type Probe = SnmpProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<SnmpProbe>>, ConfigError> {
        let common = self.common();
        let written = loader.host(&self.host)?;
        let host = written.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(&written).to_owned();
        let is_ipv6 = host.parse::<std::net::Ipv6Addr>().is_ok();
        if host.contains(['/', ' ']) || (host.contains(':') && !is_ipv6) {
            return Err(loader
                .error(self.host.span(), "host is a host name or address, like \"sw-core\" (the port goes in port)"));
        }
        let credentials = self.credentials(loader)?;
        let profile = self.profile(loader)?;
        let oids = match &self.oids {
            Some(list) if list.get_ref().is_empty() => {
                return Err(loader.error(list.span(), "oids needs at least one { oid = \"1.3.6...\" }"))
            }
            Some(list) => list.get_ref().iter().map(|w| OidCheck::plan(loader, w)).collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        if profile.is_none() && oids.is_empty() {
            return Err(loader.error(
                self.host.span(),
                "give profile = \"interface\", \"printer\" or \"ups\", or oids = [{ oid = \"1.3.6...\" }]",
            ));
        }
        let port = self.port.map_or(DEFAULT_PORT, |p| p.0);
        let target = if is_ipv6 { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        loader.single(&common, target, SnmpProbe { host, port, credentials, profile, oids })
    }
}

impl SnmpTable {
    /// The community, or the USM user with its protocols and passwords.
    fn credentials(&self, loader: &mut Loader) -> Result<Credentials, ConfigError> {
        let version = self.version.as_ref().map_or("2c", |v| v.get_ref().trim());
        let v3_keys = [("user", &self.user), ("auth", &self.auth), ("auth_password", &self.auth_password)]
            .into_iter()
            .chain([("privacy", &self.privacy), ("privacy_password", &self.privacy_password)]);
        match version {
            "2c" => {
                if let Some((key, Some(value))) = v3_keys.into_iter().find(|(_, v)| v.is_some()) {
                    let why = format!("{key} is for SNMPv3: write version = \"3\", or leave it out for v2c");
                    return Err(loader.error(value.span(), why));
                }
                let Some(community) = &self.community else {
                    return Err(loader.error(
                        self.version.as_ref().map_or(self.host.span(), Spanned::span),
                        "SNMPv2c needs community = \"${SNMP_COMMUNITY}\" (or version = \"3\" with a user)",
                    ));
                };
                let community = secret(loader, "community", community)?;
                Ok(Credentials::V2c { community })
            }
            "3" => {
                if let Some(c) = &self.community {
                    return Err(loader.error(c.span(), "community is for SNMPv2c; SNMPv3 uses user and its passwords"));
                }
                let Some(user_written) = &self.user else {
                    let span = self.version.as_ref().map_or(self.host.span(), Spanned::span);
                    return Err(loader.error(span, "SNMPv3 needs user = \"...\" (the USM user on the device)"));
                };
                let user = user_written.get_ref().trim().to_owned();
                if user.is_empty() || user.len() > 32 || user.chars().any(char::is_control) {
                    return Err(loader.error(user_written.span(), "user is the USM user name, 1 to 32 characters"));
                }
                let security = self.security(loader)?;
                Ok(Credentials::V3 { user, security })
            }
            _ => Err(loader.error(
                self.version.as_ref().map_or(self.host.span(), Spanned::span),
                "version is \"2c\" or \"3\" (SNMPv1 is not supported)",
            )),
        }
    }

    /// SNMPv3's security level from auth and privacy and their passwords.
    fn security(&self, loader: &mut Loader) -> Result<Security, ConfigError> {
        let auth = match (&self.auth, &self.auth_password) {
            (None, None) => None,
            (Some(a), None) => return Err(loader.error(a.span(), "auth needs auth_password = \"${SNMP_AUTH}\"")),
            (None, Some(p)) => {
                return Err(loader.error(p.span(), "auth_password needs auth = \"sha256\" (or md5, sha, sha224...)"))
            }
            (Some(a), Some(p)) => {
                let protocol = auth_protocol(a.get_ref()).map_err(|why| loader.error(a.span(), why))?;
                Some((protocol, usm_password(loader, "auth_password", p)?))
            }
        };
        let privacy = match (&self.privacy, &self.privacy_password) {
            (None, None) => None,
            (Some(p), _) | (None, Some(p)) if auth.is_none() => {
                return Err(loader.error(
                    p.span(),
                    "privacy needs authentication too: give auth and auth_password (SNMPv3 has no privacy without it)",
                ))
            }
            (Some(p), None) => return Err(loader.error(p.span(), "privacy needs privacy_password = \"${SNMP_PRIV}\"")),
            (None, Some(p)) => {
                return Err(loader.error(p.span(), "privacy_password needs privacy = \"aes128\" (or des, aes256...)"))
            }
            (Some(p), Some(pw)) => {
                let protocol = privacy_protocol(p.get_ref()).map_err(|why| loader.error(p.span(), why))?;
                Some((protocol, usm_password(loader, "privacy_password", pw)?))
            }
        };
        Ok(match (auth, privacy) {
            (None, _) => Security::NoAuth,
            (Some((a, ap)), None) => Security::Auth(a, ap),
            (Some((a, ap)), Some((p, pp))) => Security::AuthPriv(a, ap, p, pp),
        })
    }

    /// The profile and its own keys; keys of another profile are refused where they stand.
    fn profile(&self, loader: &Loader) -> Result<Option<Profile>, ConfigError> {
        let name = self.profile.as_ref().map(|p| p.get_ref().trim());
        let others: [(&str, &str, Option<std::ops::Range<usize>>); 6] = [
            ("interfaces", "interface", self.interfaces.as_ref().map(Spanned::span)),
            ("warn_level", "printer", self.warn_level.as_ref().map(Spanned::span)),
            ("min_level", "printer", self.min_level.as_ref().map(Spanned::span)),
            ("min_charge", "ups", self.min_charge.as_ref().map(Spanned::span)),
            ("warn_charge", "ups", self.warn_charge.as_ref().map(Spanned::span)),
            ("min_runtime", "ups", self.min_runtime.as_ref().map(Spanned::span)),
        ];
        if let Some((key, owner, Some(span))) =
            others.into_iter().find(|(_, owner, span)| span.is_some() && name != Some(*owner))
        {
            return Err(loader.error(span, format!("{key} belongs to profile = \"{owner}\"")));
        }
        let profile = match name {
            None => return Ok(None),
            Some("interface") => {
                let missing = "profile = \"interface\" needs interfaces = [\"Gi1/0/24\"] (by ifName or ifDescr)";
                let Some(list) = &self.interfaces else {
                    return Err(loader.error(self.profile.as_ref().map(Spanned::span).unwrap_or_default(), missing));
                };
                if list.get_ref().is_empty() {
                    return Err(loader.error(list.span(), missing));
                }
                let mut names = Vec::new();
                for name in list.get_ref() {
                    let trimmed = name.get_ref().trim();
                    if trimmed.is_empty() {
                        return Err(loader.error(name.span(), "an interface name cannot be empty"));
                    }
                    names.push(trimmed.to_owned());
                }
                Profile::Interface { names }
            }
            Some("printer") => {
                let share = |key: &Option<Spanned<String>>| match key {
                    None => Ok(None),
                    Some(s) => {
                        super::printer::level_share(s.get_ref()).map(Some).map_err(|why| loader.error(s.span(), why))
                    }
                };
                let warn = share(&self.warn_level)?;
                let min = share(&self.min_level)?;
                if let (Some(min), Some(warn), Some(w)) = (min, warn, &self.warn_level) {
                    if warn < min {
                        let why = format!("warn_level ({warn}%) is below min_level ({min}%): it would never warn");
                        return Err(loader.error(w.span(), why));
                    }
                }
                Profile::Printer(SupplyLimits {
                    warn: warn.unwrap_or(super::printer::DEFAULT_WARN_LEVEL),
                    min: min.unwrap_or(0.0),
                })
            }
            Some("ups") => {
                let share = |key: &Option<Spanned<String>>| match key {
                    None => Ok(None),
                    Some(s) => {
                        super::ups::charge_share(s.get_ref()).map(Some).map_err(|why| loader.error(s.span(), why))
                    }
                };
                let min_charge = share(&self.min_charge)?;
                let warn_charge = share(&self.warn_charge)?;
                if let (Some(min), Some(warn), Some(w)) = (min_charge, warn_charge, &self.warn_charge) {
                    if warn < min {
                        let why = format!("warn_charge ({warn}%) is below min_charge ({min}%): it would never warn");
                        return Err(loader.error(w.span(), why));
                    }
                }
                let min_runtime = self.min_runtime.as_ref().map(|d| d.get_ref().0);
                Profile::Ups(UpsLimits { min_charge, warn_charge, min_runtime })
            }
            Some(_) => {
                return Err(loader.error(
                    self.profile.as_ref().map(Spanned::span).unwrap_or_default(),
                    "profile is \"interface\", \"printer\" or \"ups\" (or leave it out and give oids)",
                ))
            }
        };
        Ok(Some(profile))
    }
}

/// A secret key's value: `${VAR}` or written; remembered as a secret either way, so the
/// cleaning step hides it wherever it shows. Never quoted in an error.
fn secret(loader: &mut Loader, key: &str, raw: &Spanned<String>) -> Result<String, ConfigError> {
    let value = loader.expand_secret(key, raw)?;
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(loader.error(raw.span(), format!("{key} is empty or holds a line break or control character")));
    }
    Ok(value)
}

/// A USM password: a secret, and 8 characters at least (RFC 3414 11.2; net-snmp refuses
/// shorter ones too). A `${VAR}` that is not set is reported as such, not as too short.
fn usm_password(loader: &mut Loader, key: &str, raw: &Spanned<String>) -> Result<String, ConfigError> {
    let missing = loader.missing().len();
    let value = secret(loader, key, raw)?;
    if loader.missing().len() == missing && value.len() < 8 {
        return Err(loader.error(raw.span(), format!("{key} must be at least 8 characters (RFC 3414)")));
    }
    Ok(value)
}

fn auth_protocol(text: &str) -> Result<AuthProtocol, &'static str> {
    Ok(match text.trim().to_ascii_lowercase().replace('-', "").as_str() {
        "md5" => AuthProtocol::Md5,
        "sha" | "sha1" => AuthProtocol::Sha1,
        "sha224" => AuthProtocol::Sha224,
        "sha256" => AuthProtocol::Sha256,
        "sha384" => AuthProtocol::Sha384,
        "sha512" => AuthProtocol::Sha512,
        _ => return Err("auth is md5, sha, sha224, sha256, sha384 or sha512"),
    })
}

/// The privacy protocols as net-snmp names them: `aes192`/`aes256` extend the key as
/// Blumenthal's draft does (net-snmp's AES-192/AES-256), `aes192c`/`aes256c` as Reeder's
/// (net-snmp's AES-192-C/AES-256-C, Cisco's).
fn privacy_protocol(text: &str) -> Result<PrivProtocol, &'static str> {
    Ok(match text.trim().to_ascii_lowercase().replace('-', "").as_str() {
        "des" => PrivProtocol::Des,
        "aes" | "aes128" => PrivProtocol::Aes128,
        "aes192" => PrivProtocol::Aes192Blumenthal,
        "aes256" => PrivProtocol::Aes256Blumenthal,
        "aes192c" => PrivProtocol::Aes192Reeder,
        "aes256c" => PrivProtocol::Aes256Reeder,
        _ => return Err("privacy is des, aes128, aes192, aes256, aes192c or aes256c"),
    })
}

/// How rounds proves who it is.
enum Credentials {
    V2c { community: String },
    V3 { user: String, security: Security },
}

/// SNMPv3's security level, with the passwords.
enum Security {
    NoAuth,
    Auth(AuthProtocol, String),
    AuthPriv(AuthProtocol, String, PrivProtocol, String),
}

#[derive(Debug)]
enum Profile {
    Interface { names: Vec<String> },
    Printer(SupplyLimits),
    Ups(UpsLimits),
}

#[derive(Debug, Clone, Copy)]
struct SupplyLimits {
    warn: f64,
    min: f64,
}

#[derive(Debug, Clone, Copy)]
struct UpsLimits {
    min_charge: Option<f64>,
    warn_charge: Option<f64>,
    min_runtime: Option<Duration>,
}

/// One raw get and what its value must be.
#[derive(Debug)]
struct OidCheck {
    oid: Oid,
    text: String,
    equals: Option<Expected>,
    min: Option<f64>,
    max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
enum Expected {
    Text(String),
    Number(f64),
}

impl OidCheck {
    fn plan(loader: &Loader, written: &OidWritten) -> Result<Self, ConfigError> {
        let raw = written.oid.get_ref().trim();
        let text = raw.strip_prefix('.').unwrap_or(raw);
        let valid = text.split('.').count() >= 2 && text.split('.').all(|a| !a.is_empty() && a.parse::<u32>().is_ok());
        let oid = match Oid::parse(text) {
            Ok(oid) if valid && oid.validate().is_ok() => oid,
            _ => {
                return Err(loader.error(
                    written.oid.span(),
                    "oid is numeric, like \"1.3.6.1.2.1.1.3.0\" (rounds reads no MIB files, so no names)",
                ))
            }
        };
        let number = |key: &Option<Spanned<toml::Value>>| -> Result<Option<f64>, ConfigError> {
            match key.as_ref().map(|k| (k.get_ref(), k.span())) {
                None => Ok(None),
                Some((toml::Value::Integer(i), _)) => Ok(Some(*i as f64)),
                Some((toml::Value::Float(f), _)) if f.is_finite() => Ok(Some(*f)),
                Some((_, span)) => Err(loader.error(span, "min and max are numbers")),
            }
        };
        let equals = match written.equals.as_ref().map(|e| (e.get_ref(), e.span())) {
            None => None,
            Some((toml::Value::String(s), _)) => Some(Expected::Text(s.clone())),
            Some((toml::Value::Integer(i), _)) => Some(Expected::Number(*i as f64)),
            Some((toml::Value::Float(f), _)) if f.is_finite() => Some(Expected::Number(*f)),
            Some((_, span)) => return Err(loader.error(span, "equals is a string or a number")),
        };
        let (min, max) = (number(&written.min)?, number(&written.max)?);
        if let (Some(min), Some(max)) = (min, max) {
            if min > max {
                return Err(loader.error(written.oid.span(), "min is above max: no value could hold"));
            }
        }
        Ok(Self { oid, text: text.to_owned(), equals, min, max })
    }

    /// The value's verdict and words.
    fn judge(&self, value: Option<&Value>) -> (Status, String) {
        let oid = &self.text;
        let Some(value) = value else {
            return (Status::Fail, format!("{oid}: the agent did not return it"));
        };
        if let Some(why) = exception_words(value) {
            return (Status::Fail, format!("{oid}: {why}"));
        }
        let shown = value_text(value);
        let number = value_number(value);
        if let Some(expected) = &self.equals {
            let holds = match expected {
                Expected::Text(t) => shown == *t || value_raw_text(value).is_some_and(|r| r == *t),
                Expected::Number(n) => number == Some(*n),
            };
            if !holds {
                let want = match expected {
                    Expected::Text(t) => format!("{t:?}"),
                    Expected::Number(n) => trim_number(*n),
                };
                return (Status::Fail, format!("{oid} = {shown}, expected {want}"));
            }
        }
        if self.min.is_some() || self.max.is_some() {
            let Some(n) = number else {
                return (Status::Fail, format!("{oid} = {shown}, not a number to compare"));
            };
            if let Some(min) = self.min.filter(|m| n < *m) {
                return (Status::Fail, format!("{oid} = {shown}, below {}", trim_number(min)));
            }
            if let Some(max) = self.max.filter(|m| n > *m) {
                return (Status::Fail, format!("{oid} = {shown}, above {}", trim_number(max)));
            }
        }
        (Status::Pass, format!("{oid} = {shown}"))
    }
}

pub(crate) struct SnmpProbe {
    host: String,
    port: u16,
    credentials: Credentials,
    profile: Option<Profile>,
    oids: Vec<OidCheck>,
}

/// The community and passwords never reach `Debug`.
impl std::fmt::Debug for SnmpProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let version = match &self.credentials {
            Credentials::V2c { .. } => "2c".to_owned(),
            Credentials::V3 { user, .. } => format!("3 (user {user})"),
        };
        f.debug_struct("SnmpProbe")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("version", &version)
            .field("profile", &self.profile)
            .field("oids", &self.oids)
            .finish()
    }
}

/// One thing found: how bad, and in words.
type Finding = (Status, String);

impl RunProbe for SnmpProbe {
    fn kind(&self) -> &'static str {
        "snmp"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let addr = match super::net::resolve(&self.host, self.port).await {
            Ok(addrs) => match addrs.into_iter().next() {
                Some(addr) => addr,
                None => return Outcome::fail(format!("{} resolved to no address", self.host)),
            },
            Err(e) => return Outcome::fail(e.to_string()),
        };
        let heard = AtomicBool::new(false);
        let found = match tokio::time::timeout_at(budget.step_deadline(), self.query(addr, budget, &heard)).await {
            Ok(Ok(found)) => found,
            Ok(Err(why)) => return Outcome::fail(why),
            Err(_) if heard.load(Ordering::Relaxed) => return Outcome::fail(slow(budget)),
            Err(_) => return Outcome::fail(self.silence(budget)),
        };
        verdict(found)
    }

    fn timed_out(&self, timeout: Duration) -> Outcome {
        Outcome::fail(self.silence(Budget::starting_now(timeout)))
    }
}

/// The worst finding decides; the worst come first, so a cut-short line still says what
/// matters.
fn verdict(mut found: Vec<Finding>) -> Outcome {
    if found.is_empty() {
        return Outcome::warn("the agent answered, but with nothing rounds could judge");
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0.rank()));
    let status = found.iter().fold(Status::Pass, |worst, f| worst.worst(f.0));
    let text = found.into_iter().map(|(_, words)| words).collect::<Vec<_>>().join(", ");
    Outcome::new(status, text)
}

impl SnmpProbe {
    /// Why nothing answered, in the words that fit the version.
    fn silence(&self, budget: Budget) -> String {
        let limit = budget.limit();
        match &self.credentials {
            Credentials::V2c { .. } => format!("no answer in {limit}: wrong community or SNMP not enabled"),
            Credentials::V3 { security: Security::AuthPriv(..), .. } => format!(
                "no answer in {limit}: a wrong privacy password or protocol (agents drop what they cannot \
                 decrypt), or SNMP not enabled"
            ),
            Credentials::V3 { .. } => format!("no answer in {limit}: SNMP not enabled, or not for SNMPv3"),
        }
    }

    /// Everything the profile and the raw gets find; `heard` is set once the agent answers.
    async fn query(&self, addr: SocketAddr, budget: Budget, heard: &AtomicBool) -> Result<Vec<Finding>, String> {
        let session = Session { probe: self, client: self.client(addr, budget).await?, budget, heard };
        let mut found = match &self.profile {
            None => Vec::new(),
            Some(Profile::Interface { names }) => session.interfaces(names).await?,
            Some(Profile::Printer(limits)) => session.printer(*limits).await?,
            Some(Profile::Ups(limits)) => session.ups(*limits).await?,
        };
        if !self.oids.is_empty() {
            let wanted: Vec<Oid> = self.oids.iter().map(|o| o.oid.clone()).collect();
            let values = session.get(&wanted).await?;
            found.extend(self.oids.iter().map(|check| check.judge(values.get(&check.oid))));
        }
        Ok(found)
    }

    async fn client(&self, addr: SocketAddr, budget: Budget) -> Result<Client<UdpHandle>, String> {
        let auth: Auth = match &self.credentials {
            Credentials::V2c { community } => Auth::v2c(community.clone()),
            Credentials::V3 { user, security } => {
                let usm = UsmConfig::new(user.clone().into_bytes());
                let usm = match security {
                    Security::NoAuth => Ok(usm),
                    Security::Auth(a, ap) => usm.auth(*a, ap),
                    Security::AuthPriv(a, ap, p, pp) => usm.auth_priv(*a, ap, *p, pp),
                };
                // The error names the protocol, never the password.
                usm.map_err(|e| format!("rounds cannot use these SNMPv3 settings: {e}"))?.into()
            }
        };
        // Three tries inside the budget: a lost datagram is not a dead agent.
        let remaining = budget.step_remaining();
        let per_try = (remaining / 3).max(Duration::from_millis(100));
        let retry = Retry::fixed(2, Duration::ZERO).unwrap_or_else(|_| Retry::none());
        let mut builder = Client::builder(addr, auth)
            .request_timeout(per_try)
            .retry(retry)
            .construction_timeout(remaining.max(Duration::from_millis(100)))
            // Answers only from the address asked: a spoofed Report must come from there.
            .strict_source(true)
            // Agents answer a wrong password or an unknown user with an unauthenticated
            // Report (RFC 3414 3.2); without this the library drops it and the check would say
            // "no answer" instead of what is wrong. A forged Report can only make it fail.
            .allow_unauthenticated_v3_time_correction(true);
        if let Credentials::V3 { security: Security::AuthPriv(_, _, PrivProtocol::Des, _), .. } = &self.credentials {
            builder = builder.des_salt_state(des_salt()?);
        }
        builder.connect().await.map_err(|e| self.describe(&e, budget))
    }

    /// A library error in words a tired person understands.
    fn describe(&self, error: &async_snmp::Error, budget: Budget) -> String {
        use async_snmp::v3::ReportStatus as R;
        use async_snmp::{Error as E, ErrorStatus as S};
        let user = match &self.credentials {
            Credentials::V3 { user, .. } => user.as_str(),
            Credentials::V2c { .. } => "",
        };
        match error.exchange_source() {
            E::Timeout { .. } | E::ConstructionTimeout { .. } => self.silence(budget),
            E::Network { source, .. } if source.kind() == std::io::ErrorKind::ConnectionRefused => format!(
                "nothing answers SNMP on udp port {} (the host says the port is closed): SNMP not enabled",
                self.port
            ),
            E::Network { source, .. } => super::net::describe_io(source),
            E::Report { status, .. } => match status.as_ref() {
                R::WrongDigest { .. } => {
                    "wrong authentication password or user (the agent counts it in usmStatsWrongDigests)".into()
                }
                R::UnknownUserName { .. } => format!("the agent has no user {user:?} (usmStatsUnknownUserNames)"),
                R::DecryptionError { .. } => {
                    "wrong privacy password or protocol: the agent could not decrypt (usmStatsDecryptionErrors)".into()
                }
                R::NotInTimeWindow { .. } => "the agent refused the request as outside its time window \
                                              (usmStatsNotInTimeWindows): its engine restarted or its clock \
                                              jumped; the next run usually works"
                    .into(),
                R::UnsupportedSecurityLevel { .. } => "the agent does not allow this security level for the user \
                                                       (usmStatsUnsupportedSecLevels): check auth and privacy"
                    .into(),
                R::UnknownEngineId { .. } => {
                    "the agent did not accept its own engine ID (usmStatsUnknownEngineIDs)".into()
                }
                R::Other { oid, .. } => format!("the agent refused the request (report {oid})"),
                _ => "the agent refused the request with a report rounds does not know".into(),
            },
            E::Auth { .. } => {
                "the agent's answer failed authentication: wrong authentication password or protocol".into()
            }
            E::Snmp { status: S::NoAccess | S::AuthorizationError, .. } => {
                "the agent refused access: this community or user may not read these objects".into()
            }
            E::Snmp { status, .. } => format!("the agent answered an error: {status}"),
            E::Decode(_) | E::MalformedResponse { .. } | E::ResponseShape { .. } => {
                "the answer is not SNMP as an agent sends it (is this an SNMP port?)".into()
            }
            E::WalkAborted { reason, .. } => format!("the agent's table cannot be read to its end: {reason}"),
            E::Privacy(_) | E::Config(_) => format!("rounds cannot use these SNMP settings: {error}"),
            other => format!("SNMP failed: {other}"),
        }
    }
}

/// DES's salt is the sender's boots and a counter (RFC 3414 8.1.1.1): it must not repeat
/// under one key. rounds keeps no DES state between runs, so each run takes a random boots
/// epoch: a repeat needs two runs to draw the same of two billion.
fn des_salt() -> Result<DesSaltState, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 4];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| "no random numbers for the DES salt".to_owned())?;
    let previous = u32::from_be_bytes(bytes) % (i32::MAX as u32 - 2) + 1;
    let previous = PersistedDesSaltState::new(previous).map_err(|e| format!("DES salt: {e}"))?;
    DesSaltState::restart(previous, |_| Ok::<(), std::io::Error>(())).map_err(|e| format!("DES salt: {e}"))
}

/// A timeout after the agent had answered something: not silence, but slowness.
fn slow(budget: Budget) -> String {
    format!("the agent answered, but not all that was asked in {}: a slow agent or a long table", budget.limit())
}

/// One check's conversation with the agent: its client, the budget for the words of a
/// timeout, and whether the agent has answered yet.
struct Session<'a> {
    probe: &'a SnmpProbe,
    client: Client<UdpHandle>,
    budget: Budget,
    heard: &'a AtomicBool,
}

impl Session<'_> {
    fn describe(&self, error: &async_snmp::Error) -> String {
        let timeout = matches!(error.exchange_source(), async_snmp::Error::Timeout { .. });
        match timeout && self.heard.load(Ordering::Relaxed) {
            true => slow(self.budget),
            false => self.probe.describe(error, self.budget),
        }
    }

    /// GETs `oids`; exceptions (noSuchObject...) come back as values for the caller to name.
    async fn get(&self, oids: &[Oid]) -> Result<BTreeMap<Oid, Value>, String> {
        let response = self.client.get_many(oids).await.map_err(|e| self.describe(&e))?;
        self.heard.store(true, Ordering::Relaxed);
        Ok(response.varbinds.into_iter().map(|VarBind { oid, value }| (oid, value)).collect())
    }

    /// Every row under `root`, at most [`MAX_ROWS`].
    async fn walk(&self, root: &[u32]) -> Result<Vec<VarBind>, String> {
        let options = WalkOptions { result_limit: Some(MAX_ROWS), ..WalkOptions::default() };
        let mut stream = self.client.walk_with(Oid::from_slice(root), options).map_err(|e| self.describe(&e))?;
        let mut rows = Vec::new();
        while let Some(row) = stream.next().await {
            rows.push(row.map_err(|e| self.describe(&e))?);
            self.heard.store(true, Ordering::Relaxed);
        }
        Ok(rows)
    }

    /// `profile = "interface"`: each port by ifName or ifDescr, its admin and oper status.
    async fn interfaces(&self, names: &[String]) -> Result<Vec<Finding>, String> {
        let if_names = column(&self.walk(IF_NAME).await?, IF_NAME);
        let if_descrs = column(&self.walk(IF_DESCR).await?, IF_DESCR);
        let mut found = Vec::new();
        let mut located = Vec::new();
        for wanted in names {
            match find_interface(wanted, &if_names, &if_descrs) {
                Some(index) => located.push((wanted, index)),
                None => found.push((Status::Fail, not_found(wanted, &if_names, &if_descrs))),
            }
        }
        let mut oids = Vec::new();
        for (_, index) in &located {
            oids.extend([IF_ADMIN, IF_OPER, IF_ALIAS].map(|c| Oid::from_slice(c).child(*index)));
        }
        let values = match oids.is_empty() {
            true => BTreeMap::new(),
            false => self.get(&oids).await?,
        };
        for (wanted, index) in located {
            let get = |col: &[u32]| values.get(&Oid::from_slice(col).child(index));
            let alias = get(IF_ALIAS).and_then(value_raw_text).unwrap_or_default();
            found.push(interface_state(
                wanted,
                get(IF_ADMIN).and_then(integer),
                get(IF_OPER).and_then(integer),
                &alias,
            ));
        }
        Ok(found)
    }

    /// `profile = "printer"`: each supply's level, the error-state bits in words.
    async fn printer(&self, limits: SupplyLimits) -> Result<Vec<Finding>, String> {
        let supplies = self.walk(PRT_MARKER_SUPPLIES_ENTRY).await?;
        let states = self.walk(HR_PRINTER_ENTRY).await?;
        let indices: Vec<u32> = states
            .iter()
            .filter_map(|row| match row.oid.arcs().strip_prefix(HR_PRINTER_ENTRY) {
                Some([1, index]) => Some(*index),
                _ => None,
            })
            .collect();
        let devices = match indices.is_empty() {
            true => BTreeMap::new(),
            false => {
                let oids: Vec<Oid> = indices.iter().map(|i| Oid::from_slice(HR_DEVICE_STATUS).child(*i)).collect();
                let values = self.get(&oids).await?;
                indices
                    .iter()
                    .filter_map(|i| {
                        Some((*i, values.get(&Oid::from_slice(HR_DEVICE_STATUS).child(*i)).and_then(integer)?))
                    })
                    .collect()
            }
        };
        let mut found = printer_states(&states, &devices);
        found.extend(supply_findings(&supplies, limits));
        Ok(found)
    }

    /// `profile = "ups"`: output source, battery status, charge and minutes left.
    async fn ups(&self, limits: UpsLimits) -> Result<Vec<Finding>, String> {
        let oids: Vec<Oid> = UPS_OBJECTS.iter().map(|o| Oid::from_slice(o)).collect();
        let values = self.get(&oids).await?;
        let get = |o: &[u32]| values.get(&Oid::from_slice(o)).and_then(integer);
        let reading = UpsReading {
            source: get(UPS_OUTPUT_SOURCE),
            battery: get(UPS_BATTERY_STATUS),
            charge: get(UPS_CHARGE),
            minutes: get(UPS_MINUTES),
            alarms: get(UPS_ALARMS),
        };
        Ok(ups_findings(reading, limits))
    }
}

// IF-MIB (RFC 2863).
const IF_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 2];
const IF_ADMIN: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 7];
const IF_OPER: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 8];
const IF_NAME: &[u32] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1];
const IF_ALIAS: &[u32] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 18];

// Printer-MIB (RFC 3805) prtMarkerSuppliesEntry and its columns; HOST-RESOURCES-MIB's
// hrPrinterEntry (RFC 2790): hrPrinterStatus (1) and hrPrinterDetectedErrorState (2).
const PRT_MARKER_SUPPLIES_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1];
const SUPPLY_CLASS: u32 = 4;
const SUPPLY_TYPE: u32 = 5;
const SUPPLY_DESCRIPTION: u32 = 6;
const SUPPLY_MAX_CAPACITY: u32 = 8;
const SUPPLY_LEVEL: u32 = 9;
const HR_PRINTER_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 5, 1];
/// hrDeviceStatus (RFC 2790): unknown(1), running(2), warning(3), testing(4), down(5).
const HR_DEVICE_STATUS: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 5];

// UPS-MIB (RFC 1628).
const UPS_BATTERY_STATUS: &[u32] = &[1, 3, 6, 1, 2, 1, 33, 1, 2, 1, 0];
const UPS_MINUTES: &[u32] = &[1, 3, 6, 1, 2, 1, 33, 1, 2, 3, 0];
const UPS_CHARGE: &[u32] = &[1, 3, 6, 1, 2, 1, 33, 1, 2, 4, 0];
const UPS_OUTPUT_SOURCE: &[u32] = &[1, 3, 6, 1, 2, 1, 33, 1, 4, 1, 0];
const UPS_ALARMS: &[u32] = &[1, 3, 6, 1, 2, 1, 33, 1, 6, 1, 0];
const UPS_OBJECTS: [&[u32]; 5] = [UPS_OUTPUT_SOURCE, UPS_BATTERY_STATUS, UPS_CHARGE, UPS_MINUTES, UPS_ALARMS];

/// A column of a table indexed by one number (ifIndex): index -> text.
fn column(rows: &[VarBind], prefix: &[u32]) -> BTreeMap<u32, String> {
    rows.iter()
        .filter_map(|row| {
            let rest = row.oid.arcs().strip_prefix(prefix)?;
            let [index] = rest else { return None };
            Some((*index, value_raw_text(&row.value)?))
        })
        .collect()
}

/// The ifIndex of `wanted`: by ifName first, then ifDescr, then either ignoring case.
fn find_interface(wanted: &str, names: &BTreeMap<u32, String>, descrs: &BTreeMap<u32, String>) -> Option<u32> {
    let exact = |table: &BTreeMap<u32, String>| table.iter().find(|(_, n)| n.as_str() == wanted).map(|(i, _)| *i);
    let folded =
        |table: &BTreeMap<u32, String>| table.iter().find(|(_, n)| n.eq_ignore_ascii_case(wanted)).map(|(i, _)| *i);
    exact(names).or_else(|| exact(descrs)).or_else(|| folded(names)).or_else(|| folded(descrs))
}

/// "no interface "Gi1/0/99"; the closest: Gi1/0/9, Gi1/0/19".
fn not_found(wanted: &str, names: &BTreeMap<u32, String>, descrs: &BTreeMap<u32, String>) -> String {
    let mut known: Vec<&str> = names.values().chain(descrs.values()).map(String::as_str).collect();
    known.sort_unstable();
    known.dedup();
    if known.is_empty() {
        return format!("no interface {:?}: the agent lists no interfaces (ifName, ifDescr)", capped(wanted));
    }
    known.sort_by_key(|k| (strsim::levenshtein(&wanted.to_lowercase(), &k.to_lowercase()), *k));
    let closest: Vec<String> = known.iter().take(CLOSEST).map(|k| capped(k)).collect();
    format!("no interface {:?}; the closest: {}", capped(wanted), closest.join(", "))
}

/// One port's state: admin down warns, oper down while admin up fails; the alias says
/// which port it is to people.
fn interface_state(name: &str, admin: Option<i32>, oper: Option<i32>, alias: &str) -> Finding {
    let label = match alias.trim() {
        "" => capped(name),
        alias => format!("{} ({})", capped(name), capped(alias)),
    };
    let (status, words) = match (admin, oper) {
        (Some(2), _) => (Status::Warn, "disabled by an administrator"),
        (Some(3), _) => (Status::Warn, "in test mode (ifAdminStatus testing)"),
        (Some(1), Some(1)) => (Status::Pass, "up"),
        (Some(1), Some(2)) => (Status::Fail, "down"),
        (Some(1), Some(7)) => (Status::Fail, "down (a lower layer is down)"),
        (Some(1), Some(6)) => (Status::Fail, "not present (a missing module or transceiver)"),
        (Some(1), Some(5)) => (Status::Warn, "dormant"),
        (Some(1), Some(3)) => (Status::Warn, "testing"),
        (Some(1), Some(4)) => (Status::Warn, "in an unknown state (ifOperStatus unknown)"),
        (Some(1), _) => (Status::Warn, "reports no operational status (ifOperStatus)"),
        _ => (Status::Warn, "reports no administrative status (ifAdminStatus)"),
    };
    (status, format!("{label} {words}"))
}

/// hrPrinterDetectedErrorState's bits (RFC 3805 section 2.2.13.2), in the words and with
/// the weight `[[printer]]` gives IPP's state reasons.
const ERROR_BITS: [(Status, &str); 15] = [
    (Status::Warn, "paper low"),
    (Status::Fail, "out of paper"),
    (Status::Warn, "toner low"),
    (Status::Fail, "out of toner"),
    (Status::Fail, "a door is open"),
    (Status::Fail, "paper jam"),
    (Status::Fail, "offline"),
    (Status::Warn, "service requested"),
    (Status::Fail, "an input tray is missing"),
    (Status::Fail, "an output tray is missing"),
    (Status::Fail, "a supply is missing"),
    (Status::Warn, "the output tray is almost full"),
    (Status::Fail, "the output tray is full"),
    (Status::Warn, "an input tray is empty"),
    (Status::Warn, "preventive maintenance is overdue"),
];

/// The printer's status and error bits from hrPrinterEntry rows, read with hrDeviceStatus
/// by hrDeviceIndex (`devices`), as RFC 3805's table of overall states (2.2.13.2) does: a
/// printer "other" while its device is "running" is in standby (asleep, which office
/// printers are every morning), "other" while "down" is stopped.
fn printer_states(rows: &[VarBind], devices: &BTreeMap<u32, i32>) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut errors_seen = false;
    for row in rows {
        let Some([col, index, ..]) = row.oid.arcs().strip_prefix(HR_PRINTER_ENTRY) else { continue };
        match *col {
            1 => found.push(match (integer(&row.value), devices.get(index)) {
                (Some(3), _) => (Status::Pass, "idle".to_owned()),
                (Some(4), _) => (Status::Pass, "printing".to_owned()),
                (Some(5), _) => (Status::Pass, "warming up".to_owned()),
                (Some(1), Some(2)) => (Status::Pass, "standby".to_owned()),
                (Some(1), Some(5)) => (Status::Fail, "stopped (see the printer's panel)".to_owned()),
                (Some(1), _) => (Status::Warn, "printer status other (see the printer's panel)".to_owned()),
                _ => (Status::Warn, "printer status unknown".to_owned()),
            }),
            2 => {
                errors_seen = true;
                found.extend(error_bits(row.value.as_bytes().unwrap_or_default()));
            }
            _ => {}
        }
    }
    if !errors_seen {
        found.push((Status::Warn, "the printer reports no error state (hrPrinterDetectedErrorState)".to_owned()));
    }
    found
}

/// Each set bit of hrPrinterDetectedErrorState in words; bit 0 is the first octet's highest.
fn error_bits(bytes: &[u8]) -> Vec<Finding> {
    let mut found = Vec::new();
    for (i, byte) in bytes.iter().enumerate().take(8) {
        for bit in 0..8 {
            if byte & (0x80 >> bit) == 0 {
                continue;
            }
            let n = i * 8 + bit;
            found.push(match ERROR_BITS.get(n) {
                Some((status, words)) => (*status, (*words).to_owned()),
                None => (Status::Warn, format!("error bit {n}, unknown to rounds")),
            });
        }
    }
    found
}

/// prtMarkerSuppliesType values that count up as they fill (RFC 3805 PrtMarkerSuppliesTypeTC).
const WASTE_TYPES: [i32; 5] = [4, 8, 14, 24, 26];

/// One supply's row of prtMarkerSuppliesTable.
#[derive(Debug, Default)]
struct Supply {
    class: Option<i32>,
    kind: Option<i32>,
    description: Option<String>,
    max: Option<i32>,
    level: Option<i32>,
}

/// Each supply's level as on `[[printer]]`: a share of its capacity, unknown levels warn,
/// waste containers count the other way.
fn supply_findings(rows: &[VarBind], limits: SupplyLimits) -> Vec<Finding> {
    let mut supplies: BTreeMap<Vec<u32>, Supply> = BTreeMap::new();
    for row in rows {
        let Some([col, index @ ..]) = row.oid.arcs().strip_prefix(PRT_MARKER_SUPPLIES_ENTRY) else { continue };
        let supply = supplies.entry(index.to_vec()).or_default();
        match *col {
            SUPPLY_CLASS => supply.class = integer(&row.value),
            SUPPLY_TYPE => supply.kind = integer(&row.value),
            SUPPLY_DESCRIPTION => supply.description = value_raw_text(&row.value),
            SUPPLY_MAX_CAPACITY => supply.max = integer(&row.value),
            SUPPLY_LEVEL => supply.level = integer(&row.value),
            _ => {}
        }
    }
    if supplies.is_empty() {
        return vec![(Status::Warn, "the printer reports no supplies (prtMarkerSuppliesTable)".to_owned())];
    }
    supplies.values().enumerate().map(|(i, s)| supply_level(i, s, limits)).collect()
}

fn supply_level(i: usize, supply: &Supply, limits: SupplyLimits) -> Finding {
    let waste = supply.class == Some(4) || supply.kind.is_some_and(|k| WASTE_TYPES.contains(&k));
    let label = match supply.description.as_deref().map(str::trim) {
        Some(d) if !d.is_empty() => capped(d),
        _ => format!("supply {}", i + 1),
    };
    let share = match (supply.level, supply.max) {
        (Some(-3), _) => return (Status::Warn, format!("{label} level unknown (some remaining)")),
        (Some(level), _) if level < 0 => return (Status::Warn, format!("{label} level unknown")),
        (None, _) => return (Status::Warn, format!("{label} level not reported")),
        (Some(_), max) if max.is_none_or(|m| m <= 0) => {
            return (Status::Warn, format!("{label} level unknown (no capacity reported)"))
        }
        (Some(level), Some(max)) => (f64::from(level) / f64::from(max) * 100.0).clamp(0.0, 100.0),
        (Some(_), None) => return (Status::Warn, format!("{label} level unknown")),
    };
    let left = if waste { 100.0 - share } else { share };
    let status = if left < limits.min {
        Status::Fail
    } else if left < limits.warn {
        Status::Warn
    } else {
        Status::Pass
    };
    (status, format!("{label} {share:.0}%{}", if waste { " full" } else { "" }))
}

/// The UPS-MIB objects of one reading; `None` where the agent had none.
#[derive(Debug, Default, Clone, Copy)]
struct UpsReading {
    source: Option<i32>,
    battery: Option<i32>,
    charge: Option<i32>,
    minutes: Option<i32>,
    alarms: Option<i32>,
}

fn ups_findings(r: UpsReading, limits: UpsLimits) -> Vec<Finding> {
    let mut found = vec![match r.source {
        Some(3) => (Status::Pass, "on mains".to_owned()),
        Some(5) => (Status::Warn, "on battery".to_owned()),
        Some(4) => (Status::Fail, "on bypass: the load is not protected".to_owned()),
        Some(2) => (Status::Fail, "output off (upsOutputSource none)".to_owned()),
        Some(6) => (Status::Warn, "on mains, boosting low voltage".to_owned()),
        Some(7) => (Status::Warn, "on mains, reducing high voltage".to_owned()),
        Some(1) => (Status::Warn, "output source other".to_owned()),
        _ => (Status::Warn, "the UPS reports no output source (upsOutputSource)".to_owned()),
    }];
    found.push(match r.battery {
        Some(2) => (Status::Pass, "battery normal".to_owned()),
        Some(3) => (Status::Fail, "battery low".to_owned()),
        Some(4) => (Status::Fail, "battery depleted".to_owned()),
        Some(1) => (Status::Warn, "battery status unknown".to_owned()),
        _ => (Status::Warn, "the UPS reports no battery status (upsBatteryStatus)".to_owned()),
    });
    match r.charge.filter(|c| (0..=100).contains(c)) {
        Some(charge) => {
            let charge = f64::from(charge);
            let mut text = format!("charge {}%", trim_number(charge));
            let mut status = Status::Pass;
            if let Some(min) = limits.min_charge.filter(|m| charge < *m) {
                status = Status::Fail;
                text.push_str(&format!(" (below {}%)", trim_number(min)));
            } else if let Some(warn) = limits.warn_charge.filter(|w| charge < *w) {
                status = Status::Warn;
                text.push_str(&format!(" (below {}%)", trim_number(warn)));
            }
            found.push((status, text));
        }
        None if limits.min_charge.is_some() || limits.warn_charge.is_some() => {
            found.push((Status::Warn, "the UPS reports no charge (upsEstimatedChargeRemaining)".to_owned()))
        }
        None => {}
    }
    match r.minutes.filter(|m| *m >= 0) {
        Some(minutes) => {
            let left = Duration::from_secs((u64::from(minutes.unsigned_abs()) * 60).min(1_000_000_000));
            let mut text = format!("{} left", human::age(left));
            let mut status = Status::Pass;
            if let Some(min) = limits.min_runtime.filter(|m| left < *m) {
                status = Status::Fail;
                text.push_str(&format!(" (below {})", human::limit(min)));
            }
            found.push((status, text));
        }
        None if limits.min_runtime.is_some() => {
            found.push((Status::Warn, "the UPS reports no runtime (upsEstimatedMinutesRemaining)".to_owned()))
        }
        None => {}
    }
    match r.alarms {
        Some(n) if n > 0 => found.push((Status::Warn, format!("{n} alarm{} present", if n == 1 { "" } else { "s" }))),
        _ => {}
    }
    found
}

/// An INTEGER (or an unsigned type small enough to be one).
fn integer(value: &Value) -> Option<i32> {
    match value {
        Value::Integer(i) => Some(*i),
        Value::Gauge32(u) | Value::Counter32(u) | Value::UInteger32(u) | Value::TimeTicks(u) => i32::try_from(*u).ok(),
        _ => None,
    }
}

/// noSuchObject, noSuchInstance and endOfMibView in words.
fn exception_words(value: &Value) -> Option<&'static str> {
    Some(match value {
        Value::NoSuchObject => "no such object on this agent (noSuchObject)",
        Value::NoSuchInstance => "no such instance on this agent (noSuchInstance)",
        Value::EndOfMibView => "past the end of the agent's MIB view (endOfMibView)",
        _ => return None,
    })
}

/// A string value as text (peer text: capped; cleaned later by the report's cleaning step).
fn value_raw_text(value: &Value) -> Option<String> {
    match value {
        Value::OctetString(bytes) => Some(capped(String::from_utf8_lossy(bytes).trim_end_matches('\0'))),
        _ => None,
    }
}

/// A value as the detail shows it.
fn value_text(value: &Value) -> String {
    match value {
        Value::OctetString(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => format!("{:?}", capped(text.trim_end_matches('\0'))),
            Err(_) => {
                let hex: String = bytes.iter().take(MAX_TEXT / 2).map(|b| format!("{b:02x}")).collect();
                format!("0x{hex}{}", if bytes.len() > MAX_TEXT / 2 { "…" } else { "" })
            }
        },
        Value::ObjectIdentifier(oid) => oid.to_string(),
        Value::IpAddress(ip) => std::net::Ipv4Addr::from(*ip).to_string(),
        Value::Null => "NULL".into(),
        other => match value_number(other) {
            Some(n) => trim_number(n),
            None => "a value rounds cannot show".into(),
        },
    }
}

/// A value as a number: numeric types, and text that reads as one (UCD's laLoad "0.15").
fn value_number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(f64::from(*i)),
        Value::Counter32(u) | Value::Gauge32(u) | Value::UInteger32(u) | Value::TimeTicks(u) => Some(f64::from(*u)),
        Value::Counter64(u) => Some(*u as f64),
        Value::OctetString(bytes) => {
            std::str::from_utf8(bytes).ok()?.trim().parse::<f64>().ok().filter(|n| n.is_finite())
        }
        _ => None,
    }
}

fn trim_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{n:.0}");
    }
    format!("{n}")
}

/// Peer text cut to [`MAX_TEXT`] characters.
fn capped(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::OctetString(bytes::Bytes::copy_from_slice(s.as_bytes()))
    }

    fn row(prefix: &[u32], suffix: &[u32], value: Value) -> VarBind {
        let mut arcs = prefix.to_vec();
        arcs.extend_from_slice(suffix);
        VarBind::new(Oid::from_slice(&arcs), value)
    }

    const LIMITS: SupplyLimits = SupplyLimits { warn: 15.0, min: 5.0 };

    #[test]
    fn privacy_names_map_to_the_key_extension_net_snmp_means() {
        assert_eq!(privacy_protocol("AES-192-C"), Ok(PrivProtocol::Aes192Reeder));
        assert_eq!(privacy_protocol("aes256c"), Ok(PrivProtocol::Aes256Reeder));
        assert_eq!(privacy_protocol("aes256"), Ok(PrivProtocol::Aes256Blumenthal));
        assert_eq!(privacy_protocol("AES"), Ok(PrivProtocol::Aes128));
        assert_eq!(auth_protocol("SHA-256"), Ok(AuthProtocol::Sha256));
        assert_eq!(auth_protocol("sha"), Ok(AuthProtocol::Sha1));
        assert!(privacy_protocol("blowfish").is_err() && auth_protocol("sha3").is_err());
    }

    #[test]
    fn interface_states_in_words() {
        let state = |admin, oper| interface_state("Gi1/0/24", admin, oper, "lab uplink");
        assert_eq!(state(Some(1), Some(1)), (Status::Pass, "Gi1/0/24 (lab uplink) up".into()));
        assert_eq!(state(Some(1), Some(2)), (Status::Fail, "Gi1/0/24 (lab uplink) down".into()));
        assert_eq!(state(Some(2), Some(2)).0, Status::Warn);
        assert!(state(Some(2), Some(2)).1.ends_with("disabled by an administrator"));
        assert_eq!(state(Some(1), Some(7)).0, Status::Fail);
        assert_eq!(state(Some(1), Some(6)).0, Status::Fail);
        for oper in [Some(3), Some(4), Some(5), None, Some(99)] {
            assert_eq!(state(Some(1), oper).0, Status::Warn, "{oper:?}");
        }
        assert_eq!(state(None, Some(1)).0, Status::Warn);
        assert_eq!(interface_state("lo", Some(1), Some(1), " "), (Status::Pass, "lo up".into()));
    }

    #[test]
    fn interfaces_by_name_then_description_then_any_case() {
        let names: BTreeMap<u32, String> = [(1, "Gi1/0/1".into()), (2, "Gi1/0/2".into())].into();
        let descrs: BTreeMap<u32, String> =
            [(1, "GigabitEthernet1/0/1".into()), (2, "Gi1/0/1".into()), (3, "Vlan10".into())].into();
        assert_eq!(find_interface("Gi1/0/1", &names, &descrs), Some(1));
        assert_eq!(find_interface("GigabitEthernet1/0/1", &names, &descrs), Some(1));
        assert_eq!(find_interface("vlan10", &names, &descrs), Some(3));
        assert_eq!(find_interface("Gi1/0/9", &names, &descrs), None);
        assert_eq!(
            not_found("Gi1/0/9", &names, &descrs),
            "no interface \"Gi1/0/9\"; the closest: Gi1/0/1, Gi1/0/2, Vlan10"
        );
        assert!(not_found("x", &BTreeMap::new(), &BTreeMap::new()).contains("lists no interfaces"));
        let rows =
            [row(IF_NAME, &[5], text("eth0")), row(IF_NAME, &[5, 1], text("odd")), row(IF_DESCR, &[6], text("x"))];
        assert_eq!(column(&rows, IF_NAME), [(5, "eth0".to_owned())].into());
    }

    #[test]
    fn error_state_bits_in_words() {
        assert_eq!(error_bits(&[0x40, 0x00]), vec![(Status::Fail, "out of paper".to_owned())]);
        let words: Vec<String> = error_bits(&[0xA0, 0x02]).into_iter().map(|f| f.1).collect();
        assert_eq!(words, ["paper low", "toner low", "preventive maintenance is overdue"]);
        assert_eq!(error_bits(&[0x00, 0x01]), vec![(Status::Warn, "error bit 15, unknown to rounds".to_owned())]);
        assert!(error_bits(&[]).is_empty());
        assert_eq!(verdict(Vec::new()).status, Status::Warn);
        let rows = [row(HR_PRINTER_ENTRY, &[1, 1], Value::Integer(4)), row(HR_PRINTER_ENTRY, &[2, 1], text("\0\0"))];
        let running: BTreeMap<u32, i32> = [(1, 2)].into();
        assert_eq!(printer_states(&rows, &running), vec![(Status::Pass, "printing".to_owned())]);
        assert_eq!(printer_states(&[], &running).first().map(|f| f.0), Some(Status::Warn));
        // RFC 3805's overall states: "other" is standby while running, stopped while down.
        let other = [row(HR_PRINTER_ENTRY, &[1, 1], Value::Integer(1)), row(HR_PRINTER_ENTRY, &[2, 1], text("\0"))];
        assert_eq!(printer_states(&other, &running), vec![(Status::Pass, "standby".to_owned())]);
        assert_eq!(printer_states(&other, &[(1, 5)].into())[0].0, Status::Fail);
        assert_eq!(printer_states(&other, &BTreeMap::new())[0].0, Status::Warn);
    }

    #[test]
    fn supplies_as_on_printer_never_zero_for_unknown() {
        let supply = |level, max, kind, class| Supply {
            class: Some(class),
            kind: Some(kind),
            description: Some("Black Toner".into()),
            max: Some(max),
            level: Some(level),
        };
        assert_eq!(supply_level(0, &supply(6, 100, 3, 3), LIMITS), (Status::Warn, "Black Toner 6%".into()));
        assert_eq!(supply_level(0, &supply(4, 100, 3, 3), LIMITS).0, Status::Fail);
        assert_eq!(supply_level(0, &supply(1500, 2000, 3, 3), LIMITS), (Status::Pass, "Black Toner 75%".into()));
        for level in [-1, -2, -3] {
            let (status, words) = supply_level(0, &supply(level, 100, 3, 3), LIMITS);
            assert_eq!(status, Status::Warn, "{level}");
            assert!(words.contains("unknown") && !words.contains('0'), "{words}");
        }
        assert!(supply_level(0, &supply(50, -2, 3, 3), LIMITS).1.contains("no capacity"));
        // Waste: by class or by type, counting the other way.
        assert_eq!(supply_level(0, &supply(97, 100, 4, 4), LIMITS), (Status::Fail, "Black Toner 97% full".into()));
        assert_eq!(supply_level(0, &supply(90, 100, 8, 1), LIMITS).0, Status::Warn);
        assert_eq!(supply_level(0, &supply(10, 100, 3, 4), LIMITS).0, Status::Pass);
        let unnamed = Supply { level: Some(50), max: Some(100), ..Supply::default() };
        assert_eq!(supply_level(2, &unnamed, LIMITS).1, "supply 3 50%");
        assert_eq!(supply_findings(&[], LIMITS)[0].0, Status::Warn);
    }

    #[test]
    fn ups_in_words_and_missing_data_warns() {
        let limits =
            UpsLimits { min_charge: Some(50.0), warn_charge: Some(80.0), min_runtime: Some(Duration::from_secs(600)) };
        let reading =
            |source, battery, charge, minutes| UpsReading { source, battery, charge, minutes, alarms: Some(0) };
        let found = ups_findings(reading(Some(3), Some(2), Some(100), Some(45)), limits);
        assert!(found.iter().all(|f| f.0 == Status::Pass), "{found:?}");
        assert_eq!(verdict(found).detail, "on mains, battery normal, charge 100%, 45 min left");
        let low = verdict(ups_findings(reading(Some(5), Some(3), Some(40), Some(8)), limits));
        assert_eq!(low.status, Status::Fail);
        assert_eq!(low.detail, "battery low, charge 40% (below 50%), 8 min left (below 10 min), on battery");
        for source in [Some(4), Some(2)] {
            assert_eq!(
                verdict(ups_findings(reading(source, Some(2), Some(100), Some(45)), limits)).status,
                Status::Fail
            );
        }
        let nothing = verdict(ups_findings(UpsReading::default(), limits));
        assert_eq!(nothing.status, Status::Warn);
        assert!(
            nothing.detail.contains("no output source") && nothing.detail.contains("no runtime"),
            "{}",
            nothing.detail
        );
        let no_limits = UpsLimits { min_charge: None, warn_charge: None, min_runtime: None };
        assert_eq!(verdict(ups_findings(reading(Some(3), Some(1), None, None), no_limits)).status, Status::Warn);
    }

    #[test]
    fn raw_oids_with_equals_min_max_and_exceptions() {
        let check = |equals, min, max| OidCheck {
            oid: Oid::from_slice(&[1, 3, 6, 1, 2, 1, 1, 3, 0]),
            text: "1.3.6.1.2.1.1.3.0".into(),
            equals,
            min,
            max,
        };
        let uptime = Value::TimeTicks(12345);
        assert_eq!(
            check(None, Some(1.0), None).judge(Some(&uptime)),
            (Status::Pass, "1.3.6.1.2.1.1.3.0 = 12345".into())
        );
        assert_eq!(check(None, None, Some(10.0)).judge(Some(&uptime)).1, "1.3.6.1.2.1.1.3.0 = 12345, above 10");
        assert_eq!(check(None, Some(20000.0), None).judge(Some(&uptime)).0, Status::Fail);
        let name = check(Some(Expected::Text("sw-core".into())), None, None);
        assert_eq!(name.judge(Some(&text("sw-core"))).0, Status::Pass);
        assert_eq!(name.judge(Some(&text("sw-edge"))).1, "1.3.6.1.2.1.1.3.0 = \"sw-edge\", expected \"sw-core\"");
        let number = check(Some(Expected::Number(72.0)), None, None);
        assert_eq!(number.judge(Some(&Value::Integer(72))).0, Status::Pass);
        assert_eq!(number.judge(Some(&text("72"))).0, Status::Pass);
        assert!(check(None, Some(1.0), None).judge(Some(&text("up"))).1.ends_with("not a number to compare"));
        for exception in [Value::NoSuchObject, Value::NoSuchInstance, Value::EndOfMibView] {
            let (status, words) = check(None, None, None).judge(Some(&exception));
            assert_eq!(status, Status::Fail);
            assert!(words.starts_with("1.3.6.1.2.1.1.3.0: "), "{words}");
        }
        assert_eq!(check(None, None, None).judge(None).0, Status::Fail);
    }

    #[test]
    fn values_shown_capped_and_binary_as_hex() {
        assert_eq!(value_text(&Value::OctetString(bytes::Bytes::from_static(&[0xff, 0x00]))), "0xff00");
        let long = value_text(&text(&"A".repeat(500)));
        assert!(long.chars().count() < MAX_TEXT + 4 && long.ends_with("…\""), "{long}");
        assert_eq!(value_text(&Value::IpAddress([10, 0, 0, 1])), "10.0.0.1");
        assert_eq!(value_text(&Value::Counter64(u64::MAX)), "18446744073709552000");
        assert_eq!(capped("héllo"), "héllo");
    }

    proptest::proptest! {
        /// Fuzzing: any rows an agent might send, under the tables the profiles read, and
        /// any value of a raw get, are judged without a panic.
        #[test]
        fn fuzz_snmp_answers_never_panic(
            rows in proptest::collection::vec(
                (0u32..12, proptest::collection::vec(0u32..5, 0..3), proptest::num::i32::ANY,
                 proptest::collection::vec(proptest::num::u8::ANY, 0..40), 0u8..4),
                0..40,
            ),
            number in proptest::num::f64::ANY,
        ) {
            let mut binds = Vec::new();
            for (col, index, int, raw, which) in &rows {
                let value = match which {
                    0 => Value::Integer(*int),
                    1 => Value::OctetString(bytes::Bytes::copy_from_slice(raw)),
                    2 => Value::Gauge32(int.unsigned_abs()),
                    _ => Value::NoSuchInstance,
                };
                let mut suffix = vec![*col];
                suffix.extend(index);
                for prefix in [PRT_MARKER_SUPPLIES_ENTRY, HR_PRINTER_ENTRY, IF_NAME, IF_DESCR] {
                    binds.push(row(prefix, &suffix, value.clone()));
                }
                let check = OidCheck {
                    oid: Oid::from_slice(&[1, 3, 6]),
                    text: "1.3.6".into(),
                    equals: Some(Expected::Number(number)),
                    min: Some(number),
                    max: None,
                };
                let _ = check.judge(Some(&value));
                let _ = value_text(&value);
                let _ = error_bits(raw);
            }
            let _ = verdict(supply_findings(&binds, LIMITS));
            let _ = verdict(printer_states(&binds, &[(1, 5), (2, 2)].into()));
            let (names, descrs) = (column(&binds, IF_NAME), column(&binds, IF_DESCR));
            let _ = find_interface("Gi1/0/1", &names, &descrs);
            let _ = not_found("Gi1/0/1", &names, &descrs);
        }
    }
}
