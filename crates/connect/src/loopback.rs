//! One HTTP/1.0 GET of plain-HTTP endpoints in the pod: the admin server relaying the SDK's
//! Prometheus exporter on loopback, `probe` (a container HEALTHCHECK with no curl in the
//! image), the scaler reading the workers' `/metrics`, the companion relaying an SDK worker's. One request, then EOF; a hyper client
//! would be more code than the protocol.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// GET `path` on `addr`: the status code and body.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("malformed response"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("malformed status line: {}", head.lines().next().unwrap_or(""))))?;
    Ok((status, body.to_string()))
}
