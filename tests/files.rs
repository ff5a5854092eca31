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
