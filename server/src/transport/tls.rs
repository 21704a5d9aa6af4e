//! The QUIC listener's certificate: [`TlsIdentity::load`] reads `--tls-cert` / `--tls-key`
//! (PEM), [`TlsIdentity::self_signed`] makes a development certificate when neither is given
//! (ECDSA P-256, valid under 14 days, for `localhost`, `127.0.0.1` and `::1`, so that a browser
//! accepts it through WebTransport's `serverCertificateHashes`), and
//! [`TlsIdentity::server_config`] builds the rustls configuration with the ring provider (the
//! tree's other TLS users choose ring too). Nothing here reads the network.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use super::settings::TlsFiles;

/// How long a generated development certificate is valid: under the 14 days browsers accept
/// through `serverCertificateHashes` (counted from an hour back, for clocks slightly behind).
const DEVELOPMENT_VALIDITY: time::Duration = time::Duration::days(13);

/// A certificate chain and its key.
#[derive(Debug)]
pub struct TlsIdentity {
    /// The chain, leaf first.
    chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    key: PrivateKeyDer<'static>,
    /// Whether it was generated at start (a development certificate).
    generated: bool,
}

/// Why the certificate could not be read, made or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `--tls-cert` could not be read or holds no certificate.
    #[error("cannot read the certificate chain in --tls-cert {path}: {cause}")]
    Certificate {
        /// The file.
        path: String,
        /// Why.
        cause: String,
    },
    /// `--tls-key` could not be read or holds no private key.
    #[error("cannot read the private key in --tls-key {path}: {cause}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        cause: String,
    },
    /// The development certificate could not be made.
    #[error("cannot make the development certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate and key (a key that does not match, an unsupported
    /// algorithm).
    #[error("the certificate and key cannot be used: {0}")]
    Unusable(#[from] rustls::Error),
}

impl TlsIdentity {
    /// Reads a PEM certificate chain and private key.
    pub fn load(files: &TlsFiles) -> Result<TlsIdentity, TlsError> {
        let cert_error = |cause: String| TlsError::Certificate {
            path: files.cert.display().to_string(),
            cause,
        };
        let chain = CertificateDer::pem_file_iter(&files.cert)
            .map_err(|cause| cert_error(cause.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|cause| cert_error(cause.to_string()))?;
        if chain.is_empty() {
            return Err(cert_error("no CERTIFICATE block".to_owned()));
        }
        let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|cause| TlsError::Key {
            path: files.key.display().to_string(),
            cause: cause.to_string(),
        })?;
        Ok(TlsIdentity {
            chain,
            key,
            generated: false,
        })
    }

    /// Makes a self-signed development certificate.
    pub fn self_signed() -> Result<TlsIdentity, TlsError> {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])?;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + DEVELOPMENT_VALIDITY;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "classhub development");
        let certificate = params.self_signed(&key_pair)?;
        // rcgen writes the key as PKCS#8.
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
        Ok(TlsIdentity {
            chain: vec![certificate.der().clone()],
            key,
            generated: true,
        })
    }

    /// The leaf certificate (DER): what a client pins to trust a development certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// The leaf certificate's SHA-256, in hex: the value of WebTransport's
    /// `serverCertificateHashes`.
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(self.leaf().as_ref()))
    }

    /// Whether this certificate was generated at start.
    pub fn is_generated(&self) -> bool {
        self.generated
    }

    /// The rustls server configuration (TLS 1.3 only, as QUIC requires; the ring provider)
    /// offering `alpn`.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<rustls::ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = alpn.iter().map(|name| name.to_vec()).collect();
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_development_certificate_is_short_lived_ecdsa_and_usable() {
        let identity = TlsIdentity::self_signed().expect("generated");
        assert!(identity.is_generated());
        assert_eq!(identity.sha256_hex().len(), 64);
        assert!(matches!(identity.key, PrivateKeyDer::Pkcs8(_)));
        identity
            .server_config(&[b"classhub.v1.json"])
            .expect("rustls takes it");
        let other = TlsIdentity::self_signed().expect("generated");
        assert_ne!(
            identity.sha256_hex(),
            other.sha256_hex(),
            "a new key each start"
        );
    }

    #[test]
    fn pem_files_are_read_and_bad_ones_named() {
        let dir = std::env::temp_dir().join(format!("classhub-tls-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let certificate = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key_pair)
            .expect("cert");
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, certificate.pem()).expect("write");
        std::fs::write(&files.key, key_pair.serialize_pem()).expect("write");
        let identity = TlsIdentity::load(&files).expect("loads");
        assert!(!identity.is_generated());
        assert_eq!(identity.leaf(), certificate.der());
        identity
            .server_config(&[b"classhub.v1.json"])
            .expect("usable");

        std::fs::write(&files.cert, "not a certificate").expect("write");
        let error = TlsIdentity::load(&files).expect_err("no certificate");
        assert!(error.to_string().contains("--tls-cert"), "{error}");
        std::fs::write(&files.cert, certificate.pem()).expect("write");
        std::fs::write(&files.key, "not a key").expect("write");
        let error = TlsIdentity::load(&files).expect_err("no key");
        assert!(error.to_string().contains("--tls-key"), "{error}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
