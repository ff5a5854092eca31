//! `[[restic]]` and `[[borg]]` against repositories the tests create with Debian's real
//! restic and borgbackup: fresh, old, filtered, wrong password, missing, unencrypted; and
//! `[[pgbackrest]]` against the real pgbackrest: a real stanza with a real PostgreSQL, a
//! missing stanza, and a recorded `info --output=json` for states a test cannot wait for.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{inventory, verdict};

const PASSWORD: &str = "restic-canary-password-42";

/// Runs a backup tool the way the test sets a repository up; panics with its stderr.
fn tool(program: &Path, args: &[&str], env: &[(&str, &str)]) {
    let out = Command::new(program).args(args).envs(env.iter().copied()).output().expect("run the backup tool");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn restic_repo(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let restic = support::peer(&["/usr/bin/restic", "/usr/local/bin/restic"], "restic")?;
    let repo = dir.join("restic-repo");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("ehr.dump"), "dump").unwrap();
    let env = [("RESTIC_PASSWORD", PASSWORD)];
    tool(&restic, &["init", "-q", "--repo", &repo.display().to_string()], &env);
    let (r, d) = (repo.display().to_string(), data.display().to_string());
    tool(&restic, &["backup", "-q", "--no-cache", "--repo", &r, "--host", "ehr-db-01", "--tag", "nightly", &d], &env);
    tool(
        &restic,
        &["backup", "-q", "--no-cache", "--repo", &r, "--host", "old-server", "--time", "2026-01-01 03:00:00", &d],
        &env,
    );
    Some((restic, repo))
}

fn restic_check(name: &str, repo: &Path, extra: &str) -> String {
    format!(
        "[[restic]]\nname = {name:?}\nrepository = {:?}\nmax_age = \"26h\"\ntimeout = \"60s\"\n{extra}\n",
        repo.display().to_string()
    )
}

#[test]
fn restic_snapshots_are_judged_by_the_repository_itself() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_, repo)) = restic_repo(dir.path()) else { return };
    let missing = dir.path().join("no-such-repo");
    let toml = restic_check("ehr", &repo, "password = \"${RESTIC_PW}\"\nhost = \"ehr-db-01\"\ncheck = true")
        + &restic_check("old host", &repo, "password = \"${RESTIC_PW}\"\nhost = \"old-server\"")
        + &restic_check("no such host", &repo, "password = \"${RESTIC_PW}\"\nhost = \"nobody\"")
        + &restic_check("wrong password", &repo, "password_file = \"wrong.pass\"")
        + &restic_check("missing", &missing, "password = \"${RESTIC_PW}\"");
    let inv = inventory(&toml);
    inv.write("wrong.pass", "not-the-password\n");
    let output = inv.rounds(&["--format", "json", "--no-state"]).env("RESTIC_PW", PASSWORD).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains(PASSWORD), "{text}");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "ehr");
    assert_eq!(status, "pass", "{detail}");
    assert!(
        detail.starts_with("newest snapshot ")
            && detail.contains(" of ehr-db-01 is ")
            && detail.ends_with("; restic check passed"),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "old host");
    assert_eq!(status, "fail");
    assert!(detail.contains(" of old-server is ") && detail.ends_with(" old, limit 26 h"), "{detail}");
    assert_eq!(
        verdict(&doc, "no such host"),
        ("fail".into(), "the repository holds no snapshot matching the filters".into())
    );
    assert_eq!(verdict(&doc, "wrong password"), ("fail".into(), "wrong password for the repository".into()));
    assert_eq!(verdict(&doc, "missing"), ("fail".into(), "no repository at this location".into()));
}

/// A repository locked by a running backup (real restic reading a stdin that stays open):
/// the snapshots still answer, and `restic check`, which needs an exclusive lock, says the
/// repository is locked rather than failing in restic's words.
#[test]
fn restic_check_on_a_locked_repository() {
    let dir = tempfile::tempdir().unwrap();
    let Some((restic, repo)) = restic_repo(dir.path()) else { return };
    let mut backup = std::process::Command::new(&restic);
    backup
        .args(["backup", "-q", "--no-cache", "--stdin", "--stdin-filename", "stream.dump", "--repo"])
        .arg(&repo)
        .env("RESTIC_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // Holds stdin open (and so the lock) until dropped, then is killed.
    let running = support::Child::spawn(&mut backup);
    let locks = repo.join("locks");
    support::wait_until("restic's lock", || std::fs::read_dir(&locks).is_ok_and(|mut d| d.next().is_some()));
    let inv = inventory(&restic_check("ehr", &repo, "password = \"${RESTIC_PW}\"\nhost = \"ehr-db-01\"\ncheck = true"));
    let output = inv.rounds(&["--format", "json", "--no-state"]).env("RESTIC_PW", PASSWORD).output().unwrap();
    drop(running);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "ehr");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.ends_with("; but restic check failed: the repository is locked by another restic process"),
        "{detail}"
    );
}

#[test]
fn borg_archives_and_encryption() {
    let Some(borg) = support::peer(&["/usr/bin/borg", "/usr/local/bin/borg"], "borgbackup") else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("files.tar"), "files").unwrap();
    // A HOME of the test's own: borg keeps what it knows of repositories there.
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let home_s = home.display().to_string();
    let plain = dir.path().join("plain").display().to_string();
    let secret = dir.path().join("secret").display().to_string();
    let d = data.display().to_string();
    let env_plain = [("HOME", home_s.as_str()), ("BORG_PASSPHRASE", "")];
    tool(&borg, &["init", "-e", "none", &plain], &env_plain);
    tool(&borg, &["create", &format!("{plain}::files-new"), &d], &env_plain);
    let env_secret = [("HOME", home_s.as_str()), ("BORG_PASSPHRASE", "borg-canary-passphrase")];
    tool(&borg, &["init", "-e", "repokey", &secret], &env_secret);
    tool(&borg, &["create", "--timestamp", "2026-01-01T03:00:00", &format!("{secret}::files-old"), &d], &env_secret);
    let check = |name: &str, repo: &str, extra: &str| {
        format!("[[borg]]\nname = {name:?}\nrepository = {repo:?}\nmax_age = \"26h\"\ntimeout = \"60s\"\n{extra}\n")
    };
    let toml = check("plain", &plain, "")
        + &check("must be encrypted", &plain, "require_encryption = true")
        + &check("old", &secret, "passphrase = \"${BORG_PW}\"\nrequire_encryption = true")
        + &check("wrong passphrase", &secret, "passphrase = \"not it\"")
        + &check("missing", &dir.path().join("nope").display().to_string(), "");
    let inv = inventory(&toml);
    let output = inv
        .rounds(&["--format", "json", "--no-state"])
        .env("HOME", &home)
        .env("BORG_PW", "borg-canary-passphrase")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&output.stdout).contains("borg-canary"));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "plain");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("newest archive files-new is ") && detail.ends_with(", encryption none"), "{detail}");
    assert_eq!(
        verdict(&doc, "must be encrypted"),
        ("fail".into(), "the repository is not encrypted (require_encryption = true)".into())
    );
    let (status, detail) = verdict(&doc, "old");
    assert_eq!(status, "fail");
    assert!(
        detail.starts_with("newest archive files-old is ") && detail.ends_with(", limit 26 h, encryption repokey"),
        "{detail}"
    );
    assert_eq!(verdict(&doc, "wrong passphrase").1, "wrong passphrase for the repository");
    assert_eq!(verdict(&doc, "missing").1, "no repository at this location");
}

/// A repository another borg holds (`borg with-lock`, the real tool): said in words.
#[test]
fn borg_locked_repository() {
    let Some(borg) = support::peer(&["/usr/bin/borg", "/usr/local/bin/borg"], "borgbackup") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (home, data) = (dir.path().join("home"), dir.path().join("data"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("files.tar"), "files").unwrap();
    let repo = dir.path().join("repo");
    let (home_s, repo_s) = (home.display().to_string(), repo.display().to_string());
    let env = [("HOME", home_s.as_str()), ("BORG_PASSPHRASE", "")];
    tool(&borg, &["init", "-e", "none", &repo_s], &env);
    tool(&borg, &["create", &format!("{repo_s}::files"), &data.display().to_string()], &env);
    let mut hold = std::process::Command::new(&borg);
    // `cat` holds the lock until its stdin (ours) closes: when the test drops the holder,
    // killing borg, cat ends too instead of outliving the test as a `sleep` would.
    hold.args(["with-lock", &repo_s, "cat"]).envs(env).stdin(std::process::Stdio::piped());
    hold.stdout(std::process::Stdio::null());
    let holder = support::Child::spawn(&mut hold);
    support::wait_until("borg's lock", || repo.join("lock.exclusive").exists());
    let inv = inventory(&format!(
        "[[borg]]\nname = \"files\"\nrepository = {repo_s:?}\nmax_age = \"26h\"\ntimeout = \"60s\"\n"
    ));
    let output = inv.rounds(&["--format", "json", "--no-state"]).env("HOME", &home).output().unwrap();
    drop(holder);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verdict(&doc, "files"), ("fail".into(), "the repository is locked by another borg process".into()));
}

/// A repository rounds may read but not write (it runs as `nobody` here, as a monitoring
/// account would): borg cannot take its lock, and that is said with borg's own words
/// ("Permission denied"), not as a lock another borg holds. A restic repository it may not
/// read at all is said in restic's words, not as a missing repository.
#[test]
fn repositories_rounds_may_not_write_or_read() {
    let Some(borg) = support::peer(&["/usr/bin/borg", "/usr/local/bin/borg"], "borgbackup") else { return };
    let Some(setpriv) = support::peer(&["/usr/bin/setpriv", "/bin/setpriv"], "util-linux") else { return };
    if !rustix::process::geteuid().is_root() {
        let _: Option<()> = support::skipped("needs root, to run rounds as a second account (nobody)".into());
        return;
    }
    let inv = inventory("");
    let (repo, home, data) = (inv.dir.path().join("repo"), inv.dir.path().join("home"), inv.dir.path().join("data"));
    for dir in [&home, &data] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(data.join("files.tar"), "files").unwrap();
    let (home_s, repo_s) = (home.display().to_string(), repo.display().to_string());
    let env = [("HOME", home_s.as_str()), ("BORG_PASSPHRASE", "")];
    tool(&borg, &["init", "-e", "none", &repo_s], &env);
    tool(&borg, &["create", &format!("{repo_s}::files"), &data.display().to_string()], &env);
    let Some((_, restic_repo)) = restic_repo(inv.dir.path()) else { return };
    inv.write(
        "checks.toml",
        &(format!("[[borg]]\nname = \"files\"\nrepository = {repo_s:?}\nmax_age = \"26h\"\ntimeout = \"60s\"\n")
            + &restic_check("restic", &restic_repo, &format!("password = {PASSWORD:?}"))),
    );
    // Everything readable by all, writable by root only; a home of nobody's own for borg;
    // the restic repository root's alone.
    let chmod = Command::new("chmod").arg("-R").arg("a+rX").arg(inv.dir.path()).status().unwrap();
    assert!(chmod.success());
    std::fs::set_permissions(&restic_repo, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let bin = inv.dir.path().join("rounds");
    std::fs::copy(assert_cmd::cargo::cargo_bin!("rounds"), &bin).unwrap();
    let run = || {
        Command::new(&setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(["--format", "json", "--no-state", "--config"])
            .arg(&inv.path)
            .env("HOME", &home)
            .output()
            .unwrap()
    };
    // Another test forking while the copy was open for writing can make exec fail briefly.
    let mut output = run();
    support::wait_until("rounds to start as nobody", || {
        let busy = String::from_utf8_lossy(&output.stderr).contains("Text file busy");
        if busy {
            output = run();
        }
        !busy
    });
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"));
    let (status, detail) = verdict(&doc, "files");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.starts_with("borg cannot take the repository's lock (it must write there even to list): ")
            && detail.contains("Permission denied"),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "restic");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.starts_with("restic failed (exit code 1): Fatal: unable to open repository at ")
            && detail.ends_with("permission denied"),
        "{detail}"
    );
}

// ---- pgbackrest --------------------------------------------------------------------------

/// One stanza as Debian's pgBackRest 2.45 prints it in `info --output=json`: the keys and
/// nesting of a real stanza with one full backup (the shape pgBackRest documents as stable),
/// with the times, status and flags a test needs. Backups need a running PostgreSQL, so the
/// fresh/old/locked cases replay this recorded shape; the missing stanza runs the real tool.
fn pgbackrest_stanza(name: &str, code: u8, message: &str, stop_ago_secs: u64, error: bool, held: bool) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let stop = now - stop_ago_secs;
    let start = stop - 8;
    let backup = match code {
        2 => String::new(),
        _ => format!(
            r#"{{"archive":{{"start":"000000010000000000000005","stop":"000000010000000000000005"}},"backrest":{{"format":5,"version":"2.45"}},"database":{{"id":1,"repo-key":1}},"error":{error},"info":{{"delta":24432739,"repository":{{"delta":2986256,"size":2986256}},"size":24432739}},"label":"20261124-062014F","lsn":{{"start":"0/5000028","stop":"0/5000138"}},"prior":null,"reference":null,"timestamp":{{"start":{start},"stop":{stop}}},"type":"full"}}"#
        ),
    };
    format!(
        r#"[{{"archive":[{{"database":{{"id":1,"repo-key":1}},"id":"15-1","max":"00000001000000000000000B","min":"000000010000000000000003"}}],"backup":[{backup}],"cipher":"none","db":[{{"id":1,"repo-key":1,"system-id":7310000000000000000,"version":"15"}}],"name":"{name}","repo":[{{"cipher":"none","key":1,"status":{{"code":{code},"message":"{message}"}}}}],"status":{{"code":{code},"lock":{{"backup":{{"held":{held}}}}},"message":"{message}"}}}}]"#
    )
}

fn pgbackrest_check(stanza: &str, extra: &str) -> String {
    format!("[[pgbackrest]]\nname = {stanza:?}\nstanza = {stanza:?}\nmax_age = \"26h\"\nwarn_age = \"20h\"\n{extra}\n")
}

/// The real pgbackrest on a repository with no stanza: the status code in words.
#[test]
fn pgbackrest_missing_stanza_from_the_real_tool() {
    let Some(program) = support::peer(&["/usr/bin/pgbackrest"], "pgbackrest") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let conf = format!("[global]\nrepo1-path={d}/repo\nlog-path={d}\nlock-path={d}\nlog-level-file=off\n");
    std::fs::create_dir_all(dir.path().join("repo")).unwrap();
    let extra = format!("program = {:?}\nconfig = \"pgbackrest.conf\"", program.display().to_string());
    let inv = inventory(&pgbackrest_check("main", &extra));
    inv.write("pgbackrest.conf", &conf);
    let (doc, code) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "main");
    assert_eq!((status.as_str(), code), ("fail", 2), "{detail}");
    assert_eq!(detail, "no such stanza in the repository (missing stanza path): was stanza-create run?");
}

/// A throwaway PostgreSQL cluster (Debian's postgresql) archiving into a real pgBackRest
/// stanza, stopped on drop. As root (CI) everything runs as the `postgres` user, since
/// PostgreSQL refuses to run as root; the socket lives in the cluster's own folder and no TCP
/// port is opened.
struct PgCluster {
    dir: tempfile::TempDir,
    pg_ctl: PathBuf,
    as_postgres: bool,
}

impl PgCluster {
    /// `program` with `args`, as the user that owns the cluster; panics with its stderr.
    fn run(&self, program: &Path, args: &[&str]) {
        run_as(self.as_postgres, program, args);
    }

    fn start(pgbackrest: &Path) -> Option<PgCluster> {
        let candidates = [
            "/usr/lib/postgresql/17/bin/initdb",
            "/usr/lib/postgresql/16/bin/initdb",
            "/usr/lib/postgresql/15/bin/initdb",
        ];
        let initdb = support::peer(&candidates, "postgresql")?;
        let pg_ctl = initdb.with_file_name("pg_ctl");
        let as_postgres = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        if as_postgres {
            let status = Command::new("chown").args(["postgres:postgres", &d]).status().unwrap();
            assert!(status.success(), "chown to postgres failed");
        }
        let cluster = PgCluster { dir, pg_ctl, as_postgres };
        cluster.run(&initdb, &["-D", &format!("{d}/data"), "-A", "trust", "-U", "postgres", "--no-sync"]);
        let conf = format!(
            "[global]\nrepo1-path={d}/repo\nlog-path={d}\nlock-path={d}\nspool-path={d}\nlog-level-file=off\n\
             start-fast=y\ncompress-type=none\narchive-timeout=30\nrepo1-retention-full=2\n\
             [clinic]\npg1-path={d}/data\npg1-port=5432\npg1-socket-path={d}\n"
        );
        let settings = format!(
            "port = 5432\nlisten_addresses = ''\nunix_socket_directories = '{d}'\nfsync = off\narchive_mode = on\n\
             archive_command = '{} --config={d}/pgbackrest.conf --stanza=clinic archive-push %p'\n",
            pgbackrest.display()
        );
        cluster.write("pgbackrest.conf", &conf);
        let postgresql_conf = cluster.dir.path().join("data/postgresql.conf");
        let mut text = std::fs::read_to_string(&postgresql_conf).unwrap();
        text.push_str(&settings);
        std::fs::write(&postgresql_conf, text).unwrap();
        cluster.run(&cluster.pg_ctl, &["-D", &format!("{d}/data"), "-l", &format!("{d}/postgres.log"), "-w", "start"]);
        Some(cluster)
    }

    /// Writes a file into the cluster's folder, owned by the cluster's user.
    fn write(&self, name: &str, text: &str) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        if self.as_postgres {
            let status = Command::new("chown").arg("postgres:postgres").arg(&path).status().unwrap();
            assert!(status.success());
        }
    }

    fn conf(&self) -> String {
        self.dir.path().join("pgbackrest.conf").display().to_string()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let mut command = match self.as_postgres {
            true => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]).arg(&self.pg_ctl);
                c
            }
            false => Command::new(&self.pg_ctl),
        };
        let _ = command.args(["-D", &data, "-m", "immediate", "-w", "stop"]).output();
    }
}

fn run_as(as_postgres: bool, program: &Path, args: &[&str]) {
    let mut command = match as_postgres {
        true => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]).arg(program);
            c
        }
        false => Command::new(program),
    };
    let out = command.args(args).current_dir("/").output().expect("run");
    assert!(out.status.success(), "{} {args:?}: {}", program.display(), String::from_utf8_lossy(&out.stderr));
}

/// A real stanza: PostgreSQL archiving into pgBackRest, one full backup taken by the real
/// tool, then judged by rounds from the real `info --output=json`.
#[test]
fn pgbackrest_real_stanza_with_a_fresh_full_backup() {
    let Some(program) = support::peer(&["/usr/bin/pgbackrest"], "pgbackrest") else { return };
    let Some(cluster) = PgCluster::start(&program) else { return };
    let conf = cluster.conf();
    for command in ["stanza-create", "backup"] {
        cluster.run(&program, &[&format!("--config={conf}"), "--stanza=clinic", command]);
    }
    let extra = format!("program = {:?}\nconfig = {conf:?}", program.display().to_string());
    let (doc, code) = inventory(&pgbackrest_check("clinic", &extra)).run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "clinic");
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.starts_with("newest full backup ") && detail.ends_with(" old (limit 26 h)"), "{detail}");
}

/// Fresh, old, no valid backup, and a running backup whose last one found checksum errors,
/// through a stand-in program that prints the recorded JSON and keeps the arguments.
#[test]
fn pgbackrest_judges_the_newest_backup() {
    let dir = tempfile::tempdir().unwrap();
    let stand_in = dir.path().join("pgbackrest");
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do case $a in --stanza=*) s=${{a#--stanza=}};; esac; done\n\
         printf '%s\\n' \"$*\" >> {0}/args\ncat {0}/$s.json\n",
        dir.path().display()
    );
    std::fs::write(&stand_in, script).unwrap();
    std::fs::set_permissions(&stand_in, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let stanzas = [
        ("fresh", pgbackrest_stanza("fresh", 0, "ok", 2 * 3600, false, false)),
        ("aging", pgbackrest_stanza("aging", 0, "ok", 22 * 3600, false, false)),
        ("old", pgbackrest_stanza("old", 0, "ok", 3 * 86_400, false, false)),
        ("empty", pgbackrest_stanza("empty", 2, "no valid backups", 0, false, false)),
        ("busy", pgbackrest_stanza("busy", 0, "ok", 3600, true, true)),
    ];
    for (name, json) in &stanzas {
        std::fs::write(dir.path().join(format!("{name}.json")), json).unwrap();
    }
    let program = format!("program = {:?}", stand_in.display().to_string());
    let toml: String = stanzas.iter().map(|(name, _)| pgbackrest_check(name, &program)).collect();
    let inv = inventory(
        &(toml + "[[pgbackrest]]\nname = \"repo 2\"\nstanza = \"fresh\"\nrepo = 2\nmax_age = \"26h\"\n" + &program),
    );
    let (doc, _) = inv.run_json(&["--no-state"]);
    let expect = [
        ("fresh", "pass", "newest full backup 20261124-062014F is 2 h old (limit 26 h)"),
        ("aging", "warn", "older than 20 h"),
        ("old", "fail", "newest full backup 20261124-062014F is 3 days old, limit 26 h"),
        ("empty", "fail", "the stanza has no valid backup"),
        (
            "busy",
            "warn",
            "; it found page checksum errors in the database (see pgbackrest info); a backup is running now",
        ),
    ];
    for (name, status, words) in expect {
        let (got, detail) = verdict(&doc, name);
        assert_eq!(got, status, "{name}: {detail}");
        assert!(detail.contains(words), "{name}: {detail}");
    }
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert!(args.lines().any(|l| l == "--stanza=fresh --output=json info"), "{args}");
    assert!(args.lines().any(|l| l == "--stanza=fresh --output=json --repo=2 info"), "{args}");
}

/// A script on the check's `program` that appends its argv to `log`, then runs `real`.
fn argv_recorder(dir: &Path, name: &str, real: &Path, log: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join(name);
    let body =
        format!("#!/bin/sh\nprintf '%s\\n' \"$0\" \"$@\" >> '{}'\nexec '{}' \"$@\"\n", log.display(), real.display());
    std::fs::write(&script, body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// `ps` shows every process's argv to every user: a repository written with `${VAR}` (an
/// sftp:/rest: location may hold a password) reaches restic and borg only through their
/// environment (`RESTIC_REPOSITORY`, `BORG_REPO`), and the checks still read it.
#[test]
fn repositories_and_passwords_never_reach_a_tools_argv() {
    let dir = tempfile::tempdir().unwrap();
    let Some((restic, restic_repo)) = restic_repo(dir.path()) else { return };
    let Some(borg) = support::peer(&["/usr/bin/borg", "/usr/local/bin/borg"], "borgbackup") else { return };
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let home_s = home.display().to_string();
    let borg_repo = dir.path().join("borg-canary-repo").display().to_string();
    let data = dir.path().join("data").display().to_string();
    let env = [("HOME", home_s.as_str()), ("BORG_PASSPHRASE", "")];
    tool(&borg, &["init", "-e", "none", &borg_repo], &env);
    tool(&borg, &["create", &format!("{borg_repo}::files-new"), &data], &env);
    let log = dir.path().join("argv.log");
    let restic_wrapper = argv_recorder(dir.path(), "restic-wrapper", &restic, &log);
    let borg_wrapper = argv_recorder(dir.path(), "borg-wrapper", &borg, &log);
    let toml = format!(
        "[[restic]]\nname = \"restic\"\nrepository = \"${{RESTIC_REPO}}\"\npassword = \"${{RESTIC_PW}}\"\n\
         max_age = \"26h\"\ntimeout = \"60s\"\ncheck = true\nprogram = {:?}\n\
         [[borg]]\nname = \"borg\"\nrepository = \"${{BORG_REPO_PATH}}\"\nmax_age = \"26h\"\ntimeout = \"60s\"\nprogram = {:?}\n",
        restic_wrapper.display().to_string(),
        borg_wrapper.display().to_string()
    );
    let inv = inventory(&toml);
    let restic_repo_s = restic_repo.display().to_string();
    let output = inv
        .rounds(&["--format", "json", "--no-state"])
        .env("HOME", &home)
        .env("RESTIC_REPO", &restic_repo_s)
        .env("RESTIC_PW", PASSWORD)
        .env("BORG_REPO_PATH", &borg_repo)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "restic");
    assert_eq!(status, "pass", "{detail}");
    let (status, detail) = verdict(&doc, "borg");
    assert_eq!(status, "pass", "{detail}");
    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(argv.contains("snapshots") && argv.contains("check") && argv.contains("list"), "{argv}");
    for secret in [restic_repo_s.as_str(), borg_repo.as_str(), PASSWORD] {
        assert!(!argv.contains(secret), "{secret} in the argv of a tool:\n{argv}");
    }
}
