//! PostgreSQL for `[[sql]]`, through tokio-postgres over our own TCP stream and our own
//! rustls configuration (a small `TlsConnect` below, no extra crate).
//!
//! The query runs in a `READ ONLY` transaction with `statement_timeout` set inside the
//! check's budget, through the extended protocol (one statement only: "COMMIT; DELETE ..."
//! is refused by the server), and the transaction is rolled back. Rows are fetched through a
//! portal with a row limit, so a query matching millions of rows sends only the bound.
//! The first value is handed back to the server in its own type to learn its text
//! (`$1::text`) and its age (`clock_timestamp() - $1::timestamptz`): a timestamp without a
//! time zone is then read in the session's `TimeZone`, exactly as the database itself reads it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{ChannelBinding, NoTls, TlsConnect};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::{Client, Config};

use super::{shown, Answer, Ask, Failed, First, NO_TLS};

pub(super) async fn ask(ask: &Ask<'_>, stream: TcpStream) -> Result<Answer, Failed> {
    let server = ask.server;
    let mut config = Config::new();
    config.user(&server.user).password(&server.password).host(&server.host).port(server.port);
    config.application_name("rounds");
    if let Some(db) = &server.database {
        config.dbname(db);
    }
    match (&ask.tls, &server.tls) {
        (Some(rustls), Some(tls)) => {
            config.ssl_mode(SslMode::Require);
            let offered = Arc::new(AtomicBool::new(false));
            let connector =
                Rustls { config: rustls.clone(), server_name: tls.server_name.clone(), offered: offered.clone() };
            session(ask, &config, stream, connector, Some(&offered)).await
        }
        _ => {
            config.ssl_mode(SslMode::Disable);
            session(ask, &config, stream, NoTls, None).await
        }
    }
}

/// How long the connection's task may take to say goodbye.
const GOODBYE: std::time::Duration = std::time::Duration::from_millis(200);

/// Aborts the connection's task when the check is done (or cancelled).
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn session<T>(
    ask: &Ask<'_>,
    config: &Config,
    stream: TcpStream,
    tls: T,
    offered: Option<&AtomicBool>,
) -> Result<Answer, Failed>
where
    T: TlsConnect<TcpStream>,
    T::Stream: Send + 'static,
{
    let (mut client, connection) = config.connect_raw(stream, tls).await.map_err(|e| {
        let tls_refused = offered.is_some_and(|o| !o.load(Ordering::Relaxed));
        Failed::Connecting(connect_error(&e, ask, tls_refused))
    })?;
    let mut driver = Driver(tokio::spawn(async move {
        let _ = connection.await;
    }));
    ask.connected.store(true, Ordering::Relaxed);
    let answer = query(&mut client, ask).await.map_err(|e| Failed::Connected(query_error(&e, ask)));
    // Dropping the client sends Terminate: a moment for it to go, so the server logs a
    // clean goodbye rather than a lost client every morning.
    drop(client);
    let goodbye = (tokio::time::Instant::now() + GOODBYE).min(ask.budget.step_deadline());
    let _ = tokio::time::timeout_at(goodbye, &mut driver.0).await;
    answer
}

async fn query(client: &mut Client, ask: &Ask<'_>) -> Result<Answer, tokio_postgres::Error> {
    let ms = ask.statement_timeout().as_millis();
    // Every transaction of this session read-only, not only ours: a query that ends it
    // ("COMMIT") leaves no writable one behind.
    client.batch_execute(&format!("SET default_transaction_read_only = on; SET statement_timeout = {ms}")).await?;
    let transaction = client.build_transaction().read_only(true).start().await?;
    let statement = transaction.prepare(ask.query).await?;
    let portal = transaction.bind(&statement, &[]).await?;
    let bound = i32::try_from(ask.row_bound).unwrap_or(i32::MAX);
    let rows = transaction.query_portal(&portal, bound).await?;
    let mut answer = Answer { rows: rows.len() as u64, first: First::NoRow };
    if let (Some(row), Some(column)) = (rows.first(), statement.columns().first()) {
        let ty = column.type_().clone();
        answer.first = match row.try_get::<_, Option<Raw>>(0)? {
            None => First::Null,
            Some(raw) => {
                let text = match ask.want_text {
                    false => String::new(),
                    true => {
                        let text_of = transaction.prepare_typed("SELECT $1::text", std::slice::from_ref(&ty)).await?;
                        transaction.query_one(&text_of, &[&raw]).await?.try_get(0)?
                    }
                };
                let age = match ask.want_age {
                    false => None,
                    true => Some(age(&transaction, &ty, &raw).await),
                };
                First::Value { text, age }
            }
        };
    }
    let _ = transaction.rollback().await;
    Ok(answer)
}

/// Seconds since `raw` (a value of type `ty`) by the database's clock; a value that is not a
/// timestamp (nor text the database reads as one) is said in words.
async fn age(transaction: &tokio_postgres::Transaction<'_>, ty: &Type, raw: &Raw) -> Result<f64, String> {
    let sql = "SELECT extract(epoch FROM clock_timestamp() - $1::timestamptz)::float8";
    let asked = async {
        let statement = transaction.prepare_typed(sql, std::slice::from_ref(ty)).await?;
        transaction.query_one(&statement, &[raw]).await?.try_get::<_, f64>(0)
    };
    asked.await.map_err(|e| match e.as_db_error() {
        Some(db) if db.code() == &SqlState::QUERY_CANCELED => "timeout while querying (statement_timeout)".to_owned(),
        _ => format!("the first column is not a timestamp (it is {}), so max_age cannot judge it", ty.name()),
    })
}

/// A value exactly as the server sent it, to hand back in the same type.
#[derive(Debug)]
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

impl ToSql for Raw {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Why logging in failed, in words.
fn connect_error(error: &tokio_postgres::Error, ask: &Ask<'_>, tls_refused: bool) -> String {
    if let Some(words) = db_words(error, ask) {
        return words;
    }
    let text = error.to_string();
    if text.starts_with("error performing TLS handshake") {
        if tls_refused {
            return NO_TLS.to_owned();
        }
        let io = std::error::Error::source(error).and_then(|s| s.downcast_ref::<io::Error>());
        return match io {
            Some(io) => format!("TLS handshake failed: {}", super::super::net::describe_io(io)),
            None => format!("TLS handshake failed: {}", shown(&text)),
        };
    }
    other_words(error, &text)
}

/// Why the query failed, in words.
fn query_error(error: &tokio_postgres::Error, ask: &Ask<'_>) -> String {
    db_words(error, ask).unwrap_or_else(|| other_words(error, &error.to_string()))
}

fn other_words(error: &tokio_postgres::Error, text: &str) -> String {
    if error.is_closed() {
        return "the database closed the connection".to_owned();
    }
    if let Some(io) = std::error::Error::source(error).and_then(|s| s.downcast_ref::<io::Error>()) {
        return super::super::net::describe_io(io);
    }
    if text.starts_with("authentication error") || text.contains("password missing") {
        return format!("authentication failed: {}", shown(text));
    }
    shown(text)
}

/// A PostgreSQL error (SQLSTATE) in words, with the server's own message.
fn db_words(error: &tokio_postgres::Error, ask: &Ask<'_>) -> Option<String> {
    let db = error.as_db_error()?;
    let message = shown(db.message());
    let code = db.code();
    let user = &ask.server.user;
    let words = if code == &SqlState::INVALID_PASSWORD || code == &SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
        format!("authentication failed for user {user:?}: {message}")
    } else if code == &SqlState::INVALID_CATALOG_NAME {
        format!("database does not exist: {message}")
    } else if code == &SqlState::INSUFFICIENT_PRIVILEGE {
        format!("permission denied: {message} (grant SELECT to {user:?})")
    } else if code == &SqlState::TOO_MANY_CONNECTIONS {
        format!("too many connections: {message}")
    } else if code == &SqlState::QUERY_CANCELED {
        format!("timeout while querying: the database cancelled the query at statement_timeout ({message})")
    } else if code == &SqlState::READ_ONLY_SQL_TRANSACTION {
        format!("the query tries to write, and rounds runs queries read-only: {message}")
    } else if code == &SqlState::CANNOT_CONNECT_NOW {
        format!("the database is starting up or shutting down: {message}")
    } else {
        format!("the database refused the query: {message} (SQLSTATE {})", code.code())
    };
    Some(words)
}

/// TLS over rustls with rounds' own configuration (its recorder sees the certificate).
struct Rustls {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    /// Set when the server agreed to TLS (answered the SSLRequest with 'S').
    offered: Arc<AtomicBool>,
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

impl TlsConnect<TcpStream> for Rustls {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Connecting;

    fn connect(self, stream: TcpStream) -> Connecting {
        self.offered.store(true, Ordering::Relaxed);
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move { connector.connect(self.server_name, stream).await.map(RustlsStream) })
    }
}

struct RustlsStream(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for RustlsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl tokio_postgres::tls::TlsStream for RustlsStream {
    /// No channel binding: SCRAM-SHA-256 without it, as libpq's default `prefer` does when
    /// the client offers none.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
