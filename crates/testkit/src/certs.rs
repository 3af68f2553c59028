//! Throwaway certificates for TLS tests: a CA, server and client leaves signed by it, written
//! as PEM files in the layouts the host reads (including a `kubernetes.io/tls` directory).

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::{Path, PathBuf};

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, as PEM and DER.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA cert");
        TestCa { issuer }
    }

    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `common_name`, valid for the given DNS names.
    pub fn leaf(&self, common_name: &str, dns_names: &[&str]) -> Leaf {
        self.leaf_valid(common_name, dns_names, None)
    }

    /// A leaf whose validity ends at `not_after` (Unix seconds; it starts a year before).
    pub fn leaf_until(&self, common_name: &str, dns_names: &[&str], not_after: i64) -> Leaf {
        self.leaf_valid(common_name, dns_names, Some(not_after))
    }

    fn leaf_valid(&self, common_name: &str, dns_names: &[&str], not_after: Option<i64>) -> Leaf {
        let mut params = CertificateParams::new(dns_names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, common_name);
        if let Some(end) = not_after {
            params.not_after = time::OffsetDateTime::from_unix_timestamp(end).expect("a valid time");
            params.not_before = params.not_after - time::Duration::days(365);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), cert_der: cert.der().to_vec() }
    }

    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.crt");
        std::fs::write(&path, self.cert_pem()).expect("write CA");
        path
    }
}

impl Leaf {
    /// Write as a `kubernetes.io/tls` Secret mount would: `tls.crt` and `tls.key` in `dir`.
    /// The two files are replaced atomically (write + rename), as the kubelet does.
    pub fn write_tls_dir(&self, dir: &Path) {
        std::fs::create_dir_all(dir).expect("tls dir");
        for (name, body) in [("tls.crt", &self.cert_pem), ("tls.key", &self.key_pem)] {
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, body).expect("write tls file");
            std::fs::rename(&tmp, dir.join(name)).expect("rename tls file");
        }
    }
}
