//! A small, fast HTTP server for `bench/run.sh`: listens on N loopback ports the OS picks,
//! answers `/big` with a 64 MiB body and everything else with `200 ok`, and writes its
//! ports, one a line, to the file given as the second argument. Runs until killed.

use std::convert::Infallible;
use std::io::Write;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const BIG: usize = 64 * 1024 * 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().unwrap_or_else(|| "1".into()).parse()?;
    let ports_file = args.next().ok_or("usage: bench-server COUNT PORTS_FILE")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let big = Bytes::from(vec![b'x'; BIG]);
        let mut ports = String::new();
        let mut listeners = Vec::new();
        for _ in 0..count {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            ports.push_str(&format!("{}\n", listener.local_addr()?.port()));
            listeners.push(listener);
        }
        std::fs::File::create(&ports_file)?.write_all(ports.as_bytes())?;
        for listener in listeners {
            let big = big.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let big = big.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                            let body = if req.uri().path() == "/big" { big.clone() } else { Bytes::from_static(b"ok") };
                            async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        }
        std::future::pending::<()>().await;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
