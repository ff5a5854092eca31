//! Every file rounds writes, and every file it reads from a system it watches, goes through
//! here.
//!
//! rounds often runs as root, next to folders other accounts can write (the node_exporter
//! textfile folder belongs to `prometheus`). So:
//! - A file is replaced through a temporary file created with `O_CREAT|O_EXCL|O_NOFOLLOW`
//!   under an unpredictable name in the same folder, then renamed over it: nothing planted
//!   beforehand (a link, a pre-created temp file) is ever written through, and a reader sees
//!   the old file or the new one, never half of either.
//! - A file rounds keeps open (the state lock, the run log) is opened with `O_NOFOLLOW`.
//! - A link where rounds expects its own file is an error naming it ([`Refused`]), never
//!   followed and never silently replaced.
//! - Replacing keeps the file's mode. A file rounds creates is either shared as the umask
//!   says ([`Access::Umask`]: reports, `acks.toml`) or private ([`Access::Private`]: the
//!   state and the run log hold check details): 0600, or 0660 when its folder is setgid (the
//!   way a folder is shared with a group such as `rounds`: new files take the folder's group).
//! - A file read from a watched system (a checksum sidecar) is opened non-blocking (a FIFO
//!   cannot hang the check), must be a regular file, and is read up to a cap.
//!
//! Imports nothing of the crate: any layer may use it.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// Who may read a file rounds creates (an existing file keeps its mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// As the umask says: reports and `acks.toml`, files people share.
    Umask,
    /// 0600, or 0660 in a setgid folder: files that hold check details.
    Private,
}

/// Why rounds would not use a path: something other than its own regular file is there.
#[derive(Debug)]
pub(crate) struct Refused {
    pub path: PathBuf,
    what: &'static str,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {}, not a file of rounds' own; rounds never writes through it (remove it, or choose another path)",
            self.path.display(),
            self.what
        )
    }
}

impl std::error::Error for Refused {}

fn refused(path: &Path, what: &'static str) -> io::Error {
    io::Error::other(Refused { path: path.to_owned(), what })
}

/// Whether `error` is a [`Refused`]: a planted link or special file, not a passing fault.
pub(crate) fn is_refused(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|e| e.is::<Refused>())
}

/// What kind of thing a file is, in words, for one that is not a regular file.
fn kind_in_words(kind: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// `Ok(Some(mode))` when `path` is a regular file (not followed), `Ok(None)` when nothing is
/// there, and [`Refused`] for a link or anything else.
pub(crate) fn own_file_mode(path: &Path) -> io::Result<Option<u32>> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(Some(meta.mode() & 0o777)),
        Ok(meta) => Err(refused(path, kind_in_words(meta.file_type()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Refuses a link (or anything but a regular file) where rounds will keep its own file at
/// `path`; anything else (no file yet, a folder it may not read) is for the write to say.
pub(crate) fn refuse_planted(path: &Path) -> io::Result<()> {
    match own_file_mode(path) {
        Err(e) if is_refused(&e) => Err(e),
        _ => Ok(()),
    }
}

/// The mode of a private file created in `dir` (see [`Access::Private`]).
fn private_mode(dir: &Path) -> u32 {
    let shared = fs::metadata(dir).is_ok_and(|m| m.mode() & 0o2000 != 0);
    if shared {
        0o660
    } else {
        0o600
    }
}

fn folder_of(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Replaces `path` with `bytes` all at once, never through a link (see the module's notes).
pub(crate) fn replace(path: &Path, bytes: &[u8], access: Access) -> io::Result<()> {
    // fchmod is not masked: a new shared file gets the umask by hand.
    let mode = match own_file_mode(path)? {
        Some(kept) => kept,
        None if access == Access::Private => private_mode(folder_of(path)),
        None => 0o666 & !umask(),
    };
    let (temp, mut file) = create_temp(path)?;
    let written = rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))
        .map_err(io::Error::from)
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// A new empty file beside `path`, `.NAME.<random>.tmp`, that nobody else can have made.
fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    let name = path.file_name().ok_or_else(|| io::Error::other(format!("{} names no file", path.display())))?;
    let random = ring::rand::SystemRandom::new();
    for _ in 0..8 {
        let mut bytes = [0u8; 8];
        ring::rand::SecureRandom::fill(&random, &mut bytes).map_err(|_| io::Error::other("no randomness"))?;
        let mut temp = std::ffi::OsString::from(".");
        temp.push(name);
        temp.push(format!(".{:016x}.tmp", u64::from_ne_bytes(bytes)));
        let temp = path.with_file_name(temp);
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC;
        match rustix::fs::open(&temp, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => return Ok((temp, File::from(fd))),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::other(format!("cannot make a temporary file beside {}", path.display())))
}

/// The process's umask, read without changing it (Linux 4.7+), else the common 022.
fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .unwrap_or(0o022)
}

/// Opens rounds' own file at `path` for writing (appending with `append`), creating it
/// private when missing; never through a link, never anything but a regular file.
pub(crate) fn open_own(path: &Path, append: bool) -> io::Result<File> {
    let base = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let base = if append { base | OFlags::APPEND } else { base };
    let mode = private_mode(folder_of(path));
    let (fd, created) = match rustix::fs::open(path, base | OFlags::CREATE | OFlags::EXCL, Mode::from_raw_mode(0o600)) {
        Ok(fd) => (fd, true),
        Err(rustix::io::Errno::EXIST) => {
            (rustix::fs::open(path, base, Mode::empty()).map_err(|e| own_error(path, e))?, false)
        }
        Err(e) => return Err(own_error(path, e)),
    };
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(refused(path, kind_in_words(meta.file_type())));
    }
    if created {
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
    }
    Ok(file)
}

/// Opens rounds' own file at `path` (the state, the run log) for reading: never through a
/// link, never anything but a regular file. For reading a part of it (the run log's first
/// lines); [`read_own`] reads it whole.
pub(crate) fn open_own_read(path: &Path) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| own_error(path, e))?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(refused(path, kind_in_words(meta.file_type())));
    }
    Ok(file)
}

/// Reads rounds' own file at `path` (the state, the run log), up to `cap` bytes; never
/// through a link.
pub(crate) fn read_own(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    read_capped(open_own_read(path)?, cap)
}

/// The last `last` bytes of rounds' own file at `path` (all of it when it is shorter), under
/// the same rules as [`read_own`]: for the newest lines of a log without reading all of it.
/// Returns the bytes and whether the file began earlier (the first line may be cut).
pub(crate) fn read_own_tail(path: &Path, last: u64) -> io::Result<(Vec<u8>, bool)> {
    use std::io::{Seek, SeekFrom};
    let mut file = open_own_read(path)?;
    let start = file.metadata()?.len().saturating_sub(last);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(last).read_to_end(&mut bytes)?;
    Ok((bytes, start > 0))
}

/// ELOOP from `O_NOFOLLOW` means a link is there: say so in words.
fn own_error(path: &Path, e: rustix::io::Errno) -> io::Error {
    if e == rustix::io::Errno::LOOP {
        return refused(path, "a symbolic link");
    }
    e.into()
}

/// Opens a file of a watched system for reading: non-blocking (a FIFO cannot hang), and
/// only when it is a regular file (links are followed: `latest.dump` may be one).
pub(crate) fn open_watched(path: &Path) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = File::from(rustix::fs::open(path, flags, Mode::empty())?);
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::other(format!("it is {}, not a regular file", kind_in_words(meta.file_type()))));
    }
    Ok(file)
}

/// A file of a watched system, whole, when it is a regular file of at most `cap` bytes.
pub(crate) fn read_watched(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    read_capped(open_watched(path)?, cap)
}

/// A regular file's bytes, when it holds at most `cap` of them.
fn read_capped(file: File, cap: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(io::Error::other(format!("it is larger than {cap} bytes")));
    }
    Ok(bytes)
}

/// Makes the folder of `path` when missing, private to the user (a folder rounds makes for
/// its state holds check details).
pub(crate) fn make_folder_for(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => fs::DirBuilder::new().recursive(true).mode(0o700).create(dir),
        None => Ok(()),
    }
}

/// The permission bits of `path`, for tests and messages.
#[cfg(test)]
fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).map(|m| m.mode() & 0o7777).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replacing_keeps_the_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.prom");
        replace(&path, b"old", Access::Umask).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        replace(&path, b"new contents", Access::Umask).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        assert_eq!(mode_of(&path), 0o640);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn private_files_are_0600_or_0660_in_a_setgid_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("st.json");
        replace(&path, b"{}", Access::Private).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let log = dir.path().join("st.log.jsonl");
        drop(open_own(&log, true).unwrap());
        assert_eq!(mode_of(&log), 0o600);
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o2770)).unwrap();
        let path = shared.join("st.json");
        replace(&path, b"{}", Access::Private).unwrap();
        assert_eq!(mode_of(&path), 0o660);
        drop(open_own(&shared.join("st.log.jsonl"), true).unwrap());
        assert_eq!(mode_of(&shared.join("st.log.jsonl")), 0o660);
    }

    #[test]
    fn links_are_refused_and_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "untouched").unwrap();
        let link = dir.path().join("st.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        for error in [
            replace(&link, b"x", Access::Private).unwrap_err(),
            open_own(&link, true).unwrap_err(),
            read_own(&link, 100).unwrap_err(),
        ] {
            assert!(is_refused(&error), "{error}");
            assert!(error.to_string().contains("st.json is a symbolic link"), "{error}");
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
    }

    #[test]
    fn watched_files_must_be_regular_and_small() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("x.sha256");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let error = read_watched(&zero, 1024).unwrap_err();
        assert_eq!(error.to_string(), "it is a character device, not a regular file");
        let big = dir.path().join("big");
        fs::write(&big, vec![b'a'; 2000]).unwrap();
        assert_eq!(read_watched(&big, 1024).unwrap_err().to_string(), "it is larger than 1024 bytes");
        assert_eq!(read_watched(&big, 4096).unwrap().len(), 2000);
    }
}
