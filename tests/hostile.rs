//! Hostile or broken peers: each ends in `fail` within its timeout, with memory bounded, and
//! says what was received.

mod support;

use std::time::{Duration, Instant};

use support::{inventory, verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A peer that reads what it is sent, then writes `answer` `times` times, `pause` apart.
fn peer(answer: &'static [u8], times: usize, pause: Duration) -> support::Server {
    support::raw(move |mut stream| {
        Box::pin(async move {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            for _ in 0..times {
                if stream.write_all(answer).await.is_err() {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
            std::future::pending::<()>().await
        })
    })
}

fn run_one(toml: &str, name: &str) -> (String, String, Duration) {
    let start = Instant::now();
    let (doc, _) = inventory(toml).run_json(&[]);
    let (status, detail) = verdict(&doc, name);
    (status, detail, start.elapsed())
}

fn endpoint(url: &str) -> String {
    format!("[[endpoint]]\nname = \"web\"\nurl = {url:?}\ntimeout = \"2s\"\n")
}

#[test]
fn headers_one_byte_a_second_end_at_the_timeout() {
    let server = peer(b"H", 100, Duration::from_secs(1));
    let (status, detail, took) = run_one(&endpoint(&server.url("/")), "web");
    assert_eq!((status.as_str(), detail.as_str()), ("fail", "connected, but no answer in 2 s"));
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn a_ten_megabyte_header_is_refused_with_bounded_memory() {
    let server = support::raw(|mut stream| {
        Box::pin(async move {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nX-Big: ").await;
            let chunk = vec![b'a'; 64 * 1024];
            for _ in 0..160 {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        })
    });
    let (status, detail, _) = run_one(&endpoint(&server.url("/")), "web");
    assert_eq!(status, "fail");
    assert_eq!(detail, "the server's answer is not valid HTTP (message head is too large)");
}

/// hyper refuses the whole status line for one control byte in its reason phrase; the
/// status code in it is still read and named (it was "invalid HTTP status-code parsed").
#[test]
fn a_control_character_in_the_reason_phrase_still_names_the_status_code() {
    let server = peer(b"HTTP/1.1 503 Service\x01Unavailable\r\ncontent-length: 0\r\n\r\n", 1, Duration::ZERO);
    let (status, detail, _) = run_one(&endpoint(&server.url("/")), "web");
    assert_eq!(status, "fail");
    assert_eq!(detail, "503, with a malformed reason phrase");
    let ok_code = peer(b"HTTP/1.1 200 O\x1bK\r\ncontent-length: 0\r\n\r\n", 1, Duration::ZERO);
    let (status, detail, _) = run_one(&endpoint(&ok_code.url("/")), "web");
    assert_eq!((status.as_str(), detail.as_str()), ("fail", "200, with a malformed reason phrase"));
    let no_code = peer(b"HTTP/1.1 5x3 Service\x01Unavailable\r\n\r\n", 1, Duration::ZERO);
    let (status, detail, _) = run_one(&endpoint(&no_code.url("/")), "web");
    assert_eq!(status, "fail");
    assert_eq!(detail, "the server's answer is not valid HTTP (invalid HTTP status-code parsed)");
}

#[test]
fn garbage_instead_of_a_tls_handshake() {
    let server = peer(b"SSH-2.0-OpenSSH_9.2\r\n", 1, Duration::ZERO);
    let toml = format!("[[tls]]\nname = \"t\"\nhost = \"127.0.0.1\"\nport = {}\ntimeout = \"2s\"\n", server.port());
    let (status, detail, _) = run_one(&toml, "t");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("TLS handshake failed: "), "{detail}");
    let https = run_one(&endpoint(&server.https_url("127.0.0.1", "/")), "web");
    assert_eq!(https.0, "fail", "{https:?}");
}

#[test]
fn a_tls_handshake_that_stalls_halfway_ends_at_the_timeout() {
    let server = support::silent();
    let toml = format!("[[tls]]\nname = \"t\"\nhost = \"127.0.0.1\"\nport = {}\ntimeout = \"1s\"\n", server.port());
    let (status, detail, _) = run_one(&toml, "t");
    assert_eq!((status.as_str(), detail.as_str()), ("fail", "connected, but the TLS handshake did not finish in 1 s"));
}

#[test]
fn an_mllp_peer_that_floods_without_an_end_frame_is_cut_off() {
    let server = support::raw(|mut stream| {
        Box::pin(async move {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let _ = stream.write_all(b"\x0bMSH|^~\\&|FLOOD").await;
            // Small pieces: a reader that rescans its whole buffer each time would be slow.
            let piece = vec![b'x'; 512];
            while stream.write_all(&piece).await.is_ok() {}
        })
    });
    let toml = format!("[[hl7]]\nname = \"h\"\nhost = \"127.0.0.1\"\nport = {}\ntimeout = \"10s\"\n", server.port());
    let (status, detail, took) = run_one(&toml, "h");
    assert_eq!((status.as_str(), detail.as_str()), ("fail", "bad framing: no MLLP end bytes in the first 1 MiB"));
    assert!(took < Duration::from_secs(8), "{took:?}");
}

/// `sh -c "sleep 30 & echo OK; exit 0"`: the plugin exited 0, so the check passes at once,
/// whatever its background child still holds open (it is killed with the group).
#[test]
fn a_plugin_that_exits_but_leaves_a_child_holding_stdout_is_judged_by_its_exit_code() {
    let toml = "[[command]]\nname = \"p\"\nrun = [\"sh\", \"-c\", \"sleep 30 & echo OK - backgrounded; exit 0\"]\ntimeout = \"10s\"\n";
    let (status, detail, took) = run_one(toml, "p");
    assert_eq!((status.as_str(), detail.as_str()), ("pass", "OK - backgrounded"));
    assert!(took < Duration::from_secs(8), "{took:?}");
}

// ---- DNS: a lost datagram, a truncated answer ------------------------------------------------

/// A stand-in DNS server (RFC 1035 over UDP, RFC 7766 over TCP, messages by hickory-proto):
/// dnsmasq can neither drop a query nor truncate on purpose.
fn dns_server(
    drop_first: bool,
    truncate: bool,
) -> (u16, std::thread::JoinHandle<()>, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use hickory_proto::op::{Message, MessageType};
    use hickory_proto::rr::{rdata::A, RData, Record};
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let udp = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    tcp.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let answer = move |query: &Message, full: bool| {
        let mut reply = Message::new();
        reply.set_id(query.id()).set_message_type(MessageType::Response).add_queries(query.queries().to_vec());
        if full {
            if let Some(q) = query.queries().first().filter(|q| q.query_type() == hickory_proto::rr::RecordType::A) {
                reply.add_answer(Record::from_rdata(q.name().clone(), 60, RData::A(A::new(10, 0, 0, 10))));
            }
        } else {
            reply.set_truncated(true);
        }
        reply.to_vec().unwrap()
    };
    let thread = std::thread::spawn(move || {
        let mut seen = 0;
        while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
            let mut buf = [0u8; 512];
            if let Ok((n, from)) = udp.recv_from(&mut buf) {
                seen += 1;
                if !(drop_first && seen == 1) {
                    if let Ok(query) = Message::from_vec(&buf[..n]) {
                        let _ = udp.send_to(&answer(&query, !truncate), from);
                    }
                }
            }
            if let Ok((mut stream, _)) = tcp.accept() {
                use std::io::{Read, Write};
                stream.set_nonblocking(false).unwrap();
                let mut size = [0u8; 2];
                if stream.read_exact(&mut size).is_ok() {
                    let mut query = vec![0u8; usize::from(u16::from_be_bytes(size))];
                    if stream.read_exact(&mut query).is_ok() {
                        let reply = answer(&Message::from_vec(&query).unwrap(), true);
                        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                        framed.extend(reply);
                        let _ = stream.write_all(&framed);
                    }
                }
            }
        }
    });
    (port, thread, stop)
}

#[test]
fn a_lost_dns_datagram_is_sent_again_and_a_truncated_answer_asked_over_tcp() {
    for (drop_first, truncate) in [(true, false), (false, true)] {
        let (port, thread, stop) = dns_server(drop_first, truncate);
        let toml = format!("[[dns]]\nname = \"d\"\nhost = \"ehr.clinic.test\"\nserver = \"127.0.0.1:{port}\"\nexpect = [\"10.0.0.10\"]\ntimeout = \"5s\"\n");
        let (status, detail, _) = run_one(&toml, "d");
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        thread.join().unwrap();
        assert_eq!(status, "pass", "drop first {drop_first}, truncate {truncate}: {detail}");
        assert!(detail.starts_with("10.0.0.10 in "), "{detail}");
    }
}

/// The status line is read by hand with the headers of the hop that failed: a server on
/// another origin, reached by a redirect, never gets the `Authorization` that was dropped
/// for it, not even on the second connection.
#[test]
fn reading_a_malformed_status_by_hand_sends_no_dropped_credentials() {
    use std::sync::{Arc, Mutex};
    let received = Arc::new(Mutex::new(Vec::<u8>::new()));
    let seen = received.clone();
    let other = support::raw(move |mut stream| {
        let seen = seen.clone();
        Box::pin(async move {
            let mut request = [0u8; 4096];
            let n = stream.read(&mut request).await.unwrap_or(0);
            seen.lock().unwrap().extend_from_slice(&request[..n]);
            let _ = stream.write_all(b"HTTP/1.1 503 Bad\x01Reason\r\ncontent-length: 0\r\n\r\n").await;
            std::future::pending::<()>().await
        })
    });
    // "localhost" and "127.0.0.1" are different origins.
    let target = format!("http://localhost:{}/next", other.port());
    let first = support::http(move |_| support::redirect(&target));
    let toml = format!(
        "[[endpoint]]\nname = \"web\"\nurl = {:?}\ntimeout = \"5s\"\nheaders = {{ Authorization = \"Bearer ${{TOKEN}}\" }}\n",
        first.url("/")
    );
    let output = inventory(&toml).rounds(&["--format", "json"]).env("TOKEN", "hostile-canary-token").output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verdict(&doc, "web"), ("fail".into(), "503, with a malformed reason phrase".into()));
    let received = String::from_utf8_lossy(&received.lock().unwrap()).to_lowercase();
    assert!(received.contains("get /next") && !received.contains("authorization"), "{received}");
}
