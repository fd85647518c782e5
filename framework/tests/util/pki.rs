//! A throw-away PKI for the TLS tests, generated at test time with rcgen
//! and written as PEM files into a temporary folder removed on drop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};

/// CA, server, client and odd certificates, as files.
pub struct Pki {
    pub dir: PathBuf,
    /// The CA that signed everything below but `other_*`.
    pub ca: PathBuf,
    /// For `localhost` and 127.0.0.1.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// For `other.test` only (SNI selection, wrong-name tests).
    pub other_name_cert: PathBuf,
    pub other_name_key: PathBuf,
    /// For `localhost`, expired in 2001.
    pub expired_cert: PathBuf,
    pub expired_key: PathBuf,
    /// A client certificate (mTLS), CN `test client`.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here, and a server certificate from a CA
    /// nobody trusts.
    pub other_ca: PathBuf,
    pub untrusted_cert: PathBuf,
    pub untrusted_key: PathBuf,
}

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

fn leaf(ca: &Ca, names: &[&str], client: bool, expired: bool) -> (String, String) {
    let mut p =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    if names.contains(&"localhost") {
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    }
    p.distinguished_name.push(
        DnType::CommonName,
        if client { "test client" } else { names[0] },
    );
    p.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    if expired {
        p.not_before = date_time_ymd(2000, 1, 1);
        p.not_after = date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    pub fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = super::scratch_dir(&format!("pki-{}", N.fetch_add(1, Ordering::Relaxed)));
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let root = ca("shardloop test CA");
        let other = ca("some other CA");
        let (sc, sk) = leaf(&root, &["localhost"], false, false);
        let (oc, ok) = leaf(&root, &["other.test"], false, false);
        let (ec, ek) = leaf(&root, &["localhost"], false, true);
        let (cc, ck) = leaf(&root, &["client.test"], true, false);
        let (uc, uk) = leaf(&other, &["localhost"], false, false);
        Pki {
            ca: write("ca.pem", &root.cert.pem()),
            server_cert: write("server.pem", &sc),
            server_key: write("server.key", &sk),
            other_name_cert: write("other-name.pem", &oc),
            other_name_key: write("other-name.key", &ok),
            expired_cert: write("expired.pem", &ec),
            expired_key: write("expired.key", &ek),
            client_cert: write("client.pem", &cc),
            client_key: write("client.key", &ck),
            other_ca: write("other-ca.pem", &other.cert.pem()),
            untrusted_cert: write("untrusted.pem", &uc),
            untrusted_key: write("untrusted.key", &uk),
            dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `text` to a file in the PKI folder.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
