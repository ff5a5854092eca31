//! MariaDB and MySQL for `[[sql]]` (placeholder).

use tokio::net::TcpStream;

use super::{Answer, Ask, Failed};

pub(super) async fn ask(_ask: &Ask<'_>, _stream: TcpStream) -> Result<Answer, Failed> {
    Err(Failed::Connecting("MariaDB and MySQL are not supported yet".to_owned()))
}
