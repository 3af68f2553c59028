//! Why a connection to Temporal failed, and what to do about it. The cause is read from the
//! typed errors in the failure's source chain (rustls alerts and certificate errors, I/O error
//! kinds, gRPC status codes) together with what the configuration says (TLS on, a client
//! certificate or an API key configured), never from the text of one error.
//!
//! The one case that needs the configuration: with TLS 1.3 a server that requires a client
//! certificate sends its `certificate_required` alert *after* the client has finished the
//! handshake, so the alert races the first request. The client sees either the alert or, when
//! the server's close wins, a reset or broken pipe; and once the connection is HTTP/2, h2 keeps
//! only the I/O error's kind and text, so the rustls alert is no longer a type to find. "TLS on,
//! no client certificate configured, and the peer ended the connection at the TLS layer once
//! the handshake was over" is therefore the same diagnosis as the alert itself, and the hint
//! appears whichever way the race went.

use std::error::Error;
use std::fmt;
use temporalio_client::tonic::{Code, Status};

/// What the configuration says about the connection, for diagnosis.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts {
    pub tls: bool,
    pub client_cert: bool,
}

/// The failures people actually hit, each with its fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    ClientCertRequired,
    ClientCertRejected,
    UntrustedServer,
    NameMismatch,
    ServerCertExpired,
    CredentialsRejected,
    PlaintextServer,
    NothingListening,
    /// The address's host name does not resolve (found by looking it up, not from error text).
    UnknownHost,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use tk8s_config::spec as s;
        match self {
            Hint::ClientCertRequired => write!(
                f,
                "the server requires a client certificate (mTLS) and none is configured: mount one and set {}, or {} and {}",
                s::TEMPORAL_TLS_CERT_DIR.env,
                s::TEMPORAL_TLS_CLIENT_CERT_PATH.env,
                s::TEMPORAL_TLS_CLIENT_KEY_PATH.env
            ),
            Hint::ClientCertRejected => write!(
                f,
                "the server refused the client certificate: check that it is signed by the CA the server trusts and has not expired ({} or {})",
                s::TEMPORAL_TLS_CERT_DIR.env,
                s::TEMPORAL_TLS_CLIENT_CERT_PATH.env
            ),
            Hint::UntrustedServer => write!(
                f,
                "the server's certificate is not signed by a trusted CA: check {} (or ca.crt in {})",
                s::TEMPORAL_TLS_SERVER_CA_CERT_PATH.env,
                s::TEMPORAL_TLS_CERT_DIR.env
            ),
            Hint::NameMismatch => {
                write!(f, "the server's certificate does not name this host: set {} to a name it contains", s::TEMPORAL_TLS_SERVER_NAME.env)
            }
            Hint::ServerCertExpired => write!(f, "the server's certificate has expired or is not valid yet: renew it on the server"),
            Hint::CredentialsRejected => write!(
                f,
                "the server rejected the credentials: check the API key ({} or {}) or the client certificate",
                s::TEMPORAL_API_KEY.env,
                s::TEMPORAL_API_KEY_FILE.env
            ),
            Hint::PlaintextServer => write!(
                f,
                "TLS is on but the server speaks plaintext: set {}=false, or point {} at the TLS endpoint",
                s::TEMPORAL_TLS.env,
                s::TEMPORAL_ADDRESS.env
            ),
            Hint::NothingListening => {
                write!(f, "nothing accepts connections at {}: check the address and that the server is up", s::TEMPORAL_ADDRESS.env)
            }
            Hint::UnknownHost => write!(
                f,
                "the host name in {} does not resolve: check its spelling; in Kubernetes a Service in another namespace is <service>.<namespace>.svc.cluster.local",
                s::TEMPORAL_ADDRESS.env
            ),
        }
    }
}

/// A classified connection failure: what happened, in one line, and the hint if one applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub summary: String,
    pub hint: Option<Hint>,
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)?;
        if let Some(hint) = self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Facts observed in an error chain.
#[derive(Debug, Default)]
struct Observed {
    alert: Option<rustls::AlertDescription>,
    cert_error: Option<rustls::CertificateError>,
    not_tls: bool,
    refused: bool,
    peer_closed: bool,
    /// An I/O error of kind `InvalidData`: how rustls reports a failed record or an alert, also
    /// after h2 has flattened the rustls error into a kind and a message.
    tls_layer: bool,
    code: Option<Code>,
}

/// Every error in the chain, including the ones `std::io::Error` and `h2::Error` hold without
/// exposing them as `source()`, and what each type says about the connection.
fn walk<'a>(error: &'a (dyn Error + 'static), seen: &mut Observed, depth: usize) {
    if depth > 16 {
        return;
    }
    if let Some(e) = error.downcast_ref::<rustls::Error>() {
        match e {
            rustls::Error::AlertReceived(a) => seen.alert = Some(*a),
            rustls::Error::InvalidCertificate(c) => seen.cert_error = Some(c.clone()),
            rustls::Error::InvalidMessage(_) => seen.not_tls = true,
            _ => {}
        }
    }
    if let Some(e) = error.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind::*;
        match e.kind() {
            ConnectionRefused => seen.refused = true,
            BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof => seen.peer_closed = true,
            InvalidData => seen.tls_layer = true,
            _ => {}
        }
        if let Some(inner) = e.get_ref() {
            walk(inner, seen, depth + 1);
        }
    }
    // hyper: the connection ended before the request was sent, or while it was answered.
    if let Some(e) = error.downcast_ref::<hyper::Error>()
        && (e.is_canceled() || e.is_closed() || e.is_incomplete_message())
    {
        seen.peer_closed = true;
    }
    if let Some(e) = error.downcast_ref::<h2::Error>()
        && let Some(io) = e.get_io()
    {
        walk(io, seen, depth + 1);
    }
    if let Some(status) = error.downcast_ref::<Status>()
        && seen.code.is_none()
    {
        seen.code = Some(status.code());
    }
    if let Some(source) = error.source() {
        walk(source, seen, depth + 1);
    }
}

/// Classify a failure. `after_handshake`: the transport was established before it failed (a
/// failed first RPC, not a failed dial), so a closed connection came after TLS was negotiated.
pub fn diagnose(error: &(dyn Error + 'static), facts: Facts, after_handshake: bool) -> Diagnosis {
    let mut seen = Observed::default();
    walk(error, &mut seen, 0);
    use rustls::AlertDescription as A;
    use rustls::CertificateError as C;
    let hint = match (&seen.alert, &seen.cert_error) {
        (Some(A::CertificateRequired), _) => Some(Hint::ClientCertRequired),
        (Some(A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::CertificateExpired | A::AccessDenied), _)
            if facts.client_cert =>
        {
            Some(Hint::ClientCertRejected)
        }
        (Some(A::HandshakeFailure | A::BadCertificate | A::UnknownCA | A::CertificateUnknown), _) if facts.tls => {
            Some(Hint::ClientCertRequired)
        }
        (_, Some(C::NotValidForName | C::NotValidForNameContext { .. })) => Some(Hint::NameMismatch),
        (_, Some(C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. })) => Some(Hint::ServerCertExpired),
        (_, Some(_)) => Some(Hint::UntrustedServer),
        _ if seen.not_tls && facts.tls => Some(Hint::PlaintextServer),
        _ if matches!(seen.code, Some(Code::Unauthenticated | Code::PermissionDenied)) => Some(Hint::CredentialsRejected),
        _ if seen.refused => Some(Hint::NothingListening),
        // The server ended an established TLS connection at the TLS layer (an alert, or a close)
        // and we presented no certificate: the TLS 1.3 shape of "certificate required", also
        // when h2 has reduced the alert to an I/O error kind.
        _ if (seen.peer_closed || seen.tls_layer) && after_handshake && facts.tls && !facts.client_cert => Some(Hint::ClientCertRequired),
        _ => None,
    };
    Diagnosis { summary: summary(error), hint }
}

/// One readable line from the chain: each distinct message once, outermost first.
pub fn summary(error: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut push = |text: String| {
        let text = text.trim().to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    };
    let mut current = Some(error);
    let mut depth = 0;
    while let Some(e) = current
        && depth < 16
    {
        match e.downcast_ref::<Status>() {
            Some(s) => push(format!("{:?}: {}", s.code(), s.message())),
            None => push(e.to_string()),
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            push(inner.to_string());
        }
        current = e.source();
        depth += 1;
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn tls_no_cert() -> Facts {
        Facts { tls: true, client_cert: false }
    }

    fn transport(inner: io::Error) -> Status {
        Status::from_error(Box::new(inner))
    }

    #[test]
    fn the_certificate_required_alert_and_a_close_after_the_handshake_give_the_same_hint() {
        let alert = transport(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        ));
        assert_eq!(diagnose(&alert, tls_no_cert(), true).hint, Some(Hint::ClientCertRequired));
        // The race lost: h2 turns the server's close into a broken pipe.
        let pipe = transport(io::Error::new(io::ErrorKind::BrokenPipe, "stream closed because of a broken pipe"));
        assert_eq!(diagnose(&pipe, tls_no_cert(), true).hint, Some(Hint::ClientCertRequired));
        let reset = transport(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(diagnose(&reset, tls_no_cert(), true).hint, Some(Hint::ClientCertRequired));
        // What h2 leaves of the alert: a kind and a message, no rustls type.
        let flattened = transport(io::Error::new(io::ErrorKind::InvalidData, "received fatal alert: CertificateRequired".to_string()));
        assert_eq!(diagnose(&flattened, tls_no_cert(), true).hint, Some(Hint::ClientCertRequired));
    }

    #[test]
    fn a_close_is_not_blamed_on_mtls_when_it_cannot_be_the_cause() {
        let pipe = || transport(io::Error::new(io::ErrorKind::BrokenPipe, "broken pipe"));
        assert_eq!(diagnose(&pipe(), Facts { tls: false, ..Facts::default() }, true).hint, None, "plaintext");
        assert_eq!(diagnose(&pipe(), Facts { client_cert: true, ..tls_no_cert() }, true).hint, None, "a certificate is configured");
        assert_eq!(diagnose(&pipe(), tls_no_cert(), false).hint, None, "closed during the dial");
    }

    #[test]
    fn certificate_errors_status_codes_and_refusals() {
        let cert = |c| transport(io::Error::new(io::ErrorKind::InvalidData, rustls::Error::InvalidCertificate(c)));
        assert_eq!(diagnose(&cert(rustls::CertificateError::UnknownIssuer), tls_no_cert(), false).hint, Some(Hint::UntrustedServer));
        assert_eq!(diagnose(&cert(rustls::CertificateError::NotValidForName), tls_no_cert(), false).hint, Some(Hint::NameMismatch));
        assert_eq!(diagnose(&cert(rustls::CertificateError::Expired), tls_no_cert(), false).hint, Some(Hint::ServerCertExpired));
        let denied = Status::new(Code::Unauthenticated, "bad key");
        assert_eq!(diagnose(&denied, tls_no_cert(), true).hint, Some(Hint::CredentialsRejected));
        let refused = transport(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(diagnose(&refused, Facts::default(), false).hint, Some(Hint::NothingListening));
        let plaintext = transport(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        ));
        assert_eq!(diagnose(&plaintext, tls_no_cert(), false).hint, Some(Hint::PlaintextServer));
    }

    #[test]
    fn the_summary_names_each_layer_once() {
        let alert = transport(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        ));
        let text = diagnose(&alert, tls_no_cert(), true).to_string();
        assert!(text.contains("received fatal alert: CertificateRequired"), "{text}");
        assert!(text.contains("hint: the server requires a client certificate"), "{text}");
        assert_eq!(text.matches("CertificateRequired").count(), 1, "{text}");
    }
}
