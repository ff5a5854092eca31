//! Real servers and a real binary for the integration tests.
//!
//! Every server listens on a port the OS picks on 127.0.0.1, runs on a thread of its own
//! (so tests stay synchronous and run the binary with assert_cmd), and stops on `Drop`,
//! taking any connection it still holds with it.
#![allow(dead_code)] // each test file uses its own part of this module

pub mod databases;
pub mod pki;

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;

use assert_cmd::Command;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The `rounds` binary, with no configuration leaking in from the environment.
pub fn rounds() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("rounds");
    cmd.env_remove("ROUNDS_CONFIG").env_remove("NO_COLOR");
    // State between runs goes to a folder of the tests', never the user's home.
    cmd.env("XDG_STATE_HOME", env!("CARGO_TARGET_TMPDIR"));
    // Proxies are chosen in the inventory, never inherited: tests prove it with these set.
    for var in
        ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"]
    {
        cmd.env_remove(var);
    }
    cmd
}

/// An inventory file in a temporary folder of its own.
pub struct Inventory {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn inventory(toml: &str) -> Inventory {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("checks.toml");
    std::fs::write(&path, toml).expect("write inventory");
    Inventory { dir, path }
}

impl Inventory {
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// `rounds --config <this> ARGS`, keeping state in this inventory's folder.
    pub fn rounds(&self, args: &[&str]) -> Command {
        let mut cmd = rounds();
        cmd.env("XDG_STATE_HOME", self.dir.path().join("state")).arg("--config").arg(&self.path).args(args);
        cmd
    }

    /// Runs with `--format json` and returns the document and the exit code.
    pub fn run_json(&self, args: &[&str]) -> (serde_json::Value, i32) {
        let output = self.rounds(&["--format", "json"]).args(args).output().expect("run rounds");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr))
        });
        (doc, output.status.code().unwrap_or(-1))
    }
}

/// The result of the check named `name` in a JSON report.
pub fn check<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name:?} in {doc:#}"))
}

/// `(status, detail)` of one check.
pub fn verdict(doc: &serde_json::Value, name: &str) -> (String, String) {
    let c = check(doc, name);
    (c["status"].as_str().unwrap_or_default().to_owned(), c["detail"].as_str().unwrap_or_default().to_owned())
}

pub fn toml_path(path: &Path) -> String {
    path.display().to_string().replace('\\', "/")
}

/// A server running on its own thread; stopped and joined on drop.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    /// An https URL by host name (the certificates are issued to `localhost`).
    pub fn https_url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.addr.port())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type ConnFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type OnConnection = Arc<dyn Fn(TcpStream) -> ConnFuture + Send + Sync>;

/// A server that hands every accepted connection to `on_connection`.
pub fn raw(on_connection: impl Fn(TcpStream) -> ConnFuture + Send + Sync + 'static) -> Server {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local addr");
    let on_connection: OnConnection = Arc::new(on_connection);
    let (stop, mut stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            tokio::spawn(on_connection(stream));
                        }
                    }
                }
            }
        });
        // Dropping the runtime cancels every connection task still running.
    });
    Server { addr, stop: Some(stop), thread: Some(thread) }
}

pub type Reply = Response<Full<Bytes>>;

/// A response with `status` and a text body.
pub fn reply(status: u16, body: &str) -> Reply {
    Response::builder().status(status).body(Full::new(Bytes::from(body.to_owned()))).expect("response")
}

/// A response with `status` and a binary body (a CRL, a file).
pub fn reply_bytes(status: u16, body: &[u8]) -> Reply {
    Response::builder().status(status).body(Full::new(Bytes::from(body.to_vec()))).expect("response")
}

/// A redirect to `location`.
pub fn redirect(location: &str) -> Reply {
    Response::builder().status(302).header("location", location).body(Full::new(Bytes::new())).expect("response")
}

type Handler = Arc<dyn Fn(&Request<Incoming>) -> Reply + Send + Sync>;

/// A real HTTP/1.1 server (hyper) answering every request with `handler`.
pub fn http(handler: impl Fn(&Request<Incoming>) -> Reply + Send + Sync + 'static) -> Server {
    let handler: Handler = Arc::new(handler);
    raw(move |stream| {
        let handler = handler.clone();
        Box::pin(async move { serve_http(TokioIo::new(stream), handler).await })
    })
}

/// A real HTTPS server: TLS with `identity`'s certificate chain, then HTTP/1.1.
pub fn https(
    identity: &pki::Identity,
    handler: impl Fn(&Request<Incoming>) -> Reply + Send + Sync + 'static,
) -> Server {
    let acceptor = tokio_rustls::TlsAcceptor::from(identity.server_config());
    let handler: Handler = Arc::new(handler);
    raw(move |stream| {
        let (acceptor, handler) = (acceptor.clone(), handler.clone());
        Box::pin(async move {
            // A client that rejects the certificate aborts the handshake: nothing to serve.
            if let Ok(tls) = acceptor.accept(stream).await {
                serve_http(TokioIo::new(tls), handler).await;
            }
        })
    })
}

/// A TLS server that completes handshakes and then holds the connection.
pub fn tls_only(identity: &pki::Identity) -> Server {
    let acceptor = tokio_rustls::TlsAcceptor::from(identity.server_config());
    raw(move |stream| {
        let acceptor = acceptor.clone();
        Box::pin(async move {
            if let Ok(mut tls) = acceptor.accept(stream).await {
                let mut buf = [0u8; 64];
                let _ = tls.read(&mut buf).await;
            }
        })
    })
}

async fn serve_http<IO>(io: TokioIo<IO>, handler: Handler)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let response = handler(&req);
        async move { Ok::<_, Infallible>(response) }
    });
    let _ = http1::Builder::new().serve_connection(io, service).await;
}

/// Accepts connections and never sends a byte (a hung server).
pub fn silent() -> Server {
    raw(|stream| {
        Box::pin(async move {
            let _held = stream;
            std::future::pending::<()>().await
        })
    })
}

/// Answers 200 and then streams a body that never ends.
pub fn endless_body() -> Server {
    raw(|mut stream| {
        Box::pin(async move {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n";
            if stream.write_all(head).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            while stream.write_all(&chunk).await.is_ok() {}
        })
    })
}

/// Sends the status line and headers, a little of the body, then nothing more.
pub fn stalled_body() -> Server {
    raw(|mut stream| {
        Box::pin(async move {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nfirst bytes";
            let _ = stream.write_all(head).await;
            std::future::pending::<()>().await
        })
    })
}

/// A loopback port whose listener never accepts and whose accept queue is full, so a new
/// connection's handshake never completes (the kernel drops its SYN). Returns the port and
/// what must be kept alive; `None` where the kernel completes handshakes anyway.
pub fn unaccepting() -> Option<(u16, (std::net::TcpListener, Vec<std::net::TcpStream>))> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = socket.local_addr().expect("addr");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let listener = runtime.block_on(async { socket.listen(0) }).expect("listen").into_std().expect("std listener");
    let mut held = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300)) {
            Ok(stream) => held.push(stream),
            Err(_) => return Some((addr.port(), (listener, held))),
        }
    }
    eprintln!("SKIPPED: this kernel completes handshakes past a full accept queue");
    None
}

/// A loopback port nothing listens on: bound by the OS, then released.
pub fn closed_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A process a test started: killed and reaped on drop, so no test leaves one behind.
pub struct Child(pub std::process::Child);

impl Child {
    pub fn spawn(command: &mut std::process::Command) -> Child {
        Child(command.spawn().unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program())))
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A peer process started once for a whole test binary, and its folder.
struct Shared {
    child: Child,
    stop: libc::c_int,
    _dir: tempfile::TempDir,
}

static SHARED: std::sync::Mutex<Vec<Shared>> = std::sync::Mutex::new(Vec::new());

extern "C" fn stop_shared() {
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    for peer in shared.iter_mut() {
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(peer.child.id() as libc::pid_t, peer.stop) };
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for peer in shared.iter_mut() {
        while peer.child.0.try_wait().is_ok_and(|s| s.is_none()) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    // Dropping kills what is left and reaps it, then removes its folder.
    shared.clear();
}

/// Starts `command` for the rest of this test binary, keeping `dir` until then. It is
/// spawned from a thread that lives as long as the binary, with PR_SET_PDEATHSIG, so even a
/// killed test binary leaves no process behind; a normal exit sends it `stop` (the signal
/// that makes a peer with worker processes, like dovecot or postgres, stop and reap them),
/// waits a moment, then kills and reaps it (atexit).
pub fn start_shared(mut command: std::process::Command, dir: tempfile::TempDir, stop: libc::c_int) {
    use std::os::unix::process::CommandExt;
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        // SAFETY: registering a plain `extern "C" fn` with the C library's exit handlers.
        unsafe { libc::atexit(stop_shared) };
    });
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Child::spawn(&mut command));
        loop {
            std::thread::park();
        }
    });
    let child = rx.recv().expect("peer spawned");
    SHARED.lock().unwrap_or_else(|e| e.into_inner()).push(Shared { child, stop, _dir: dir });
}

/// Polls `ready` every 50 ms until it holds; fails naming `what` after 20 s. Generous, so a
/// loaded 2-core machine never turns a slow start into a failure.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{what} did not become ready in 20 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_for_tcp(what: &str, port: u16) {
    wait_until(what, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
}

/// A free UDP port on loopback: bound by the OS, then released.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp").local_addr().expect("addr").port()
}

/// The path of a real third-party peer (dcmtk, dnsmasq...), looked for in `candidates`.
///
/// Missing: with `ROUNDS_REQUIRE_PEERS=1` (which `.ci/run` sets after installing them) the
/// test fails; otherwise the test returns early and is named, with what to install, in a
/// summary printed after the test binary's own result line (see [`skipped`]), so `cargo test`
/// on a machine with only a Rust toolchain passes without hiding what it did not test.
pub fn peer(candidates: &[&str], package: &str) -> Option<PathBuf> {
    if let Some(found) = candidates.iter().map(PathBuf::from).find(|p| p.exists()) {
        return Some(found);
    }
    skipped(format!("needs {} (apt-get install -y {package})", candidates[0]))
}

/// `python3`, when it has every module in `modules`, given as (module, PyPI package) pairs
/// (`.ci/run` installs them); like [`peer`], a missing one skips the test visibly, or fails
/// it under `ROUNDS_REQUIRE_PEERS=1`.
pub fn python_with(modules: &[(&str, &str)]) -> Option<PathBuf> {
    let imports = format!("import {}", modules.iter().map(|(m, _)| *m).collect::<Vec<_>>().join(", "));
    let ok = std::process::Command::new("python3").args(["-c", &imports]).output().is_ok_and(|o| o.status.success());
    if ok {
        return Some(PathBuf::from("python3"));
    }
    let packages = modules.iter().map(|(_, p)| *p).collect::<Vec<_>>().join(" ");
    skipped(format!("needs python3 with {packages} (python3 -m pip install {packages})"))
}

/// Tests of this binary that returned early because their peer is missing: (test, need).
static SKIPPED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Records that the running test could not reach its peer, and returns `None` for it to
/// return early; under `ROUNDS_REQUIRE_PEERS=1` it panics instead.
///
/// libtest hides a passing test's output, and a test that returns early counts as passed.
/// So the first skip registers an exit handler that prints every skipped test and what to
/// install, straight to stderr after libtest's own `test result:` line, where a person
/// reading the end of `cargo test` sees it.
pub fn skipped<T>(need: String) -> Option<T> {
    if std::env::var_os("ROUNDS_REQUIRE_PEERS").is_some_and(|v| v == "1") {
        panic!("{need}; ROUNDS_REQUIRE_PEERS=1 makes that a failure");
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    eprintln!("SKIPPED: {test}: {need}");
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        // SAFETY: registering a plain `extern "C" fn` with the C library's exit handlers.
        unsafe { libc::atexit(print_skipped) };
    });
    SKIPPED.lock().unwrap_or_else(|e| e.into_inner()).push((test, need));
    None
}

/// `formats` for `target/debug/deps/formats-127b47df007f8d66`.
fn test_binary_name() -> String {
    let path = std::env::args().next().unwrap_or_default();
    let file = path.rsplit('/').next().unwrap_or_default();
    file.rsplit_once('-').map_or(file, |(name, _hash)| name).to_owned()
}

extern "C" fn print_skipped() {
    use std::io::Write;
    let skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = format!(
        "\nNOT TESTED: {} test(s) of {} passed without reaching their peer:\n",
        skipped.len(),
        test_binary_name()
    );
    for (test, need) in skipped.iter() {
        text.push_str(&format!("  {test}: {need}\n"));
    }
    text.push_str("  (bash .ci/run installs every peer; ROUNDS_REQUIRE_PEERS=1 makes a missing one fail)\n\n");
    // Straight to the process's stderr: libtest's capture covers only the print macros.
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Runs `python3 -c SCRIPT ARGS...` and returns its stdout; panics with stderr on failure.
pub fn python(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let output = std::process::Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3");
    assert!(
        output.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Debian's nginx serving `servers` (server blocks; `{port0}`, `{port1}`... stand for free
/// loopback ports it listens on, `{dir}` for its own folder), in the foreground, killed on
/// drop. A start that fails (a port taken in between) is tried again on other ports.
pub struct Nginx {
    _child: Child,
    pub ports: Vec<u16>,
    pub dir: tempfile::TempDir,
}

pub fn nginx(servers: &str, ports: usize) -> Option<Nginx> {
    let program = peer(&["/usr/sbin/nginx", "/usr/bin/nginx"], "nginx-light")?;
    for _ in 0..10 {
        let dir = tempfile::tempdir().expect("temp dir");
        let chosen: Vec<u16> = (0..ports).map(|_| closed_port()).collect();
        let mut blocks = servers.replace("{dir}", &dir.path().display().to_string());
        for (i, port) in chosen.iter().enumerate() {
            blocks = blocks.replace(&format!("{{port{i}}}"), &port.to_string());
        }
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log stderr;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{blocks}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("write nginx.conf");
        let mut command = std::process::Command::new(&program);
        command
            .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf"), "-e", "stderr"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = Child::spawn(&mut command);
        let mut exited = false;
        wait_until("nginx", || {
            exited = child.0.try_wait().ok().flatten().is_some();
            exited || chosen.iter().all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
        });
        if !exited {
            return Some(Nginx { _child: child, ports: chosen, dir });
        }
    }
    panic!("nginx would not start on any of 10 sets of free ports");
}

/// Debian's stunnel terminating TLS in front of a plain-TCP service on `service_port`, as
/// clinics put one in front of an interface engine or worklist server that cannot do TLS
/// itself; `extra` lines go into its service section. Killed on drop; `None` (the test is
/// skipped) without stunnel.
pub fn stunnel(
    service_port: u16,
    cert: &std::path::Path,
    key: &std::path::Path,
    extra: &str,
) -> Option<(Child, u16, tempfile::TempDir)> {
    let program = peer(&["/usr/bin/stunnel4", "/usr/bin/stunnel"], "stunnel4")?;
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let port = closed_port();
        let conf = dir.path().join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\n[service]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{service_port}\ncert = {}\nkey = {}\n{extra}\n",
                cert.display(),
                key.display()
            ),
        )
        .unwrap();
        let mut command = std::process::Command::new(&program);
        command.arg(&conf).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut child = Child::spawn(&mut command);
        let mut exited = false;
        wait_until("stunnel", || {
            exited = child.0.try_wait().ok().flatten().is_some();
            exited || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !exited {
            return Some((child, port, dir));
        }
    }
    panic!("stunnel would not start");
}

/// The values clap accepts for a flag, read back from its usage error (`args` ends with the
/// flag and a value it refuses): tests iterate rounds' own list, not a copy of it.
pub fn possible_values(args: &[&str]) -> Vec<String> {
    let output = rounds().args(args).output().expect("run rounds");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let list = stderr.split("[possible values: ").nth(1).and_then(|rest| rest.split(']').next());
    let values: Vec<String> = list.unwrap_or_default().split(", ").map(str::to_owned).collect();
    assert!(values.len() > 1, "{stderr}");
    values
}
