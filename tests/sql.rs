//! "Lab results arriving": `[[sql]]` against a real PostgreSQL cluster (TLS with a test CA,
//! SCRAM passwords, a session time zone far from UTC) and a real MariaDB server, each
//! started once for this test binary in a folder of its own on a loopback port.
//!
//! Microsoft SQL Server has no peer that runs here: `[[sql]]` does not support it.

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::databases::{self, Mariadb, Postgres};
use support::{closed_port, inventory, pki, toml_path, verdict};

/// The account rounds logs in with: its password holds `@` and `/`, which a URL carries
/// percent-encoded.
const PASSWORD: &str = "lab@reader/pw-7391-do-not-show";
const PASSWORD_IN_URL: &str = "lab%40reader%2Fpw-7391-do-not-show";

/// The CA that issued both servers' certificates, and its PEM file.
fn ca() -> &'static (pki::Ca, PathBuf, tempfile::TempDir) {
    pki::shared_ca("Lab DB Test CA")
}

/// A folder holding server.crt and server.key for `localhost`, issued by [`ca`].
fn peer_folder() -> tempfile::TempDir {
    pki::localhost_folder(&ca().0)
}

/// Runs one `[[sql]]` check written as `body` (after its name) with LAB_DB_URL set to
/// `url`; returns (status, detail, exit code, everything rounds printed).
fn run(url: &str, body: &str) -> (String, String, i32, String) {
    let inv = inventory(&format!("[[sql]]\nname = \"lab\"\nurl = \"${{LAB_DB_URL}}\"\n{body}"));
    let output = inv.rounds(&["--format", "json", "--no-state"]).env("LAB_DB_URL", url).output().expect("run rounds");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let doc: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    let (status, detail) = verdict(&doc, "lab");
    let printed = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (status, detail, output.status.code().unwrap_or(-1), printed)
}

/// `[[sql]]` keys: a CA file for verify-full.
fn ca_line() -> String {
    format!("ca_file = \"{}\"\n", toml_path(&ca().1))
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

const PG_ROLE: &str = "CREATE ROLE lab_reader LOGIN PASSWORD 'lab@reader/pw-7391-do-not-show'";

const PG_TABLES: &str = "
CREATE TABLE hl7_inbox (received_at timestamptz);
INSERT INTO hl7_inbox VALUES (now() - interval '3 minutes'), (now() - interval '2 hours');
CREATE TABLE stale_inbox (received_at timestamptz);
INSERT INTO stale_inbox VALUES (now() - interval '2 hours');
CREATE TABLE slow_inbox (received_at timestamptz);
INSERT INTO slow_inbox VALUES (now() - interval '12 minutes');
CREATE TABLE empty_inbox (received_at timestamptz);
CREATE TABLE future_inbox (received_at timestamptz);
INSERT INTO future_inbox VALUES (now() + interval '1 hour');
CREATE TABLE local_inbox (received_at timestamp without time zone);
INSERT INTO local_inbox VALUES (localtimestamp - interval '4 minutes');
CREATE TABLE status (word text);
INSERT INTO status VALUES ('ok');
CREATE TABLE staff_only (salary int);
CREATE TABLE writable (n int);
GRANT SELECT ON hl7_inbox, stale_inbox, slow_inbox, empty_inbox, future_inbox, local_inbox, status TO lab_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON writable TO lab_reader;
";

/// One cluster for this binary; the server's session time zone is Pacific/Chatham (UTC+13:45
/// in summer), so a timestamp without a time zone read as UTC would be hours off.
fn postgres() -> Option<&'static Postgres> {
    static POSTGRES: OnceLock<Option<Postgres>> = OnceLock::new();
    POSTGRES
        .get_or_init(|| {
            let cluster = databases::postgres(peer_folder(), &["timezone=Pacific/Chatham", "max_connections=20"])?;
            cluster.psql("postgres", PG_ROLE).expect("set up the role");
            cluster.psql("postgres", "CREATE DATABASE lab").expect("create the database");
            cluster.psql("lab", PG_TABLES).expect("set up tables");
            Some(cluster)
        })
        .as_ref()
}

fn pg_url(port: u16) -> String {
    format!("postgres://lab_reader:{PASSWORD_IN_URL}@localhost:{port}/lab")
}

#[test]
fn postgres_fresh_rows_pass_over_verified_tls_and_the_password_never_shows() {
    let Some(pg) = postgres() else { return };
    let body = format!(
        "query = \"SELECT max(received_at) FROM hl7_inbox\"\nmax_age = \"15m\"\nwarn_age = \"10m\"\ntls = \"verify-full\"\n{}",
        ca_line()
    );
    let (status, detail, code, printed) = run(&pg_url(pg.port), &body);
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(
        detail.starts_with("newest row 180 s old (limit 15 min), ") || detail.starts_with("newest row 3 min old"),
        "{detail}"
    );
    assert!(detail.contains("; certificate expires in "), "{detail}");
    assert!(printed.contains(&format!("postgres://lab_reader@localhost:{}/lab", pg.port)), "{printed}");
    for secret in [PASSWORD, PASSWORD_IN_URL, "pw-7391"] {
        assert!(!printed.contains(secret), "{secret} shown:\n{printed}");
    }
}

#[test]
fn postgres_ages_are_judged() {
    let Some(pg) = postgres() else { return };
    let check = |table: &str| {
        let body = format!(
            "query = \"SELECT max(received_at) FROM {table}\"\nmax_age = \"15m\"\nwarn_age = \"10m\"\n{}",
            ca_line()
        );
        let (status, detail, _, _) = run(&pg_url(pg.port), &body);
        (status, detail)
    };
    let (status, detail) = check("stale_inbox");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.starts_with("newest row 2 h old (limit 15 min)") || detail.starts_with("newest row 120 min old"),
        "{detail}"
    );
    let (status, detail) = check("slow_inbox");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.starts_with("newest row 12 min old (warn_age 10 min, limit 15 min)"), "{detail}");
    let (status, detail) = check("empty_inbox");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("no rows: the query answered NULL"), "{detail}");
    let (status, detail) = check("future_inbox");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.contains("in the future (clock skew"), "{detail}");
    // Without a time zone: read in the session's (Pacific/Chatham), not as UTC.
    let (status, detail) = check("local_inbox");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("newest row 4 min old (limit 15 min)"), "{detail}");
    // Not a timestamp at all.
    let (status, detail) = check("status");
    assert_eq!(status, "fail", "{detail}");
}

#[test]
fn postgres_rows_and_text_are_judged() {
    let Some(pg) = postgres() else { return };
    let url = pg_url(pg.port);
    let body = format!("query = \"SELECT word FROM status\"\nequals = \"ok\"\n{}", ca_line());
    let (status, detail, _, _) = run(&url, &body);
    assert_eq!(status, "pass", "{detail}");
    let body = format!("query = \"SELECT word FROM status\"\nequals = \"degraded\"\n{}", ca_line());
    let (status, detail, _, _) = run(&url, &body);
    assert_eq!(
        (status.as_str(), detail.split(';').next()),
        ("fail", Some("the query answered \"ok\", expected \"degraded\""))
    );
    let body = format!("query = \"SELECT * FROM generate_series(1, 1000000)\"\nmax_rows = 3\n{}", ca_line());
    let (status, detail, _, _) = run(&url, &body);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("more than max_rows (3) rows: 4 rows or more"), "{detail}");
    let body = format!("query = \"SELECT * FROM hl7_inbox\"\nmin_rows = 3\n{}", ca_line());
    let (status, detail, _, _) = run(&url, &body);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("only 2 rows (min_rows 3)"), "{detail}");
    // Without any expectation, the database answering is the check.
    let (status, detail, _, _) = run(&url, &ca_line());
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("answered in "), "{detail}");
}

#[test]
fn postgres_never_writes() {
    let Some(pg) = postgres() else { return };
    let url = pg_url(pg.port);
    for query in ["INSERT INTO writable VALUES (1)", "UPDATE writable SET n = 2", "DELETE FROM writable"] {
        let (status, detail, _, _) = run(&url, &format!("query = \"{query}\"\n{}", ca_line()));
        assert_eq!(status, "fail", "{query}: {detail}");
        assert!(detail.starts_with("the query tries to write, and rounds runs queries read-only: "), "{detail}");
    }
    // Two statements (a COMMIT to leave the read-only transaction) are refused as such.
    let (status, detail, _, _) =
        run(&url, &format!("query = \"COMMIT; INSERT INTO writable VALUES (1)\"\n{}", ca_line()));
    assert_eq!(status, "fail", "{detail}");
    assert_eq!(pg.psql("lab", "SELECT count(*) FROM writable").expect("count"), "0");
}

#[test]
fn postgres_refusals_are_said_in_words() {
    let Some(pg) = postgres() else { return };
    let ca = ca_line();
    let wrong = format!("postgres://lab_reader:not-the-password@localhost:{}/lab", pg.port);
    let (status, detail, code, _) = run(&wrong, &ca);
    assert_eq!((status.as_str(), code), ("fail", 2), "{detail}");
    assert!(detail.starts_with("authentication failed for user \"lab_reader\""), "{detail}");
    let nodb = format!("postgres://lab_reader:{PASSWORD_IN_URL}@localhost:{}/nolab", pg.port);
    let (status, detail, _, _) = run(&nodb, &ca);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("database does not exist: "), "{detail}");
    let (status, detail, _, _) = run(&pg_url(pg.port), &format!("query = \"SELECT * FROM staff_only\"\n{ca}"));
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("permission denied: permission denied for table staff_only"), "{detail}");
    let (status, detail, _, _) = run(&pg_url(closed_port()), &ca);
    assert_eq!(status, "fail", "{detail}");
    assert_eq!(detail, "connection refused");
}

#[test]
fn postgres_slow_query_ends_within_the_timeout() {
    let Some(pg) = postgres() else { return };
    let started = Instant::now();
    let body = format!("query = \"SELECT pg_sleep(60)\"\ntimeout = \"3s\"\n{}", ca_line());
    let (status, detail, _, _) = run(&pg_url(pg.port), &body);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("timeout while querying"), "{detail}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    // The server stopped the statement itself: no backend is left sleeping.
    support::wait_until("the sleeping query to end", || {
        pg.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'").as_deref()
            == Ok("0")
    });
}

#[test]
fn postgres_certificates_are_judged_by_the_tls_mode() {
    let Some(pg) = postgres() else { return };
    let url = pg_url(pg.port);
    // verify-full without our CA: the chain is not trusted, said as on [[tls]].
    let (status, detail, _, _) = run(&url, "tls = \"verify-full\"\n");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("Lab DB Test CA"), "{detail}");
    // require (the default): encrypted, the certificate shown, its chain not held against it.
    let (status, detail, _, _) = run(&url, "");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("(not verified: tls = \"require\")"), "{detail}");
    // The URL's own sslmode counts when tls is not written; tls wins over it.
    let (status, detail, _, _) = run(&format!("{url}?sslmode=verify-full"), "");
    assert_eq!(status, "fail", "{detail}");
    let (status, detail, _, _) = run(&format!("{url}?sslmode=verify-full"), "tls = \"require\"\n");
    assert_eq!(status, "pass", "{detail}");
    // A pin applies under require and verify-full alike: the wrong one fails and names the
    // key served; that key as the pin passes even without the CA.
    let wrong = "pin = \"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n";
    let (status, detail, _, _) = run(&url, wrong);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("which matches no pin of this check"), "{detail}");
    assert!(!detail.starts_with("TLS handshake failed"), "{detail}");
    let served = detail.split('"').find(|part| part.starts_with("sha256//") && !part.starts_with("sha256//AAAA"));
    let served = served.unwrap_or_else(|| panic!("no served key in {detail}"));
    let (status, detail, _, _) = run(&url, &format!("tls = \"verify-full\"\npin = \"{served}\"\n"));
    assert_eq!(status, "pass", "{detail}");
    // Plain text only when written.
    let (status, detail, _, _) = run(&url, "tls = \"disable\"\n");
    assert_eq!(status, "pass", "{detail}");
    assert!(!detail.contains("issued by"), "{detail}");
}

#[test]
fn a_database_without_tls_fails_in_words_under_require() {
    // A stand-in written from the protocol (section 55.2.10): it answers SSLRequest with 'N'.
    let server = support::raw(|mut stream| {
        Box::pin(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut request = [0u8; 8];
            if stream.read_exact(&mut request).await.is_ok() && request == [0, 0, 0, 8, 4, 210, 22, 47] {
                let _ = stream.write_all(b"N").await;
            }
            let _ = stream.read(&mut request).await;
        })
    });
    let url = format!("postgres://lab_reader:{PASSWORD_IN_URL}@127.0.0.1:{}/lab", server.port());
    let (status, detail, _, _) = run(&url, "");
    assert_eq!(status, "fail", "{detail}");
    assert_eq!(
        detail,
        "the database does not offer TLS; write tls = \"disable\" if it is reached over a trusted network"
    );
}

// ---------------------------------------------------------------------------------------
// Loading

#[test]
fn sql_keys_are_checked_at_load_time() {
    let error = |toml: &str| {
        let inv = inventory(toml);
        let output = support::rounds().args(["validate", "-c"]).arg(&inv.path).output().expect("run rounds");
        assert_eq!(output.status.code(), Some(3), "{toml}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let head = "[[sql]]\nname = \"lab\"\n";
    let err = error(&format!("{head}url = \"mssql://sa@db/lab\"\n"));
    assert!(err.contains("checks.toml:3:7: unsupported database \"mssql\""), "{err}");
    let err = error(&format!("{head}url = \"postgres://db/lab\"\n"));
    assert!(err.contains("the URL names no user"), "{err}");
    let err = error(&format!("{head}url = \"postgres://u@db/lab\"\ntls = \"prefer\"\n"));
    assert!(err.contains("checks.toml:4:7: tls is \"disable\", \"require\" or \"verify-full\""), "{err}");
    let err = error(&format!("{head}url = \"postgres://u@db/lab\"\nwarn_age = \"10m\"\n"));
    assert!(err.contains("warn_age needs max_age"), "{err}");
}

#[test]
fn a_whole_url_from_one_variable_is_taken_verbatim() {
    let inv = inventory("[[sql]]\nname = \"lab\"\nurl = \"${LAB_DB_URL}\"\n");
    let output = inv
        .rounds(&["list"])
        .env("LAB_DB_URL", format!("postgresql://lab_reader:{PASSWORD_IN_URL}@db.clinic.local/lab?sslmode=require"))
        .output()
        .expect("run rounds");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{printed}");
    assert!(printed.contains("postgresql://lab_reader@db.clinic.local:5432/lab"), "{printed}");
    assert!(!printed.contains("pw-7391"), "{printed}");
}

// ---------------------------------------------------------------------------------------
// MariaDB

const MARIADB_SETUP: &str = "
CREATE DATABASE lab;
CREATE USER 'lab_reader'@'%' IDENTIFIED BY 'lab@reader/pw-7391-do-not-show';
USE lab;
CREATE TABLE hl7_inbox (received_at DATETIME(6));
INSERT INTO hl7_inbox VALUES (NOW(6) - INTERVAL 3 MINUTE), (NOW(6) - INTERVAL 2 HOUR);
CREATE TABLE stale_inbox (received_at TIMESTAMP(6) NULL);
INSERT INTO stale_inbox VALUES (NOW(6) - INTERVAL 2 HOUR);
CREATE TABLE slow_inbox (received_at TIMESTAMP(6) NULL);
INSERT INTO slow_inbox VALUES (NOW(6) - INTERVAL 12 MINUTE);
CREATE TABLE empty_inbox (received_at DATETIME);
CREATE TABLE future_inbox (received_at DATETIME);
INSERT INTO future_inbox VALUES (NOW() + INTERVAL 1 HOUR);
CREATE TABLE status (word VARCHAR(20));
INSERT INTO status VALUES ('ok');
CREATE TABLE staff_only (salary INT);
CREATE TABLE writable (n INT);
GRANT SELECT ON lab.hl7_inbox TO 'lab_reader'@'%';
GRANT SELECT ON lab.stale_inbox TO 'lab_reader'@'%';
GRANT SELECT ON lab.slow_inbox TO 'lab_reader'@'%';
GRANT SELECT ON lab.empty_inbox TO 'lab_reader'@'%';
GRANT SELECT ON lab.future_inbox TO 'lab_reader'@'%';
GRANT SELECT ON lab.status TO 'lab_reader'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, DROP ON lab.writable TO 'lab_reader'@'%';
";

/// One server for this binary; its time zone is +05:30, so a DATETIME read as UTC would be
/// hours off.
fn mariadb() -> Option<&'static Mariadb> {
    static MARIADB: OnceLock<Option<Mariadb>> = OnceLock::new();
    MARIADB
        .get_or_init(|| {
            let options = ["--default-time-zone=+05:30", "--skip-name-resolve", "--max-connections=20"];
            let db = databases::mariadb(peer_folder(), &options)?;
            db.sql(MARIADB_SETUP).expect("set up the lab database");
            Some(db)
        })
        .as_ref()
}

fn my_url(port: u16) -> String {
    format!("mariadb://lab_reader:{PASSWORD_IN_URL}@localhost:{port}/lab")
}

#[test]
fn mariadb_fresh_rows_pass_over_verified_tls_and_the_password_never_shows() {
    let Some(db) = mariadb() else { return };
    let body = format!(
        "query = \"SELECT max(received_at) FROM hl7_inbox\"\nmax_age = \"15m\"\nwarn_age = \"10m\"\ntls = \"verify-full\"\n{}",
        ca_line()
    );
    let (status, detail, code, printed) = run(&my_url(db.port), &body);
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.starts_with("newest row 3 min old (limit 15 min), "), "{detail}");
    assert!(detail.contains("; certificate expires in "), "{detail}");
    assert!(printed.contains(&format!("mariadb://lab_reader@localhost:{}/lab", db.port)), "{printed}");
    for secret in [PASSWORD, PASSWORD_IN_URL, "pw-7391"] {
        assert!(!printed.contains(secret), "{secret} shown:\n{printed}");
    }
}

#[test]
fn mariadb_ages_rows_and_text_are_judged() {
    let Some(db) = mariadb() else { return };
    let url = my_url(db.port);
    let check = |body: &str| {
        let (status, detail, _, _) = run(&url, &format!("{body}\n{}", ca_line()));
        (status, detail)
    };
    let age = |table: &str| {
        check(&format!("query = \"SELECT max(received_at) FROM {table}\"\nmax_age = \"15m\"\nwarn_age = \"10m\""))
    };
    let (status, detail) = age("stale_inbox");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("newest row 2 h old (limit 15 min)"), "{detail}");
    let (status, detail) = age("slow_inbox");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.starts_with("newest row 12 min old (warn_age 10 min, limit 15 min)"), "{detail}");
    let (status, detail) = age("empty_inbox");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("no rows: the query answered NULL"), "{detail}");
    let (status, detail) = age("future_inbox");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.contains("in the future (clock skew"), "{detail}");
    let (status, detail) = check("query = \"SELECT word FROM status\"\nmax_age = \"15m\"");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("the first column is not a timestamp"), "{detail}");
    let (status, detail) = check("query = \"SELECT word FROM status\"\nequals = \"ok\"");
    assert_eq!(status, "pass", "{detail}");
    // More rows than rounds drains (100,000): counted to the bound, then the connection closed.
    let many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150000) SELECT i FROM n";
    for limit in [10, 150_000] {
        let query = many.replace("150000", &limit.to_string());
        let (status, detail) = check(&format!("query = \"{query}\"\nmax_rows = 3"));
        assert_eq!(status, "fail", "{detail}");
        assert!(detail.starts_with("more than max_rows (3) rows: 4 rows or more"), "{detail}");
    }
    let (status, detail) =
        check(&format!("query = \"{}\"\nmin_rows = 10\nmax_rows = 10", many.replace("150000", "10")));
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("10 rows, "), "{detail}");
    let (status, detail) = check("query = \"SELECT * FROM hl7_inbox\"\nmin_rows = 3");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("only 2 rows (min_rows 3)"), "{detail}");
    let (status, detail) = check("");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("answered in "), "{detail}");
}

#[test]
fn mariadb_never_writes() {
    let Some(db) = mariadb() else { return };
    let url = my_url(db.port);
    for query in ["INSERT INTO writable VALUES (1)", "UPDATE writable SET n = 2", "DELETE FROM writable"] {
        let (status, detail, _, _) = run(&url, &format!("query = \"{query}\"\n{}", ca_line()));
        assert_eq!(status, "fail", "{query}: {detail}");
        assert!(detail.starts_with("the query tries to write, and rounds runs queries read-only: "), "{detail}");
    }
    // DDL commits implicitly in MariaDB; the session's read-only default still refuses it.
    let (status, detail, _, _) = run(&url, &format!("query = \"DROP TABLE writable\"\n{}", ca_line()));
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("the query tries to write, and rounds runs queries read-only: "), "{detail}");
    let (status, detail, _, _) =
        run(&url, &format!("query = \"COMMIT; INSERT INTO writable VALUES (1)\"\n{}", ca_line()));
    assert_eq!(status, "fail", "{detail}");
    assert_eq!(db.sql("SELECT count(*) FROM lab.writable").expect("count"), "0");
}

#[test]
fn mariadb_refusals_are_said_in_words() {
    let Some(db) = mariadb() else { return };
    let ca = ca_line();
    let wrong = format!("mysql://lab_reader:not-the-password@localhost:{}/lab", db.port);
    let (status, detail, code, _) = run(&wrong, &ca);
    assert_eq!((status.as_str(), code), ("fail", 2), "{detail}");
    assert!(detail.starts_with("authentication failed for user \"lab_reader\": Access denied"), "{detail}");
    let nodb = format!("mysql://lab_reader:{PASSWORD_IN_URL}@localhost:{}/nolab", db.port);
    let (status, detail, _, _) = run(&nodb, &ca);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("permission denied: ") || detail.starts_with("database does not exist: "), "{detail}");
    let (status, detail, _, _) = run(&my_url(db.port), &format!("query = \"SELECT * FROM staff_only\"\n{ca}"));
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("permission denied: SELECT command denied"), "{detail}");
    let started = Instant::now();
    let (status, detail, _, _) =
        run(&my_url(db.port), &format!("query = \"SELECT SLEEP(60)\"\ntimeout = \"3s\"\n{ca}"));
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("timeout while querying"), "{detail}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[test]
fn mariadb_certificates_are_judged_by_the_tls_mode() {
    let Some(db) = mariadb() else { return };
    let url = my_url(db.port);
    let (status, detail, _, _) = run(&url, "tls = \"verify-full\"\n");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("Lab DB Test CA"), "{detail}");
    let (status, detail, _, _) = run(&url, "");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("(not verified: tls = \"require\")"), "{detail}");
    let wrong = "pin = \"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n";
    let (status, detail, _, _) = run(&url, wrong);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("which matches no pin of this check"), "{detail}");
    assert!(!detail.starts_with("TLS handshake failed"), "{detail}");
    let served = detail.split('"').find(|part| part.starts_with("sha256//") && !part.starts_with("sha256//AAAA"));
    let served = served.unwrap_or_else(|| panic!("no served key in {detail}"));
    let (status, detail, _, _) = run(&url, &format!("tls = \"verify-full\"\npin = \"{served}\"\n"));
    assert_eq!(status, "pass", "{detail}");
    let (status, detail, _, _) = run(&format!("{url}?ssl-mode=DISABLED"), "");
    assert_eq!(status, "pass", "{detail}");
    assert!(!detail.contains("certificate"), "{detail}");
}

#[test]
fn a_silent_server_times_out_while_connecting() {
    let server = support::silent();
    for scheme in ["postgres", "mysql"] {
        let url = format!("{scheme}://lab_reader:{PASSWORD_IN_URL}@127.0.0.1:{}/lab", server.port());
        let started = Instant::now();
        let (status, detail, _, printed) = run(&url, "timeout = \"1s\"\n");
        assert_eq!(status, "fail", "{scheme}: {detail}");
        assert!(detail.starts_with("timeout while connecting: "), "{scheme}: {detail}");
        assert!(started.elapsed() < Duration::from_secs(20), "{scheme}: took {:?}", started.elapsed());
        assert!(!printed.contains("pw-7391"), "{printed}");
    }
}

#[test]
fn an_unset_url_variable_is_named_and_nothing_runs() {
    let inv = inventory("[[sql]]\nname = \"lab\"\nurl = \"${LAB_DB_URL}\"\n");
    let output = inv.rounds(&["--no-state"]).env_remove("LAB_DB_URL").output().expect("run rounds");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("LAB_DB_URL"), "{stderr}");
    // `list` still shows the check, by what was written.
    let output = inv.rounds(&["list"]).env_remove("LAB_DB_URL").output().expect("run rounds");
    assert!(String::from_utf8_lossy(&output.stdout).contains("${LAB_DB_URL}"), "{output:?}");
}

// ---------------------------------------------------------------------------------------
// caching_sha2_password (MySQL 8's default): no MySQL server installs here (Debian ships
// MariaDB, which does not implement it), so a stand-in written from MySQL's published
// protocol documentation (Protocol::HandshakeV10, caching_sha2_password's fast and full
// authentication, AuthSwitchRequest, COM_QUERY's text result set) checks what rounds sends.

/// What the stand-in does after checking the scrambled password.
#[derive(Clone, Copy)]
enum Sha2Answer {
    /// Fast authentication succeeded (0x01 0x03), then OK.
    Fast,
    /// Full authentication asked for (0x01 0x04): the password must come as written, which
    /// only TLS may carry; this stand-in has no TLS.
    Full,
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        context.update(part);
    }
    context.finish().as_ref().to_vec()
}

/// Whether `answer` is SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce) for `password`:
/// what the server checks, from the stored SHA256(SHA256(pw)).
fn sha2_scramble_holds(answer: &[u8], password: &[u8], nonce: &[u8]) -> bool {
    let stored = sha256(&[&sha256(&[password])]);
    let mix = sha256(&[&stored, nonce]);
    let recovered: Vec<u8> = answer.iter().zip(&mix).map(|(a, b)| a ^ b).collect();
    answer.len() == 32 && sha256(&[&recovered]) == stored
}

async fn read_packet(stream: &mut tokio::net::TcpStream) -> Option<(u8, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await.ok()?;
    let length = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.ok()?;
    Some((header[3], payload))
}

async fn write_packet(stream: &mut tokio::net::TcpStream, seq: u8, payload: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let mut packet = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    packet.push(seq);
    packet.extend_from_slice(payload);
    let _ = stream.write_all(&packet).await;
}

const OK: &[u8] = &[0, 0, 0, 2, 0, 0, 0];
const EOF: &[u8] = &[0xfe, 0, 0, 2, 0];

/// A MySQL 8 stand-in greeting with mysql_native_password, switching to
/// caching_sha2_password with a new nonce, then answering as `mode` says; queries get OK,
/// and `SELECT 1` a one-row result set.
fn mysql8_stand_in(mode: Sha2Answer) -> support::Server {
    support::raw(move |mut stream| {
        Box::pin(async move {
            let caps: u32 = 0x200 | 0x8000 | 0x8_0000 | 0x8 | 0x1 | 0x2000;
            let mut greeting = vec![10];
            greeting.extend_from_slice(b"8.0.40-stand-in\0");
            greeting.extend_from_slice(&1u32.to_le_bytes());
            greeting.extend_from_slice(b"12345678\0");
            greeting.extend_from_slice(&(caps as u16).to_le_bytes());
            greeting.push(45);
            greeting.extend_from_slice(&2u16.to_le_bytes());
            greeting.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
            greeting.push(21);
            greeting.extend_from_slice(&[0; 10]);
            greeting.extend_from_slice(b"9abcdefghijk\0mysql_native_password\0");
            write_packet(&mut stream, 0, &greeting).await;
            let Some((_, login)) = read_packet(&mut stream).await else { return };
            // caps 4, max packet 4, charset 1, 23 zeros, user NUL, length-prefixed answer...
            let after = login.get(32..).unwrap_or_default();
            let user_end = after.iter().position(|b| *b == 0).unwrap_or(after.len());
            if &after[..user_end] != b"lab_reader" {
                return;
            }
            // Switch to caching_sha2_password with a fresh nonce.
            let nonce = b"ABCDEFGHIJKLMNOPQRST";
            let mut switch = vec![0xfe];
            switch.extend_from_slice(b"caching_sha2_password\0");
            switch.extend_from_slice(nonce);
            switch.push(0);
            write_packet(&mut stream, 2, &switch).await;
            let Some((seq, answer)) = read_packet(&mut stream).await else { return };
            if !sha2_scramble_holds(&answer, PASSWORD.as_bytes(), nonce) {
                let mut err = vec![0xff, 0x15, 0x04];
                err.extend_from_slice(b"#28000Access denied for user 'lab_reader'");
                write_packet(&mut stream, seq + 1, &err).await;
                return;
            }
            match mode {
                Sha2Answer::Fast => {
                    write_packet(&mut stream, seq + 1, &[0x01, 0x03]).await;
                    write_packet(&mut stream, seq + 2, OK).await;
                }
                Sha2Answer::Full => {
                    write_packet(&mut stream, seq + 1, &[0x01, 0x04]).await;
                    // A client without TLS must not send the password now.
                    if let Some((_, clear)) = read_packet(&mut stream).await {
                        if clear.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()) {
                            panic!("the password was sent in clear text");
                        }
                    }
                    return;
                }
            }
            while let Some((_, command)) = read_packet(&mut stream).await {
                match command.first() {
                    Some(0x03) if &command[1..] == b"SELECT 1" => {
                        write_packet(&mut stream, 1, &[1]).await;
                        let column =
                            b"\x03def\x00\x00\x00\x011\x00\x0c\x3f\x00\x01\x00\x00\x00\x08\x81\x00\x00\x00\x00";
                        write_packet(&mut stream, 2, column).await;
                        write_packet(&mut stream, 3, EOF).await;
                        write_packet(&mut stream, 4, b"\x011").await;
                        write_packet(&mut stream, 5, EOF).await;
                    }
                    Some(0x03) => write_packet(&mut stream, 1, OK).await,
                    _ => return,
                }
            }
        })
    })
}

#[test]
fn caching_sha2_password_against_a_mysql_8_stand_in() {
    let fast = mysql8_stand_in(Sha2Answer::Fast);
    let url = |port: u16, password: &str| format!("mysql://lab_reader:{password}@127.0.0.1:{port}/lab");
    let (status, detail, _, _) = run(&url(fast.port(), PASSWORD_IN_URL), "tls = \"disable\"\nequals = \"1\"\n");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("answered \"1\", "), "{detail}");
    let (status, detail, _, _) = run(&url(fast.port(), "wrong-password-1"), "tls = \"disable\"\n");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("authentication failed for user \"lab_reader\": Access denied"), "{detail}");
    // Full authentication would send the password as written: never over plain text.
    let full = mysql8_stand_in(Sha2Answer::Full);
    let (status, detail, _, printed) = run(&url(full.port(), PASSWORD_IN_URL), "tls = \"disable\"\n");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("needs a full login, which sends the password and so needs TLS"), "{detail}");
    assert!(!printed.contains("pw-7391"), "{printed}");
}
