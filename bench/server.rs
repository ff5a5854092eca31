//! A small, fast HTTP server for `bench/run.sh`: listens on N loopback ports the OS picks,
//! answers `/big` with a 64 MiB body and everything else with `200 ok`, and writes its
//! ports, one a line, to the file given as the second argument. It also serves HTTPS on one
//! more port (a test CA made with rcgen at start), written to `<file>.tls`, with the CA in
//! `<file>.ca.pem`. Runs until killed.

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
        let (acceptor, ca_pem) = tls_identity()?;
        let tls_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        std::fs::write(format!("{ports_file}.ca.pem"), ca_pem)?;
        std::fs::write(format!("{ports_file}.tls"), format!("{}\n", tls_listener.local_addr()?.port()))?;
        tokio::spawn(async move {
            while let Ok((stream, _)) = tls_listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    }
                });
            }
        });
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

/// A CA and a certificate for 127.0.0.1 signed by it: the acceptor, and the CA's PEM.
fn tls_identity() -> Result<(tokio_rustls::TlsAcceptor, String), Box<dyn std::error::Error>> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])?.signed_by(&key, &issuer)?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )?;
    Ok((tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)), ca.pem()))
}
