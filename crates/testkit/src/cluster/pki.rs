//! Fresh certificates for one control plane: a CA, the API server's serving certificate (for
//! 127.0.0.1 and the in-cluster names), client certificates for the admin (system:masters), the
//! controller manager and the scheduler, the service-account signing key, and kubeconfigs.

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use std::path::Path;

/// The Service CIDR and the API server's Service IP in it.
pub const SERVICE_CIDR: &str = "10.0.0.0/24";
const SERVICE_IP: &str = "10.0.0.1";

/// The identities a kubeconfig is written for: file stem, common name, organisation.
pub const IDENTITIES: [(&str, &str, Option<&str>); 3] = [
    ("admin", "admin", Some("system:masters")),
    ("kcm", "system:kube-controller-manager", None),
    ("scheduler", "system:kube-scheduler", None),
];

fn err(what: &str) -> impl Fn(rcgen::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Write `pki/` and one `<identity>.kubeconfig` per identity into `dir`.
pub fn write(dir: &Path, apiserver_port: u16) -> Result<(), String> {
    let pki = dir.join("pki");
    std::fs::create_dir_all(&pki).map_err(|e| format!("{}: {e}", pki.display()))?;
    let write = |name: &str, body: &str| {
        let path = pki.join(name);
        std::fs::write(&path, body).map_err(|e| format!("{}: {e}", path.display()))
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err("CA"))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "tk8s-test-cluster-ca");
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(err("CA key"))?).map_err(err("CA"))?;
    write("ca.crt", &issuer.pem())?;

    let names: Vec<String> = [
        "127.0.0.1",
        SERVICE_IP,
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut serving = CertificateParams::new(names).map_err(err("API server certificate"))?;
    serving.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(err("API server key"))?;
    write("apiserver.crt", &serving.signed_by(&key, &issuer).map_err(err("API server certificate"))?.pem())?;
    write("apiserver.key", &key.serialize_pem())?;

    let ca_data = base64::engine::general_purpose::STANDARD.encode(issuer.pem());
    for (stem, common_name, organisation) in IDENTITIES {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err(stem))?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        if let Some(o) = organisation {
            params.distinguished_name.push(DnType::OrganizationName, o);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().map_err(err(stem))?;
        let cert = params.signed_by(&key, &issuer).map_err(err(stem))?;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tk8s-test\n  cluster:\n    server: https://127.0.0.1:{apiserver_port}\n    certificate-authority-data: {ca_data}\nusers:\n- name: {stem}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: tk8s-test\n  context:\n    cluster: tk8s-test\n    user: {stem}\ncurrent-context: tk8s-test\n",
            b64(&cert.pem()),
            b64(&key.serialize_pem())
        );
        let path = dir.join(format!("{stem}.kubeconfig"));
        std::fs::write(&path, kubeconfig).map_err(|e| format!("{}: {e}", path.display()))?;
    }

    let sa = KeyPair::generate().map_err(err("service-account key"))?;
    write("sa.key", &sa.serialize_pem())?;
    write("sa.pub", &sa.public_key_pem())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_the_flags_name_is_written() {
        let dir = tempfile::tempdir().unwrap();
        super::write(dir.path(), 6443).unwrap();
        for f in [
            "pki/ca.crt",
            "pki/apiserver.crt",
            "pki/apiserver.key",
            "pki/sa.key",
            "pki/sa.pub",
            "admin.kubeconfig",
            "kcm.kubeconfig",
            "scheduler.kubeconfig",
        ] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        let admin = std::fs::read_to_string(dir.path().join("admin.kubeconfig")).unwrap();
        assert!(admin.contains("server: https://127.0.0.1:6443"), "{admin}");
        assert!(std::fs::read_to_string(dir.path().join("pki/sa.pub")).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    }
}
