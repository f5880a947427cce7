//! The device's DTLS certificate, kept in the state directory across restarts: generating one
//! costs ~200 ms on the path from power-on to first packet, and a stable fingerprint is
//! easier to reason about in logs.

use rtc::crypto::{self, SignatureScheme};
use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const FILE_NAME: &str = "dtls-certificate.pem";
/// Renew a stored certificate this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(7 * 86_400);
/// How long a new certificate is valid for. We set it ourselves: on 32-bit ARM webrtc-rs
/// stamps a new certificate with "expires in 2 days", after which every new peer connection
/// fails with "certificate expired": a doorbell would go deaf two days after boot. Ten years
/// also stays clear of 2038 for 32-bit time values.
const LIFETIME: Duration = Duration::from_secs(3650 * 86_400);

/// Why the certificate could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot generate a DTLS certificate: {0}")]
    Generate(String),
}

fn generate() -> Result<RTCCertificate, CertificateError> {
    let provider =
        crypto::default_provider().map_err(|e| CertificateError::Generate(e.to_string()))?;
    let params = CertificateParams::new(vec!["roombell".to_owned()])
        .map_err(|e| CertificateError::Generate(e.to_string()))?;
    let generated =
        RTCCertificate::generate(provider.crypto(), SignatureScheme::EcdsaP256Sha256, params)
            .map_err(|e| CertificateError::Generate(e.to_string()))?;
    Ok(RTCCertificate::from_existing(
        generated.dtls_certificate,
        SystemTime::now() + LIFETIME,
    ))
}

fn load(path: &Path) -> Option<RTCCertificate> {
    let pem = std::fs::read_to_string(path).ok()?;
    let provider = crypto::default_provider().ok()?;
    let certificate = RTCCertificate::from_pem(&pem, provider.crypto()).ok()?;
    let fresh = certificate
        .expires
        .duration_since(SystemTime::now())
        .map(|left| left > RENEW_BEFORE)
        .unwrap_or(false);
    fresh.then_some(certificate)
}

/// Where the certificate lives in `state_dir`.
pub fn path_in(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// The stored certificate, or a new one stored for next time. A state directory that cannot
/// be written only costs start-up time, so it is logged, not fatal.
pub fn load_or_create(state_dir: &Path) -> Result<RTCCertificate, CertificateError> {
    let path = path_in(state_dir);
    if let Some(certificate) = load(&path) {
        tracing::debug!(path = %path.display(), "reusing the stored DTLS certificate");
        return Ok(certificate);
    }
    let certificate = generate()?;
    match certificate.serialize_pem() {
        Ok(pem) => {
            // Write then rename, so a power cut never leaves half a certificate behind.
            let temp = path.with_extension("pem.tmp");
            let stored = std::fs::create_dir_all(state_dir)
                .and_then(|_| std::fs::write(&temp, pem))
                .and_then(|_| std::fs::rename(&temp, &path));
            if let Err(e) = stored {
                tracing::warn!(path = %path.display(), error = %e, "cannot store the DTLS certificate; a new one will be made at every start");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot serialize the DTLS certificate"),
    }
    Ok(certificate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_certificate_is_reused_and_a_corrupt_one_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = load_or_create(dir.path()).expect("created");
        let second = load_or_create(dir.path()).expect("loaded");
        assert!(first == second, "the stored certificate is reused");
        let left = first
            .expires
            .duration_since(SystemTime::now())
            .expect("not expired");
        assert!(
            left > Duration::from_secs(9 * 365 * 86_400),
            "valid for years on every architecture, not {left:?}"
        );
        std::fs::write(path_in(dir.path()), "garbage").expect("corrupt it");
        let third = load_or_create(dir.path()).expect("replaced");
        assert!(third != first);
        assert!(
            load(&path_in(dir.path())).is_some(),
            "the replacement was stored"
        );
    }
}
