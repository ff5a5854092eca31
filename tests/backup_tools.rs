//! `[[restic]]` and `[[borg]]` against repositories the tests create with Debian's real
//! restic and borgbackup: fresh, old, filtered, wrong password, missing, unencrypted.

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
