//! Real database servers for the tests, each in a folder of its own on a loopback port:
//! a PostgreSQL cluster (`initdb`, run as the `postgres` user) and a MariaDB server
//! (`mariadb-install-db`, `mariadbd --user=root`), as /work/shared/NOTES-peers.md describes.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{peer, start_shared, wait_until};

/// A TCP port on 127.0.0.1 below the ephemeral range that a plain bind (no SO_REUSEADDR)
/// gets now: servers bind that way, and a port held in TIME-WAIT would refuse them.
pub fn low_tcp_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let offset = NEXT.fetch_add(7, std::sync::atomic::Ordering::Relaxed);
    let start = 20_000 + (std::process::id() % 5_000) as u16 * 2 + offset;
    (start..32_000)
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port below 32000")
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program` as the `postgres` user when run as root (PostgreSQL refuses root).
pub fn as_postgres(program: &Path) -> Command {
    match running_as_root() {
        true => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]).arg(program);
            c
        }
        false => Command::new(program),
    }
}

/// A running PostgreSQL cluster: its port, and `psql` as its superuser over the socket.
pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    socket_dir: String,
}

impl Postgres {
    /// Runs `sql` as the superuser in database `db`; its output (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = as_postgres(&self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", &self.socket_dir])
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db, "-c", sql])
            .current_dir("/")
            .output()
            .map_err(|e| e.to_string())?;
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
            false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        }
    }
}

/// A throwaway cluster in `dir` (which holds server.crt and server.key): TLS on, passwords
/// (SCRAM) over TCP, trust over its own socket, `settings` as `-c` options; `None` (the test
/// is skipped) without PostgreSQL.
pub fn postgres(dir: tempfile::TempDir, settings: &[&str]) -> Option<Postgres> {
    let candidates =
        ["/usr/lib/postgresql/17/bin/initdb", "/usr/lib/postgresql/16/bin/initdb", "/usr/lib/postgresql/15/bin/initdb"];
    let initdb = peer(&candidates, "postgresql")?;
    let bin = initdb.parent().expect("bin folder").to_path_buf();
    let d = dir.path().display().to_string();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path().join("server.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    if running_as_root() {
        let status = Command::new("chown").args(["-R", "postgres:postgres", &d]).status().expect("chown");
        assert!(status.success(), "chown to postgres failed");
    }
    let out = as_postgres(&initdb)
        .args(["-D", &format!("{d}/data"), "-U", "postgres", "--no-sync"])
        .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
        .current_dir("/")
        .output()
        .expect("run initdb");
    assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
    let port = low_tcp_port();
    let mut command = as_postgres(&bin.join("postgres"));
    command
        .args(["-D", &format!("{d}/data"), "-k", &d, "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-c", "ssl=on", "-c", &format!("ssl_cert_file={d}/server.crt")])
        .args(["-c", &format!("ssl_key_file={d}/server.key"), "-c", "fsync=off"]);
    for setting in settings {
        command.args(["-c", setting]);
    }
    command.current_dir("/").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    // SIGQUIT: immediate shutdown, the postmaster stops and reaps its backends.
    start_shared(command, dir, libc::SIGQUIT);
    let cluster = Postgres { port, bin, socket_dir: d };
    wait_until("postgres", || cluster.psql("postgres", "SELECT 1").is_ok());
    Some(cluster)
}

/// A running MariaDB server: its port, and the `mariadb` client as root over its socket.
pub struct Mariadb {
    pub port: u16,
    socket: String,
}

impl Mariadb {
    /// Runs `sql` as root; its output (batch mode, no column names).
    pub fn sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .args(["--no-defaults", "-u", "root", "-S", &self.socket, "-N", "-B", "-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
            false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        }
    }
}

/// A throwaway MariaDB server in `dir` (which holds server.crt and server.key): TLS on,
/// `options` as extra `--option`s; `None` (the test is skipped) without MariaDB.
pub fn mariadb(dir: tempfile::TempDir, options: &[&str]) -> Option<Mariadb> {
    let install = peer(&["/usr/bin/mariadb-install-db"], "mariadb-server")?;
    let server = peer(&["/usr/sbin/mariadbd"], "mariadb-server")?;
    let d = dir.path().display().to_string();
    let out = Command::new(install)
        .args([
            "--no-defaults",
            &format!("--datadir={d}/data"),
            "--user=root",
            "--auth-root-authentication-method=normal",
        ])
        .args(["--skip-test-db"])
        .output()
        .expect("run mariadb-install-db");
    assert!(out.status.success(), "mariadb-install-db: {}", String::from_utf8_lossy(&out.stderr));
    let port = low_tcp_port();
    let socket = format!("{d}/mysqld.sock");
    let mut command = Command::new(server);
    command
        .args(["--no-defaults", &format!("--datadir={d}/data"), &format!("--socket={socket}")])
        .args([&format!("--port={port}"), "--bind-address=127.0.0.1", "--user=root"])
        .args([&format!("--pid-file={d}/mysqld.pid"), "--skip-log-bin", "--innodb-buffer-pool-size=16M"])
        .args([&format!("--ssl-cert={d}/server.crt"), &format!("--ssl-key={d}/server.key")])
        .args(options)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    start_shared(command, dir, libc::SIGTERM);
    let db = Mariadb { port, socket };
    wait_until("mariadbd", || db.sql("SELECT 1").is_ok());
    Some(db)
}
