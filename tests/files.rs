//! `[[backup]]` and `[[disk]]` against real folders and files.

mod support;

use std::time::{Duration, SystemTime};

use filetime::FileTime;
use support::{inventory, verdict};

// ---- backup ---------------------------------------------------------------------------

fn set_age(path: &std::path::Path, hours: u64) {
    let when = SystemTime::now() - Duration::from_secs(hours * 3600 + 60);
    filetime::set_file_mtime(path, FileTime::from_system_time(when)).expect("set mtime");
}

const BACKUP: &str = r#"
[[backup]]
name = "EHR nightly dump"
path = "backups"
pattern = "*.dump"
max_age = "26h"
warn_age = "25h"
min_size = "1 KiB"
"#;

fn backup_inventory() -> support::Inventory {
    let inv = inventory(BACKUP);
    std::fs::create_dir(inv.dir.path().join("backups")).expect("mkdir");
    inv
}

#[test]
fn backup_newest_matching_file_counts() {
    let inv = backup_inventory();
    let big = "x".repeat(4096);
    set_age(&inv.write("backups/EHR-2026-11-22.dump", &big), 50);
    set_age(&inv.write("backups/EHR-2026-11-24.dump", &big), 3);
    set_age(&inv.write("backups/notes.txt", "newer but not a dump"), 0);
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(
        verdict(&doc, "EHR nightly dump"),
        ("pass".into(), "newest EHR-2026-11-24.dump is 3 h old (limit 26 h), 4.0 KiB".into())
    );
    assert_eq!(code, 0);
}

#[test]
fn backup_too_old_fails_and_says_by_how_much() {
    let inv = backup_inventory();
    set_age(&inv.write("backups/EHR.dump", &"x".repeat(4096)), 31);
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "EHR nightly dump"), ("fail".into(), "newest EHR.dump is 31 h old, limit 26 h".into()));
    assert_eq!(code, 2);
}

#[test]
fn backup_past_warn_age_warns() {
    let inv = backup_inventory();
    set_age(&inv.write("backups/EHR.dump", &"x".repeat(4096)), 25);
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "EHR nightly dump").0, "warn");
}

#[test]
fn backup_too_small_fails() {
    let inv = backup_inventory();
    set_age(&inv.write("backups/EHR.dump", "tiny"), 1);
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "EHR nightly dump"), ("fail".into(), "newest EHR.dump is 4 B, below 1.0 KiB".into()));
}

#[test]
fn backup_with_no_matching_file_or_no_folder() {
    let inv = backup_inventory();
    inv.write("backups/readme.txt", "no dumps here");
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "EHR nightly dump"), ("fail".into(), "no file matches *.dump".into()));

    let missing = inventory(BACKUP);
    let (doc, _) = missing.run_json(&[]);
    assert_eq!(verdict(&doc, "EHR nightly dump"), ("fail".into(), "path does not exist".into()));
}

#[test]
fn backup_path_can_be_a_single_file() {
    let inv = inventory("[[backup]]\nname = \"sync log\"\npath = \"last-sync.log\"\nmax_age = \"8d\"\n");
    set_age(&inv.write("last-sync.log", "done"), 24 * 9);
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "sync log"), ("fail".into(), "newest last-sync.log is 9 days old, limit 8 days".into()));
}

/// A restored file or a skewed clock: a file dated in the future proves nothing, so the
/// folder is judged by the newest file that is not.
#[test]
fn a_backup_dated_in_the_future_is_named_and_not_trusted() {
    let inv = backup_inventory();
    let big = "x".repeat(4096);
    let future = inv.write("backups/EHR-restored.dump", &big);
    let ahead = SystemTime::now() + Duration::from_secs(3 * 3600 + 60);
    filetime::set_file_mtime(&future, FileTime::from_system_time(ahead)).unwrap();
    set_age(&inv.write("backups/EHR-old.dump", &big), 40);
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(
        verdict(&doc, "EHR nightly dump"),
        (
            "fail".into(),
            "newest EHR-restored.dump is dated 3 h in the future: clock skew?; judged by the next: \
             newest EHR-old.dump is 40 h old, limit 26 h"
                .into()
        )
    );
    assert_eq!(code, 2);
    // Fresh besides: still not a pass, because the clock cannot be trusted.
    set_age(&inv.dir.path().join("backups/EHR-old.dump"), 2);
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "EHR nightly dump");
    assert_eq!(status, "warn", "{detail}");
    // Alone: nothing to judge by.
    std::fs::remove_file(inv.dir.path().join("backups/EHR-old.dump")).unwrap();
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "EHR nightly dump");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("no file that is not dated in the future"), "{detail}");
}

/// A FIFO or a socket where the backup should be is not a backup, even when it is newest.
#[test]
fn a_fifo_or_socket_is_not_a_backup_file() {
    let inv = backup_inventory();
    set_age(&inv.write("backups/EHR-old.dump", &"x".repeat(4096)), 3);
    let fifo = inv.dir.path().join("backups/EHR-new.dump");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo (coreutils)");
    assert!(made.success());
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(
        verdict(&doc, "EHR nightly dump"),
        ("fail".into(), "newest EHR-new.dump is a FIFO, not a backup file".into())
    );
    let socket_path = inv.dir.path().join("socket.dump");
    let _socket = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    let toml =
        format!("[[backup]]\nname = \"sock\"\npath = {:?}\nmax_age = \"1h\"\n", socket_path.display().to_string());
    let (doc, _) = inventory(&toml).run_json(&[]);
    assert_eq!(verdict(&doc, "sock"), ("fail".into(), "newest socket.dump is a socket, not a backup file".into()));
}

#[test]
fn a_dangling_symlink_is_named_as_one() {
    let inv = inventory("[[backup]]\nname = \"latest\"\npath = \"latest.dump\"\nmax_age = \"26h\"\n");
    std::os::unix::fs::symlink("/nonexistent/EHR-2026-11-24.dump", inv.dir.path().join("latest.dump")).unwrap();
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(
        verdict(&doc, "latest"),
        ("fail".into(), "latest.dump is a broken symlink to /nonexistent/EHR-2026-11-24.dump".into())
    );
}

// ---- disk -----------------------------------------------------------------------------

#[test]
fn disk_reports_free_space_and_thresholds() {
    let inv = inventory(
        "[[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n\n\
         [[disk]]\nname = \"impossible\"\npath = \"/\"\nmin_free = \"100%\"\n\n\
         [[disk]]\nname = \"huge\"\npath = \"/\"\nmin_free = \"1 KiB\"\nwarn_free = \"1000000 TiB\"\n",
    );
    let (doc, code) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "root");
    assert_eq!(status, "pass");
    assert!(detail.contains(" free of ") && detail.ends_with("%)"), "{detail}");
    let (status, detail) = verdict(&doc, "impossible");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("below 100%"), "{detail}");
    assert_eq!(verdict(&doc, "huge").0, "warn");
    assert_eq!(code, 2);
}

#[test]
fn disk_path_that_does_not_exist_fails() {
    let inv = inventory("[[disk]]\nname = \"gone\"\npath = \"/no/such/mount\"\n");
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "gone");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("cannot read free space"), "{detail}");
}

/// /proc has no size: free space there means nothing, so it is no pass.
#[test]
fn a_pseudo_filesystem_is_not_a_disk() {
    let (doc, _) = inventory("[[disk]]\nname = \"proc\"\npath = \"/proc\"\n").run_json(&[]);
    assert_eq!(
        verdict(&doc, "proc"),
        ("fail".into(), "the filesystem reports no size; is this a real filesystem?".into())
    );
}

// ---- folders that fight back --------------------------------------------------------------

#[test]
fn a_symlink_loop_and_non_utf8_names_are_said_clearly() {
    use std::os::unix::ffi::OsStrExt;
    let inv = inventory("[[backup]]\nname = \"loop\"\npath = \"loops\"\npattern = \"*.dump\"\nmax_age = \"26h\"\n\n[[backup]]\nname = \"odd names\"\npath = \"odd\"\nmax_age = \"26h\"\n");
    let loops = inv.dir.path().join("loops");
    std::fs::create_dir(&loops).unwrap();
    std::os::unix::fs::symlink("b.dump", loops.join("a.dump")).unwrap();
    std::os::unix::fs::symlink("a.dump", loops.join("b.dump")).unwrap();
    let odd = inv.dir.path().join("odd");
    std::fs::create_dir(&odd).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"EHR-caf\xe9.dump");
    std::fs::write(odd.join(name), "x").unwrap();
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "loop");
    assert_eq!(status, "fail");
    assert!(
        detail.ends_with(".dump is a symlink loop (through b.dump)")
            || detail.ends_with(".dump is a symlink loop (through a.dump)"),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "odd names");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("newest EHR-caf\u{fffd}.dump is "), "{detail}");
}

/// A folder rounds may not read, checked as an unprivileged user (root reads everything).
#[test]
fn a_folder_without_permission_says_so() {
    let Some(_) = support::peer(&["/usr/bin/setpriv", "/bin/setpriv"], "util-linux") else { return };
    let inv = inventory("[[backup]]\nname = \"locked\"\npath = \"locked\"\nmax_age = \"26h\"\n");
    let locked = inv.dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::write(locked.join("x.dump"), "x").unwrap();
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
    };
    mode(inv.dir.path(), 0o755);
    mode(&inv.path, 0o644);
    mode(&locked, 0o700);
    let bin = inv.dir.path().join("rounds");
    std::fs::copy(assert_cmd::cargo::cargo_bin!("rounds"), &bin).unwrap();
    let line = format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups {} --format json --no-state --config {}",
        bin.display(),
        inv.path.display()
    );
    // Another test forking while the copy was open for writing can make exec fail briefly.
    let mut output = std::process::Command::new("sh").args(["-c", &line]).output().unwrap();
    for _ in 0..20 {
        if !String::from_utf8_lossy(&output.stderr).contains("Text file busy") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        output = std::process::Command::new("sh").args(["-c", &line]).output().unwrap();
    }
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"));
    assert_eq!(verdict(&doc, "locked"), ("fail".into(), "cannot read: permission denied".into()));
}

/// A truncated dump is the commonest silent failure: smaller than half the one before, or
/// not matching the checksum `sha256sum` wrote beside it.
#[test]
fn a_truncated_dump_and_a_checksum_that_does_not_match() {
    let inv = inventory(
        "[[backup]]\nname = \"ratio\"\npath = \"r\"\npattern = \"*.dump\"\nmax_age = \"26h\"\nmin_ratio_to_previous = 0.5\n\n\
         [[backup]]\nname = \"sums\"\npath = \"s\"\nmax_age = \"26h\"\n",
    );
    for d in ["r", "s"] {
        std::fs::create_dir(inv.dir.path().join(d)).unwrap();
    }
    set_age(&inv.write("r/EHR-1.dump", &"x".repeat(8192)), 30);
    set_age(&inv.write("r/EHR-2.dump", &"x".repeat(1000)), 2);
    let dump = inv.write("s/EHR.dump", &"y".repeat(5000));
    let sum =
        std::process::Command::new("sha256sum").arg("EHR.dump").current_dir(inv.dir.path().join("s")).output().unwrap();
    assert!(sum.status.success());
    std::fs::write(inv.dir.path().join("s/EHR.dump.sha256"), &sum.stdout).unwrap();
    set_age(&dump, 1);
    let (doc, _) = inv.run_json(&["--no-state"]);
    assert_eq!(
        verdict(&doc, "ratio"),
        (
            "fail".into(),
            "newest EHR-2.dump is 1000 B, less than 50% of the one before it (EHR-1.dump, 8.0 KiB): truncated?".into()
        )
    );
    let (status, detail) = verdict(&doc, "sums");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.ends_with(", checksum matches"), "{detail}");
    // The dump changed after its checksum was written: damaged or cut short.
    std::fs::write(&dump, "y".repeat(4000)).unwrap();
    set_age(&dump, 1);
    let (doc, _) = inv.run_json(&["--no-state"]);
    assert_eq!(
        verdict(&doc, "sums"),
        ("fail".into(), "newest EHR.dump does not match its checksum in EHR.dump.sha256: damaged or incomplete".into())
    );
}

/// A checksum sidecar that is a link to /dev/zero, or a FIFO nobody writes to, is no
/// checksum: the check fails in words, at once, without reading gigabytes or hanging.
#[test]
fn a_sidecar_that_is_not_a_regular_file_fails_quickly_in_words() {
    let inv = inventory("[[backup]]\nname = \"sums\"\npath = \"s\"\nmax_age = \"26h\"\ntimeout = \"60s\"\n");
    std::fs::create_dir(inv.dir.path().join("s")).unwrap();
    set_age(&inv.write("s/EHR.dump", &"y".repeat(5000)), 1);
    let sidecar = inv.dir.path().join("s/EHR.dump.sha256");
    std::os::unix::fs::symlink("/dev/zero", &sidecar).unwrap();
    let started = std::time::Instant::now();
    let (doc, code) = inv.run_json(&["--no-state"]);
    assert_eq!(
        verdict(&doc, "sums"),
        (
            "fail".into(),
            "cannot read the checksum EHR.dump.sha256: it is a character device, not a regular file".into()
        )
    );
    assert_eq!(code, 2);
    std::fs::remove_file(&sidecar).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&sidecar).status().expect("mkfifo (coreutils)");
    assert!(made.success());
    let (doc, _) = inv.run_json(&["--no-state"]);
    assert_eq!(
        verdict(&doc, "sums"),
        ("fail".into(), "cannot read the checksum EHR.dump.sha256: it is a FIFO, not a regular file".into())
    );
    // Generous for a loaded machine, far below the 60 s timeout a hang would take.
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    // Too big to be a checksum file.
    std::fs::remove_file(&sidecar).unwrap();
    std::fs::write(&sidecar, "0".repeat(100_000)).unwrap();
    let (doc, _) = inv.run_json(&["--no-state"]);
    assert_eq!(
        verdict(&doc, "sums"),
        ("fail".into(), "cannot read the checksum EHR.dump.sha256: it is larger than 65536 bytes".into())
    );
}
