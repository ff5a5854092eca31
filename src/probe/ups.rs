//! `[[ups]]`: a UPS as Network UPS Tools' `upsd` reports it: its status flags in words, the
//! battery's charge and the runtime left.
//!
//! The NUT network protocol is small line-based text, hand-written here and bounded: rounds
//! sends `LIST VAR <ups>` (and `USERNAME`/`PASSWORD` first, only when given: upsd needs them
//! for write commands, not for reading), reads `BEGIN LIST VAR <ups>`, one
//! `VAR <ups> <name> "<value>"` line per variable and `END LIST VAR <ups>`, or one
//! `ERR <CODE>` line, then says `LOGOUT`. Lines longer than [`MAX_LINE`] or more than
//! [`MAX_LINES`] of them are a broken peer, not a UPS.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use toml::Spanned;

use crate::config::values::{HumanDuration, Port};
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::{Outcome, Status};
use crate::probe::kind::{Budget, RunProbe};

/// upsd's port (IANA "nut").
pub(crate) const DEFAULT_PORT: u16 = 3493;
/// A variable line is well under 200 bytes; upsd's own limit on a line is 512.
const MAX_LINE: usize = 4096;
/// A UPS with every outlet listed has a few hundred variables.
const MAX_LINES: usize = 4096;
/// Connections rounds has open to one upsd at a time. upsd listens with a backlog of 16:
/// more connections at once than it accepts overflow it, and the kernel drops their SYNs,
/// each then waiting a second to be sent again. A few at a time keep the backlog short;
/// each exchange takes a millisecond, so 8 ask 200 UPSes faster than 64 could.
const CONNECTIONS_PER_UPSD: usize = 8;

check_table! {
    /// `[[ups]]` as written in the inventory.
    pub(crate) struct UpsTable {
        /// The machine running upsd.
        host: Spanned<String>,
        /// upsd's port; default 3493.
        port: Option<Port>,
        /// The UPS's name in upsd's ups.conf (`upsc <ups>@host`).
        ups: Spanned<String>,
        /// Battery charge below this share fails ("50%").
        min_charge: Option<Spanned<String>>,
        /// Battery charge below this share warns.
        warn_charge: Option<Spanned<String>>,
        /// Estimated runtime on battery below this fails ("10m").
        min_runtime: Option<HumanDuration>,
        /// Where upsd asks for them; use `${VAR}`. Sent only when given.
        username: Option<Spanned<String>>,
        password: Option<Spanned<String>>,
    }
}

impl Table for UpsTable {
    type Probe = UpsProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<UpsProbe>>, ConfigError> {
        let common = self.common();
        let host = loader.host(&self.host)?;
        let ups = self.ups.get_ref().trim().to_owned();
        if ups.is_empty() || !ups.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '@') {
            return Err(loader.error(self.ups.span(), "ups is the UPS's name in upsd's ups.conf, like \"rack\""));
        }
        let share = |loader: &Loader, key: &Option<Spanned<String>>| match key {
            None => Ok(None),
            Some(s) => charge_share(s.get_ref()).map(Some).map_err(|why| loader.error(s.span(), why)),
        };
        let min_charge = share(loader, &self.min_charge)?;
        let warn_charge = share(loader, &self.warn_charge)?;
        if let (Some(min), Some(warn), Some(w)) = (min_charge, warn_charge, &self.warn_charge) {
            if warn < min {
                let why = format!("warn_charge ({warn}%) is below min_charge ({min}%): it would never warn");
                return Err(loader.error(w.span(), why));
            }
        }
        let secret = |loader: &mut Loader, key: &Option<Spanned<String>>| -> Result<_, ConfigError> {
            let Some(raw) = key else { return Ok(None) };
            let value = loader.expand(raw)?;
            // The error never quotes the value: it may be a password.
            if value.is_empty() || value.chars().any(char::is_control) {
                return Err(loader.error(raw.span(), "this value is empty or holds a line break or control character"));
            }
            Ok(Some(value))
        };
        let login = match (secret(loader, &self.username)?, secret(loader, &self.password)?) {
            (Some(user), password) => Some((user, password)),
            (None, Some(_)) => {
                let span = self.password.as_ref().map_or(self.host.span(), Spanned::span);
                return Err(loader.error(span, "password needs a username"));
            }
            (None, None) => None,
        };
        let port = self.port.map_or(DEFAULT_PORT, |p| p.0);
        let target = format!("{}@{host}:{port}", self.ups.get_ref().trim());
        let probe =
            UpsProbe { host, port, ups, min_charge, warn_charge, min_runtime: self.min_runtime.map(|d| d.0), login };
        loader.single(&common, target, probe)
    }
}

/// "50%" as a number from 0 to 100.
pub(crate) fn charge_share(text: &str) -> Result<f64, &'static str> {
    text.trim()
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or("write a share of a full battery, like \"50%\"")
}

pub(crate) struct UpsProbe {
    host: String,
    port: u16,
    ups: String,
    min_charge: Option<f64>,
    warn_charge: Option<f64>,
    min_runtime: Option<Duration>,
    /// USERNAME and, if given, PASSWORD: secrets, kept out of `Debug`.
    login: Option<(String, Option<String>)>,
}

impl std::fmt::Debug for UpsProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpsProbe")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("ups", &self.ups)
            .field("login", &self.login.is_some())
            .finish_non_exhaustive()
    }
}

impl RunProbe for UpsProbe {
    fn kind(&self) -> &'static str {
        "ups"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let _turn = match self.wait_for_a_turn(budget).await {
            Ok(turn) => turn,
            Err(why) => return Outcome::fail(why),
        };
        let stream = match super::net::connect_within(&self.host, self.port, budget).await {
            Ok(s) => s,
            Err(why) => return Outcome::fail(why),
        };
        match tokio::time::timeout_at(budget.step_deadline(), self.exchange(stream)).await {
            Ok(Ok(vars)) => self.judge(&vars),
            Ok(Err(why)) => Outcome::fail(why),
            Err(_) => Outcome::fail(format!("connected, but upsd did not answer in {}", budget.limit())),
        }
    }
}

/// The turns to ask one upsd (`host:port` as the inventory names it), shared by every
/// `[[ups]]` check of the run: see [`CONNECTIONS_PER_UPSD`]. The map's lock is held only to
/// look the server up, never across a wait.
fn upsd_turns(host: &str, port: u16) -> Arc<Semaphore> {
    type Upsd = (String, u16);
    static TURNS: LazyLock<Mutex<HashMap<Upsd, Arc<Semaphore>>>> = LazyLock::new(Default::default);
    let mut turns = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    turns.entry((host.to_owned(), port)).or_insert_with(|| Arc::new(Semaphore::new(CONNECTIONS_PER_UPSD))).clone()
}

impl UpsProbe {
    /// Waits, within the check's budget, until fewer than [`CONNECTIONS_PER_UPSD`] checks
    /// of this run are asking the same upsd; the turn ends when the returned permit drops.
    async fn wait_for_a_turn(&self, budget: Budget) -> Result<OwnedSemaphorePermit, String> {
        let turns = upsd_turns(&self.host, self.port);
        match tokio::time::timeout_at(budget.step_deadline(), turns.acquire_owned()).await {
            Ok(Ok(turn)) => Ok(turn),
            // The semaphore is never closed; said in words all the same.
            Ok(Err(_)) => Err("rounds could not take its turn to ask upsd (an internal error)".into()),
            Err(_) => Err(format!(
                "no turn to ask upsd in {}: other checks of this run held its {CONNECTIONS_PER_UPSD} connections all that time",
                budget.limit()
            )),
        }
    }

    /// Asks upsd for every variable of the UPS.
    async fn exchange(&self, stream: tokio::net::TcpStream) -> Result<BTreeMap<String, String>, String> {
        let (read, mut write) = stream.into_split();
        let mut lines = Lines::new(read);
        let io = |e: std::io::Error| super::net::describe_io(&e);
        if let Some((user, password)) = &self.login {
            let commands = [("USERNAME", Some(user)), ("PASSWORD", password.as_ref())];
            for (command, value) in commands.into_iter().filter_map(|(c, v)| Some((c, v?))) {
                write.write_all(format!("{command} {}\n", quoted(value)).as_bytes()).await.map_err(io)?;
                let answer = lines.next().await?;
                if answer.trim_end() != "OK" {
                    return Err(format!("upsd refused the {}: {}", command.to_lowercase(), error_words(&answer)));
                }
            }
        }
        write.write_all(format!("LIST VAR {}\n", self.ups).as_bytes()).await.map_err(io)?;
        let mut answer = vec![lines.next().await?];
        if answer[0].trim_end() == format!("BEGIN LIST VAR {}", self.ups) {
            loop {
                let line = lines.next().await?;
                let end = line.trim_end() == format!("END LIST VAR {}", self.ups);
                answer.push(line);
                if end {
                    break;
                }
            }
        }
        // A courtesy: upsd closes the connection either way.
        let _ = write.write_all(b"LOGOUT\n").await;
        parse_list(&answer, &self.ups)
    }

    fn judge(&self, vars: &BTreeMap<String, String>) -> Outcome {
        let mut status = Status::Pass;
        let mut said: Vec<String> = Vec::new();
        let flags: Vec<&str> = vars.get("ups.status").map(|s| s.split_whitespace().collect()).unwrap_or_default();
        let powered = flags.iter().any(|f| matches!(*f, "OL" | "OB"));
        let runtime = vars.get("battery.runtime").and_then(|r| r.trim().parse::<f64>().ok()).filter(|r| *r >= 0.0);
        if flags.is_empty() {
            status = Status::Warn;
            said.push("the UPS reports no status (ups.status)".into());
        } else if !powered {
            status = Status::Warn;
            said.push(format!("neither on mains nor on battery (status {})", flags.join(" ")));
        }
        for flag in &flags {
            let (flag_status, words) = flag_words(flag);
            status = status.worst(flag_status);
            match (words, vars.get("ups.alarm")) {
                (Some("alarm"), Some(alarm)) => said.push(format!("alarm: {alarm}")),
                (Some(words), _) => said.push(words.into()),
                // Said once above already when the UPS is neither on mains nor on battery.
                (None, _) if powered => said.push(format!("status flag {flag}, unknown to rounds")),
                (None, _) => {}
            }
        }
        match vars.get("battery.charge").and_then(|c| c.trim().parse::<f64>().ok()) {
            Some(charge) => {
                let mut text = format!("charge {}%", trim_number(charge));
                if let Some(min) = self.min_charge.filter(|m| charge < *m) {
                    status = status.worst(Status::Fail);
                    text.push_str(&format!(" (below {}%)", trim_number(min)));
                } else if let Some(warn) = self.warn_charge.filter(|w| charge < *w) {
                    status = status.worst(Status::Warn);
                    text.push_str(&format!(" (below {}%)", trim_number(warn)));
                }
                said.push(text);
            }
            None if self.min_charge.is_some() || self.warn_charge.is_some() => {
                status = status.worst(Status::Warn);
                said.push("the UPS reports no battery charge (battery.charge)".into());
            }
            None => {}
        }
        match runtime {
            Some(seconds) => {
                let left = Duration::from_secs_f64(seconds.min(1e9));
                let mut text = format!("{} left", human::age(left));
                if let Some(min) = self.min_runtime.filter(|m| left < *m) {
                    status = status.worst(Status::Fail);
                    text.push_str(&format!(" (below {})", human::limit(min)));
                }
                said.push(text);
            }
            None if self.min_runtime.is_some() => {
                status = status.worst(Status::Warn);
                said.push("the UPS reports no runtime (battery.runtime)".into());
            }
            None => {}
        }
        Outcome::new(status, said.join(", "))
    }
}

/// A status flag (NUT's `ups.status` words) as a verdict and in words; `None` for a flag
/// rounds does not know, which warns: it cannot vouch for what it does not understand.
fn flag_words(flag: &str) -> (Status, Option<&'static str>) {
    match flag {
        "OL" => (Status::Pass, Some("on mains")),
        "OB" => (Status::Warn, Some("on battery")),
        "LB" => (Status::Fail, Some("battery low")),
        "HB" => (Status::Pass, Some("battery high")),
        "RB" => (Status::Warn, Some("battery needs replacing")),
        "CHRG" => (Status::Pass, Some("charging")),
        "DISCHRG" => (Status::Pass, Some("discharging")),
        "BYPASS" => (Status::Fail, Some("on bypass: the load is not protected")),
        "CAL" => (Status::Fail, Some("calibrating")),
        "OFF" => (Status::Fail, Some("output off")),
        "OVER" => (Status::Fail, Some("overloaded")),
        "TRIM" => (Status::Pass, Some("trimming high mains voltage")),
        "BOOST" => (Status::Pass, Some("boosting low mains voltage")),
        "FSD" => (Status::Fail, Some("forced shutdown under way")),
        "ALARM" => (Status::Warn, Some("alarm")),
        "TEST" => (Status::Warn, Some("battery test under way")),
        "NOCOMM" => (Status::Fail, Some("no communication with the UPS")),
        // WAIT (driver still connecting) and flags this version does not know.
        _ => (Status::Warn, None),
    }
}

fn trim_number(n: f64) -> String {
    let text = format!("{n:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_owned)
}

/// A value as one NUT word: in quotes, `"` and `\` escaped.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// upsd's `ERR <CODE>` in words; anything else is not NUT.
fn error_words(line: &str) -> String {
    let Some(code) = line.trim_end().strip_prefix("ERR ") else {
        return "the answer is not NUT's (is this upsd's port?)".into();
    };
    let code = code.split_whitespace().next().unwrap_or_default();
    match code {
        "ACCESS-DENIED" => "access denied (upsd.users or the LISTEN/ACL setup refuses rounds)".into(),
        "UNKNOWN-UPS" => "upsd has no UPS of that name".into(),
        "DATA-STALE" => "the data is stale: upsd's driver has lost contact with the UPS".into(),
        "DRIVER-NOT-CONNECTED" => "upsd is not connected to the UPS's driver".into(),
        "INVALID-USERNAME" => "invalid username".into(),
        "INVALID-PASSWORD" => "invalid password".into(),
        "USERNAME-REQUIRED" | "PASSWORD-REQUIRED" => "upsd requires a username and password".into(),
        "ALREADY-SET-USERNAME" | "ALREADY-SET-PASSWORD" => "upsd says the login was already given".into(),
        "FEATURE-NOT-CONFIGURED" | "FEATURE-NOT-SUPPORTED" => "upsd does not support this".into(),
        code if !code.is_empty() && code.len() <= 40 && code.chars().all(|c| c.is_ascii_uppercase() || c == '-') => {
            format!("upsd error {code}")
        }
        _ => "upsd answered an error it did not name".into(),
    }
}

/// Reads lines, each at most [`MAX_LINE`] bytes, at most [`MAX_LINES`] of them.
struct Lines<R> {
    reader: BufReader<R>,
    count: usize,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    fn new(read: R) -> Self {
        Self { reader: BufReader::new(read), count: 0 }
    }

    async fn next(&mut self) -> Result<String, String> {
        use tokio::io::AsyncReadExt;
        self.count += 1;
        if self.count > MAX_LINES {
            return Err(format!("upsd sent more than {MAX_LINES} lines; this is not a UPS's list"));
        }
        let mut line = Vec::new();
        let read = (&mut self.reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line).await;
        match read {
            Err(e) => Err(super::net::describe_io(&e)),
            Ok(0) => Err("upsd closed the connection without answering".into()),
            Ok(_) if !line.ends_with(b"\n") && line.len() > MAX_LINE => {
                Err(format!("upsd sent a line longer than {MAX_LINE} bytes"))
            }
            Ok(_) if !line.ends_with(b"\n") => Err("upsd closed the connection in the middle of a line".into()),
            Ok(_) => Ok(String::from_utf8_lossy(&line).into_owned()),
        }
    }
}

/// The answer to `LIST VAR <ups>`, every line with its line end: the variables, or why not.
pub(crate) fn parse_list(lines: &[String], ups: &str) -> Result<BTreeMap<String, String>, String> {
    let first = lines.first().map(|l| l.trim_end()).unwrap_or_default();
    if first != format!("BEGIN LIST VAR {ups}") {
        return Err(error_words(first));
    }
    let mut vars = BTreeMap::new();
    for line in &lines[1..] {
        let words = words(line.trim_end()).ok_or("upsd sent a line that is not NUT's (an open quote)")?;
        match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["END", "LIST", "VAR", name] if *name == ups => return Ok(vars),
            ["VAR", name, var, value] if *name == ups => {
                vars.insert((*var).to_owned(), (*value).to_owned());
            }
            _ => return Err("upsd sent a line that is not a variable of this UPS".into()),
        }
    }
    Err("upsd's list ended without END LIST VAR".into())
}

/// One NUT line split into words: spaces separate, `"..."` quotes, `\` escapes the next
/// character. `None` for an unclosed quote.
fn words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars();
    let mut word: Option<String> = None;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            '"' => {
                word.get_or_insert_with(String::new);
                quoted = !quoted;
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    (!quoted).then(|| {
        words.extend(word);
        words
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> UpsProbe {
        UpsProbe {
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            ups: "rack".into(),
            min_charge: Some(50.0),
            warn_charge: Some(80.0),
            min_runtime: Some(Duration::from_secs(600)),
            login: None,
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn lines(text: &str) -> Vec<String> {
        text.split_inclusive('\n').map(str::to_owned).collect()
    }

    #[test]
    fn reads_a_list_with_quotes_and_escapes() {
        let answer = lines(
            "BEGIN LIST VAR rack\nVAR rack ups.status \"OL CHRG\"\nVAR rack ups.model \"Smart \\\"UPS\\\" 1500\"\nEND LIST VAR rack\n",
        );
        let vars = parse_list(&answer, "rack").unwrap();
        assert_eq!(vars["ups.status"], "OL CHRG");
        assert_eq!(vars["ups.model"], "Smart \"UPS\" 1500");
    }

    #[test]
    fn names_upsd_errors() {
        assert_eq!(parse_list(&lines("ERR UNKNOWN-UPS\n"), "rack"), Err("upsd has no UPS of that name".into()));
        assert!(parse_list(&lines("ERR DATA-STALE\n"), "rack").unwrap_err().contains("lost contact"));
        assert!(parse_list(&lines("HTTP/1.1 400\n"), "rack").unwrap_err().contains("not NUT's"));
        let cut = lines("BEGIN LIST VAR rack\nVAR rack ups.status \"OL\"\n");
        assert!(parse_list(&cut, "rack").unwrap_err().contains("without END"));
        let other = lines("BEGIN LIST VAR rack\nVAR other ups.status \"OL\"\nEND LIST VAR rack\n");
        assert!(parse_list(&other, "rack").is_err());
    }

    #[test]
    fn judges_flags_charge_and_runtime() {
        let p = probe();
        let ok = p.judge(&vars(&[("ups.status", "OL"), ("battery.charge", "100"), ("battery.runtime", "3000")]));
        assert_eq!((ok.status, ok.detail.as_str()), (Status::Pass, "on mains, charge 100%, 50 min left"));
        let ob = p.judge(&vars(&[("ups.status", "OB DISCHRG"), ("battery.charge", "90"), ("battery.runtime", "1800")]));
        assert_eq!((ob.status, ob.detail.as_str()), (Status::Warn, "on battery, discharging, charge 90%, 30 min left"));
        let low = p.judge(&vars(&[("ups.status", "OB LB"), ("battery.charge", "20"), ("battery.runtime", "120")]));
        assert_eq!(low.status, Status::Fail);
        assert_eq!(low.detail, "on battery, battery low, charge 20% (below 50%), 2 min left (below 10 min)");
        let warn = p.judge(&vars(&[("ups.status", "OL RB"), ("battery.charge", "70"), ("battery.runtime", "900")]));
        assert_eq!(warn.status, Status::Warn);
        for flag in ["OVER", "BYPASS", "CAL", "OFF", "FSD"] {
            let status = format!("OL {flag}");
            let v = vars(&[("ups.status", &status), ("battery.charge", "100"), ("battery.runtime", "3000")]);
            assert_eq!(p.judge(&v).status, Status::Fail, "{flag}");
        }
    }

    #[test]
    fn never_passes_what_it_cannot_see() {
        let p = probe();
        assert_eq!(p.judge(&vars(&[])).status, Status::Warn);
        let wait = p.judge(&vars(&[("ups.status", "WAIT")]));
        assert_eq!(wait.status, Status::Warn);
        assert!(wait.detail.starts_with("neither on mains nor on battery (status WAIT), the UPS reports no battery"));
        let odd = p.judge(&vars(&[("ups.status", "OL XYZ"), ("battery.charge", "100"), ("battery.runtime", "3000")]));
        assert_eq!(odd.status, Status::Warn);
        assert_eq!(odd.detail, "on mains, status flag XYZ, unknown to rounds, charge 100%, 50 min left");
        let no_charge = p.judge(&vars(&[("ups.status", "OL"), ("battery.runtime", "3000")]));
        assert_eq!(no_charge.status, Status::Warn);
        assert!(no_charge.detail.contains("no battery charge"), "{}", no_charge.detail);
    }

    #[test]
    fn quotes_login_values() {
        assert_eq!(quoted(r#"p"w\x y"#), r#""p\"w\\x y""#);
        assert_eq!(
            words(&format!("USERNAME {}", quoted(r#"p"w\x y"#))),
            Some(vec!["USERNAME".into(), r#"p"w\x y"#.into()])
        );
    }

    /// A check that gets no turn within its timeout says so, without connecting: the turns
    /// are held here as other checks would hold them.
    #[tokio::test]
    async fn a_check_without_a_turn_says_so_on_time() {
        let mut p = probe();
        // A port of its own, so no other test shares these turns.
        p.port = 9;
        let _held = upsd_turns(&p.host, p.port).acquire_many_owned(CONNECTIONS_PER_UPSD as u32).await.unwrap();
        let started = tokio::time::Instant::now();
        let outcome = p.run(Budget::starting_now(Duration::from_millis(300))).await;
        assert_eq!(outcome.status, Status::Fail);
        assert_eq!(
            outcome.detail,
            "no turn to ask upsd in 300 ms: other checks of this run held its 8 connections all that time"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    proptest::proptest! {
        /// Fuzzing: any answer upsd might send is read and judged without a panic.
        #[test]
        fn fuzz_nut_answers_never_panic(
            body in proptest::collection::vec("(VAR rack [a-z.]{1,12} \"[ -~]{0,12}\"|[ -~]{0,40}|END LIST VAR rack|ERR [A-Z-]{0,12})\n?", 0..12),
            status in "[A-Z ]{0,20}",
            number in "[0-9.e+-]{0,10}",
        ) {
            let mut answer = vec!["BEGIN LIST VAR rack\n".to_owned()];
            answer.extend(body.iter().cloned());
            if let Ok(v) = parse_list(&answer, "rack") {
                let _ = probe().judge(&v);
            }
            let _ = parse_list(&body, "rack");
            let _ = probe().judge(&vars(&[("ups.status", &status), ("battery.charge", &number), ("battery.runtime", &number)]));
        }
    }
}
