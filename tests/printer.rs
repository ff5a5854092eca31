//! `[[printer]]` against CUPS' real `ippeveprinter` (Debian `cups-ipp-utils`), an IPP
//! Everywhere printer, on a loopback port with DNS-SD off (`-r off`) and a private
//! `dbus-daemon` (its Avahi client will not start without a bus). Its supply levels and state
//! reasons come from the print command the test gives it: the command reports them on stderr
//! (`ATTR:` and `STATE:` lines, as CUPS filters do) and then holds the job until the test
//! says so, so the printer is seen "processing" with real reasons. `ipptool` proves each
//! state before rounds is asked. ipps:// goes through stunnel with a certificate of the
//! test's own CA. A stopped queue comes from a real `cupsd` (Debian `cups-daemon`) with its own
//! configuration and folders, a queue made with `lpadmin` and stopped with `cupsdisable`
//! (`cups-client`). Every process is killed on drop.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::pki::Ca;
use support::{closed_port, inventory, verdict, wait_until, Child, Inventory};

/// ippeveprinter and the bus it needs, in the test's folder.
struct Printer {
    // Fields drop in order: the printer is killed first, then its bus, then `dir` goes.
    _processes: Vec<Child>,
    dir: tempfile::TempDir,
    port: u16,
    ipptool: PathBuf,
}

/// The print command: reports `attrs` and `state` like a CUPS filter, then holds the job
/// until the test creates `release` (at most a minute, so nothing is ever left waiting).
fn command_script(dir: &Path, attrs: &str, state: &str) -> PathBuf {
    let script = dir.join("print-command");
    let release = dir.join("release");
    let body = format!(
        "#!/bin/sh\necho 'ATTR: {attrs}' >&2\necho 'STATE: {state}' >&2\ncat >/dev/null\n\
         i=0\nwhile [ ! -e '{}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n",
        release.display()
    );
    std::fs::write(&script, body).expect("write print command");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod print command");
    script
}

/// Starts ippeveprinter with a print command reporting `attrs` and `state`, or `None` when
/// cups-ipp-utils (or dbus) is missing.
fn printer(attrs: &str, state: &str) -> Option<Printer> {
    let binary = support::peer(&["/usr/sbin/ippeveprinter", "/usr/bin/ippeveprinter"], "cups-ipp-utils")?;
    let ipptool = support::peer(&["/usr/bin/ipptool"], "cups-ipp-utils")?;
    let dbus = support::peer(&["/usr/bin/dbus-daemon"], "dbus-daemon")?;
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = dir.path().join("bus");
    let bus_conf = dir.path().join("bus.conf");
    let policy = r#"<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/><allow user="*"/></policy>"#;
    std::fs::write(
        &bus_conf,
        format!(
            "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" \
             \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n<busconfig><type>custom</type>\
             <listen>unix:path={}</listen><auth>EXTERNAL</auth>{policy}</busconfig>\n",
            bus.display()
        ),
    )
    .expect("bus config");
    let mut processes = Vec::new();
    let mut command = Command::new(dbus);
    command.arg(format!("--config-file={}", bus_conf.display())).arg("--nofork");
    command.stdout(Stdio::null()).stderr(Stdio::null());
    processes.push(Child::spawn(&mut command));
    wait_until("the private dbus-daemon", || bus.exists());
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).expect("spool dir");
    let script = command_script(dir.path(), attrs, state);
    let port = closed_port();
    let mut command = Command::new(binary);
    command
        .args(["-r", "off", "-n", "localhost", "-p", &port.to_string(), "-f", "text/plain", "-c"])
        .arg(&script)
        .arg("-d")
        .arg(&spool)
        .arg("lab printer")
        .env("DBUS_SYSTEM_BUS_ADDRESS", format!("unix:path={}", bus.display()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("ippeveprinter.log")).expect("log file"));
    processes.insert(0, Child::spawn(&mut command));
    let mut exited = false;
    wait_until("ippeveprinter", || {
        exited = processes[0].0.try_wait().ok().flatten().is_some();
        exited || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let log = std::fs::read_to_string(dir.path().join("ippeveprinter.log")).unwrap_or_default();
    assert!(!exited, "ippeveprinter exited: {log}");
    Some(Printer { _processes: processes, dir, port, ipptool })
}

impl Printer {
    fn uri(&self) -> String {
        format!("ipp://127.0.0.1:{}/ipp/print", self.port)
    }

    /// What ipptool reads of the printer's attributes.
    fn ipptool(&self) -> String {
        let output = Command::new(&self.ipptool)
            .args(["-tv", &self.uri(), "get-printer-attributes.test"])
            .output()
            .expect("run ipptool");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Sends one text job through ipptool.
    fn print(&self) {
        let doc = self.dir.path().join("doc.txt");
        std::fs::write(&doc, "specimen label\n").expect("write document");
        let output = Command::new(&self.ipptool)
            .args(["-tv", "-f"])
            .arg(&doc)
            .args([&self.uri(), "print-job.test"])
            .output()
            .expect("run ipptool");
        let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "print-job: {said}");
    }

    /// Lets every held job finish.
    fn release(&self) {
        std::fs::write(self.dir.path().join("release"), "").expect("release jobs");
    }
}

fn printer_check(name: &str, url: &str, extra: &str) -> String {
    format!("[[printer]]\nname = {name:?}\nurl = {url:?}\n{extra}\n")
}

const SUPPLIES: &str =
    "marker-names=Black,Waste marker-levels=6,97 marker-types=toner,waste-toner marker-colors=#000000,none";

#[test]
fn an_idle_printer_passes_and_a_busy_one_is_judged_in_words() {
    let Some(printer) = printer(SUPPLIES, "+media-empty,toner-low") else { return };
    assert!(printer.ipptool().contains("printer-state (enum) = idle"));
    let idle = printer_check("idle", &printer.uri(), "");
    let (doc, code) = inventory(&idle).run_json(&[]);
    let (status, detail) = verdict(&doc, "idle");
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.ends_with(": idle, 0 jobs queued"), "{detail}");

    // ippeveprinter prints one job at a time (a second is refused as busy): one queued job
    // is over max_queued = 0.
    printer.print();
    wait_until("ippeveprinter processing with the command's reasons", || {
        let attrs = printer.ipptool();
        attrs.contains("printer-state (enum) = processing") && attrs.contains("media-empty")
    });
    let busy = printer_check("lab", &printer.uri(), "warn_level = \"15%\"\nmin_level = \"5%\"\nmax_queued = 0");
    let (doc, code) = inventory(&busy).run_json(&[]);
    let (status, detail) = verdict(&doc, "lab");
    assert_eq!(status, "fail", "{detail}");
    assert_ne!(code, 0);
    for words in
        ["out of paper", "toner low", "Black toner 6%", "Waste toner 97% full", "1 job queued, more than 0", "printing"]
    {
        assert!(detail.contains(words), "{detail}\nexpected {words:?}");
    }
    // Out of paper and a full waste container come first: they are why it fails.
    assert!(detail.find("out of paper") < detail.find("Black toner 6%"), "{detail}");

    // Once the jobs are done the printer is idle; its reasons only "-report" what was
    // (ignored), and the levels it learned stay: 6% toner warns, the full waste bin fails.
    printer.release();
    wait_until("ippeveprinter idle again", || printer.ipptool().contains("printer-state (enum) = idle"));
    let (doc, _) = inventory(&busy).run_json(&[]);
    let (status, detail) = verdict(&doc, "lab");
    assert_eq!(status, "fail", "{detail}");
    assert!(!detail.contains("out of paper") && detail.contains("idle"), "{detail}");
    assert!(detail.contains("Waste toner 97% full"), "{detail}");
}

#[test]
fn a_level_the_printer_does_not_know_warns_never_passes() {
    let attrs = "marker-names=Cyan,Label-roll marker-levels=-2,-3 marker-types=ink,media-roll";
    let Some(printer) = printer(attrs, "+toner-low") else { return };
    printer.print();
    printer.release();
    wait_until("ippeveprinter reporting the levels", || printer.ipptool().contains("marker-levels"));
    wait_until("ippeveprinter idle again", || printer.ipptool().contains("printer-state (enum) = idle"));
    let (doc, code) = inventory(&printer_check("labels", &printer.uri(), "min_level = \"5%\"")).run_json(&[]);
    let (status, detail) = verdict(&doc, "labels");
    assert_eq!((status.as_str(), code), ("warn", 0), "{detail}");
    assert!(detail.contains("Cyan ink level unknown"), "{detail}");
    assert!(detail.contains("Label-roll media roll level unknown"), "{detail}");
    assert!(!detail.contains("0%"), "{detail}");
}

#[test]
fn ipps_judges_the_certificate_as_tls_does() {
    let Some(printer) = printer(SUPPLIES, "+none") else { return };
    let ca = Ca::root("clinic root");
    let keys = tempfile::tempdir().expect("temp dir");
    let (cert, key) = ca.leaf(&["localhost"], -1, 365).write_pem(keys.path());
    let Some((_stunnel, port, _dir)) = support::stunnel(printer.port, &cert, &key, "") else { return };
    let url = format!("ipps://localhost:{port}/ipp/print");
    let trusted = printer_check("trusted", &url, "ca_file = \"ca.pem\"");
    let soon = printer_check("soon", &url, "ca_file = \"ca.pem\"\ncert_warn_days = 400");
    let untrusted = printer_check("untrusted", &url, "");
    let inv: Inventory = inventory(&(trusted + &soon + &untrusted));
    inv.write("ca.pem", &ca.pem);
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "trusted");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("idle") && detail.contains("certificate"), "{detail}");
    let (status, detail) = verdict(&doc, "soon");
    assert_eq!(status, "warn", "{detail}");
    let (status, detail) = verdict(&doc, "untrusted");
    assert_eq!(status, "fail", "{detail}");
}

#[test]
fn a_printer_that_is_not_there_or_not_ipp_fails_in_words() {
    let port = closed_port();
    let check = printer_check("gone", &format!("ipp://127.0.0.1:{port}/ipp/print"), "");
    let (doc, code) = inventory(&check).run_json(&[]);
    let (status, detail) = verdict(&doc, "gone");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("refused"), "{detail}");
    assert_ne!(code, 0);
    let web = support::http(|_| support::reply(200, "<html>a web page</html>"));
    let check = printer_check("web", &format!("ipp://127.0.0.1:{}/", web.port()), "");
    let (doc, _) = inventory(&check).run_json(&[]);
    let (status, detail) = verdict(&doc, "web");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("not IPP"), "{detail}");
}

#[test]
fn printer_mistakes_are_config_errors_at_their_place() {
    for (extra, url, says) in [
        ("", "http://lab/ipp/print", "use ipp:// or ipps://"),
        ("warn_level = \"lots\"", "ipp://lab/ipp/print", "like \"15%\""),
        ("warn_level = \"5%\"\nmin_level = \"10%\"", "ipp://lab/ipp/print", "it would never warn"),
    ] {
        let inv = inventory(&printer_check("lab", url, extra));
        let output = inv.rounds(&["validate"]).output().expect("run rounds");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains(says) && stderr.contains("checks.toml:"), "{stderr}\nexpected {says:?}");
    }
}

// ---- cupsd: a stopped queue -------------------------------------------------------------

/// cupsd with its own configuration; everything it writes is in the test's folder.
struct Cups {
    // Fields drop in order: cupsd is killed first, then `dir` goes.
    _cupsd: Child,
    dir: tempfile::TempDir,
    port: u16,
}

/// Starts cupsd on a loopback port with its own ServerRoot, RequestRoot, TempDir, CacheDir,
/// StateDir and logs, no browsing and no DNS-SD, and no authentication (only the test talks
/// to it); `None` when cups-daemon or cups-client is missing.
fn cupsd() -> Option<Cups> {
    let binary = support::peer(&["/usr/sbin/cupsd"], "cups-daemon")?;
    support::peer(&["/usr/sbin/lpadmin"], "cups-client")?;
    support::peer(&["/usr/sbin/cupsdisable"], "cups-client")?;
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    for sub in ["spool", "tmp", "cache", "state", "log"] {
        std::fs::create_dir(d.join(sub)).expect("cupsd folder");
    }
    let port = closed_port();
    let conf = format!(
        "Listen 127.0.0.1:{port}\nBrowsing No\nBrowseLocalProtocols none\nWebInterface No\nDefaultAuthType None\n\
         LogLevel warn\n<Location />\n  Order allow,deny\n  Allow all\n</Location>\n\
         <Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n"
    );
    std::fs::write(d.join("cupsd.conf"), conf).expect("cupsd.conf");
    let at = |sub: &str| d.join(sub).display().to_string();
    let files = format!(
        "ServerRoot {}\nRequestRoot {}\nTempDir {}\nCacheDir {}\nStateDir {}\nAccessLog {}\nErrorLog {}\n\
         PageLog {}\nPrintcap {}\nFileDevice Yes\n",
        d.display(),
        at("spool"),
        at("tmp"),
        at("cache"),
        at("state"),
        at("log/access_log"),
        at("log/error_log"),
        at("log/page_log"),
        at("printcap"),
    );
    std::fs::write(d.join("cups-files.conf"), files).expect("cups-files.conf");
    let mut command = Command::new(binary);
    command.arg("-f").arg("-c").arg(d.join("cupsd.conf")).arg("-s").arg(d.join("cups-files.conf"));
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut cupsd = Child::spawn(&mut command);
    let mut exited = false;
    wait_until("cupsd", || {
        exited = cupsd.0.try_wait().ok().flatten().is_some();
        exited || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let log = std::fs::read_to_string(d.join("log/error_log")).unwrap_or_default();
    assert!(!exited, "cupsd exited: {log}");
    Some(Cups { _cupsd: cupsd, dir, port })
}

impl Cups {
    fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn uri(&self, queue: &str) -> String {
        format!("ipp://127.0.0.1:{}/printers/{queue}", self.port)
    }

    /// Runs a CUPS administration tool against this cupsd (`-h`, never the system's).
    fn admin(&self, tool: &str, args: &[&str]) {
        let output = Command::new(format!("/usr/sbin/{tool}"))
            .args(["-h", &self.server()])
            .args(args)
            .env("CUPS_SERVERROOT", self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{tool} {args:?}: {said}");
    }
}

#[test]
fn a_stopped_cups_queue_fails_in_words_and_passes_once_enabled() {
    let Some(cups) = cupsd() else { return };
    // A queue printing to nothing, accepting and enabled.
    cups.admin("lpadmin", &["-p", "ward", "-v", "file:/dev/null", "-E"]);
    let toml = printer_check("ward printer", &cups.uri("ward"), "");
    let (doc, code) = inventory(&toml).run_json(&[]);
    let (status, detail) = verdict(&doc, "ward printer");
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.ends_with(": idle, 0 jobs queued"), "{detail}");

    cups.admin("cupsdisable", &["ward"]);
    let (doc, code) = inventory(&toml).run_json(&[]);
    let (status, detail) = verdict(&doc, "ward printer");
    assert_eq!(status, "fail", "{detail}");
    assert_ne!(code, 0);
    assert!(detail.contains("but stopped"), "{detail}");

    cups.admin("cupsenable", &["ward"]);
    let (doc, code) = inventory(&toml).run_json(&[]);
    let (status, detail) = verdict(&doc, "ward printer");
    assert_eq!((status.as_str(), code), ("pass", 0), "enabled again: {detail}");
}
