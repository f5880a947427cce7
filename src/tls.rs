//! TLS for signaling: the room server's certificate and key (PEM files from `[room]`), what
//! the client trusts for `wss://` (the system's roots, or a private CA from `[device]`), and
//! which signaling URLs a device may use at all (no plain `ws://` across a network unless the
//! config says so).
//!
//! rustls with the ring provider, the same build webrtc already uses (no aws-lc: it has to
//! cross-compile for ARM boards).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A TLS file or setting that cannot be used, said with the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----): {reason}")]
    NoCertificate { path: PathBuf, reason: String },
    #[error("{path} holds no PEM private key (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY): {reason}")]
    NoPrivateKey { path: PathBuf, reason: String },
    #[error("the certificate in {cert} and the key in {key} cannot be used together: {reason}")]
    CertificateAndKey {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("{path}: a certificate in it is not a usable CA: {reason}")]
    BadCa { path: PathBuf, reason: String },
    #[error("no trusted root certificates found on this system ({reason}): install the ca-certificates package or set device.ca_file")]
    NoSystemRoots { reason: String },
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Every certificate in a PEM file, in order (a server's chain: its own first).
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::NoCertificate {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
            reason: "the file has no certificate section".into(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::NoPrivateKey {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// The room server's TLS settings from its certificate chain and key.
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let chain = load_certificates(cert)?;
    let private_key = load_private_key(key)?;
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| TlsError::CertificateAndKey {
            cert: cert.to_owned(),
            key: key.to_owned(),
            reason: e.to_string(),
        })
}

/// What a client trusts for `wss://`: only the CA in `ca_file` when given (a private CA),
/// otherwise the system's roots.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in load_certificates(path)? {
                roots.add(cert).map_err(|e| TlsError::BadCa {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let reason = found
                    .errors
                    .first()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "none found".into());
                return Err(TlsError::NoSystemRoots { reason });
            }
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// How a signaling URL will be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `wss://`: encrypted, the server's certificate verified.
    Tls,
    /// `ws://` to this machine: nothing crosses a network.
    PlainLoopback,
    /// `ws://` to another host, because the config explicitly allows it.
    PlainAllowed,
}

/// Why a signaling URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("{url:?} is not a WebSocket URL: use wss://HOST:PORT/ws (or ws:// to this machine)")]
    NotWebSocket { url: String },
    #[error("{url:?} has no host")]
    NoHost { url: String },
    #[error("ws:// to {host} would send the UserSig and all signaling unencrypted across the network: use wss://, or set device.allow_insecure_ws = true if that network is trusted")]
    Insecure { host: String },
}

/// True for a host name or address that cannot leave this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// Decides whether a client may use `url` for signaling, and how.
pub fn signaling_transport(url: &str, allow_insecure_ws: bool) -> Result<Transport, UrlRefusal> {
    let lower = url.trim().to_ascii_lowercase();
    let (secure, rest) = if let Some(rest) = lower.strip_prefix("wss://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("ws://") {
        (false, rest)
    } else {
        return Err(UrlRefusal::NotWebSocket { url: url.into() });
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials in a URL ("user:pass@host") are not ours to use, but the host is after them.
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(UrlRefusal::NoHost { url: url.into() });
    }
    if secure {
        Ok(Transport::Tls)
    } else if is_loopback_host(host) {
        Ok(Transport::PlainLoopback)
    } else if allow_insecure_ws {
        Ok(Transport::PlainAllowed)
    } else {
        Err(UrlRefusal::Insecure { host: host.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wss_is_always_accepted() {
        for url in [
            "wss://rooms.example.com/ws",
            "wss://10.0.0.5:8443/ws",
            "WSS://[::1]/ws",
        ] {
            assert_eq!(signaling_transport(url, false), Ok(Transport::Tls), "{url}");
        }
    }

    #[test]
    fn ws_to_this_machine_is_accepted() {
        for url in [
            "ws://127.0.0.1:8080/ws",
            "ws://127.8.9.10/ws",
            "ws://localhost:8080/ws",
            "ws://LOCALHOST./ws",
            "ws://[::1]:8080/ws",
            "ws://[::ffff:127.0.0.1]:8080/ws",
            "ws://user:pw@127.0.0.1:8080/ws",
        ] {
            assert_eq!(
                signaling_transport(url, false),
                Ok(Transport::PlainLoopback),
                "{url}"
            );
        }
    }

    #[test]
    fn ws_across_a_network_needs_the_explicit_setting() {
        for (url, host) in [
            ("ws://10.1.2.3:8080/ws", "10.1.2.3"),
            ("ws://192.168.1.10/ws", "192.168.1.10"),
            ("ws://[2001:db8::1]:8080/ws", "2001:db8::1"),
            ("ws://doorbell.example.com/ws", "doorbell.example.com"),
            ("ws://localhost.example.com/ws", "localhost.example.com"),
            ("ws://127.0.0.1@evil.example:80/ws", "evil.example"),
            ("ws://0.0.0.0:8080/ws", "0.0.0.0"),
        ] {
            let refused = signaling_transport(url, false).expect_err(url);
            assert_eq!(refused, UrlRefusal::Insecure { host: host.into() }, "{url}");
            assert!(refused.to_string().contains("device.allow_insecure_ws"));
            assert_eq!(
                signaling_transport(url, true),
                Ok(Transport::PlainAllowed),
                "{url}"
            );
        }
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_refused() {
        assert!(matches!(
            signaling_transport("http://127.0.0.1:8080/ws", true),
            Err(UrlRefusal::NotWebSocket { .. })
        ));
        assert!(matches!(
            signaling_transport("ws:///ws", true),
            Err(UrlRefusal::NoHost { .. })
        ));
    }

    #[test]
    fn missing_and_malformed_pem_files_name_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let absent = dir.path().join("absent.pem");
        let err = load_certificates(&absent).expect_err("absent");
        assert!(matches!(err, TlsError::Read { .. }));
        assert!(err.to_string().contains("absent.pem"), "{err}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").expect("write");
        let err = load_certificates(&garbage).expect_err("garbage");
        assert!(err.to_string().contains("garbage.pem"), "{err}");
        let err = load_private_key(&garbage).expect_err("no key");
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");
        let err = server_config(&garbage, &garbage).expect_err("no server config");
        assert!(err.to_string().contains("garbage.pem"), "{err}");
        let err = client_config(Some(&absent)).expect_err("no CA");
        assert!(err.to_string().contains("absent.pem"), "{err}");
    }
}
