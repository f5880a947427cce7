//! Configuration: built-in defaults < the TOML file < `ROOMBELL__SECTION__KEY` environment
//! variables < command-line flags. Validated once, at start, with messages that name the key,
//! the bad value and what would be accepted.

use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A configuration problem, said so that a user can fix it without reading code.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {message}")]
    Load { path: String, message: String },
    #[error("{key} is missing: set it in {path} or with the environment variable {env}")]
    Missing {
        key: &'static str,
        path: String,
        env: String,
    },
    #[error("{key} = {value:?} is not valid: {accepted}")]
    Invalid {
        key: &'static str,
        value: String,
        accepted: String,
    },
}

/// The `[room]` section: the room server.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomConfig {
    /// Address and port for HTTP and WebSocket signaling.
    pub listen: String,
    /// The TRTC sdkAppId this server accepts.
    pub sdk_app_id: u64,
    /// The secret key UserSigs are signed with.
    pub secret_key: String,
    /// Refuse joins without a privateMapKey.
    pub require_private_map_key: bool,
    pub max_members_per_room: usize,
    pub heartbeat_timeout_ms: u64,
    /// The address media (ICE host candidates) uses.
    pub media_ip: IpAddr,
    /// Where the web client lives; none = do not serve it.
    pub web_root: Option<PathBuf>,
    /// Demo mode only: the answer page gets short-lived credentials for this room from
    /// `/config.json`, so nobody pastes a UserSig. Never set it on a server others can reach.
    pub demo_room_id: Option<crate::protocol::RoomId>,
    /// PEM certificate chain; with `tls_key`, the server speaks only https and wss.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Joins one IP address may make at once, then `joins_per_ip_per_second`.
    pub joins_per_ip_burst: u32,
    pub joins_per_ip_per_second: f64,
    /// Joins as one userId at once (from anywhere), then `joins_per_user_per_second`.
    pub joins_per_user_burst: u32,
    pub joins_per_user_per_second: f64,
    /// Signaling messages one connection may send at once, then `messages_per_second`.
    pub message_burst: u32,
    pub messages_per_second: f64,
    /// Messages over the rate, in a row, after which the connection is closed.
    pub close_after_refused: u32,
    /// Open WebSocket connections from one IP address (0 = no limit).
    pub max_connections_per_ip: u32,
    /// Open WebSocket connections in all (0 = no limit).
    pub max_connections: u32,
}

impl RoomConfig {
    /// The rate limits these settings describe.
    pub fn limits(&self) -> crate::room::limits::LimitsConfig {
        use crate::room::limits::{LimitsConfig, Rate};
        LimitsConfig {
            joins_per_ip: Rate {
                burst: self.joins_per_ip_burst,
                per_second: self.joins_per_ip_per_second,
            },
            joins_per_user: Rate {
                burst: self.joins_per_user_burst,
                per_second: self.joins_per_user_per_second,
            },
            messages_per_connection: Rate {
                burst: self.message_burst,
                per_second: self.messages_per_second,
            },
            close_after_refused: self.close_after_refused,
            connections_per_ip: self.max_connections_per_ip,
            connections: self.max_connections,
        }
    }

    /// True when the server is to speak TLS.
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }
}

/// Shows every setting except the secret key, so a config can be logged or debug-printed.
impl std::fmt::Debug for RoomConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomConfig")
            .field("listen", &self.listen)
            .field("sdk_app_id", &self.sdk_app_id)
            .field("secret_key", &redacted(&self.secret_key))
            .field("require_private_map_key", &self.require_private_map_key)
            .field("max_members_per_room", &self.max_members_per_room)
            .field("heartbeat_timeout_ms", &self.heartbeat_timeout_ms)
            .field("media_ip", &self.media_ip)
            .field("web_root", &self.web_root)
            .field("demo_room_id", &self.demo_room_id)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("limits", &self.limits())
            .finish()
    }
}

/// What Debug output shows in place of a secret: whether it is set, never its value.
pub fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() {
        "(empty)"
    } else {
        "(redacted)"
    }
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            listen: "127.0.0.1:8080".into(),
            sdk_app_id: 0,
            secret_key: String::new(),
            require_private_map_key: false,
            max_members_per_room: 16,
            heartbeat_timeout_ms: crate::protocol::HEARTBEAT_TIMEOUT_MS,
            media_ip: IpAddr::from([127, 0, 0, 1]),
            web_root: None,
            demo_room_id: None,
            tls_cert: None,
            tls_key: None,
            // Generous: a household has a handful of members, but load tests and a NAT in
            // front of many users join from one address. A flood is still cut within seconds.
            joins_per_ip_burst: 200,
            joins_per_ip_per_second: 20.0,
            joins_per_user_burst: 10,
            joins_per_user_per_second: 1.0,
            // Joining, publishing and trickling ICE is a few dozen messages; heartbeats one
            // every 2 s.
            message_burst: 400,
            messages_per_second: 100.0,
            close_after_refused: 100,
            // A connection that heartbeats but never joins is kept: these bound what one
            // address, and everyone together, can hold open. A load test opens 50 at once.
            max_connections_per_ip: 100,
            max_connections: 10_000,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RoomFile {
    room: RoomConfig,
}

/// Loads `[room]` from `path` (optional file) and the environment.
pub fn load_room_config(path: Option<&Path>) -> Result<RoomConfig, ConfigError> {
    let shown = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(no file)".into());
    let file: RoomFile = load_layers(path, &shown)?;
    let config = file.room;
    validate_room(&config, &shown)?;
    Ok(config)
}

/// Reads the file (if any) and the environment into `T`.
pub fn load_layers<T: serde::de::DeserializeOwned>(
    path: Option<&Path>,
    shown: &str,
) -> Result<T, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = path {
        if !path.exists() {
            return Err(ConfigError::Load {
                path: shown.to_owned(),
                message: "no such file".into(),
            });
        }
        builder = builder.add_source(
            config::File::from(path)
                .format(config::FileFormat::Toml)
                .required(true),
        );
    }
    builder = builder.add_source(
        config::Environment::with_prefix("ROOMBELL")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true),
    );
    builder
        .build()
        .and_then(|c| c.try_deserialize::<T>())
        .map_err(|e| ConfigError::Load {
            path: shown.to_owned(),
            message: e.to_string(),
        })
}

/// Parses and validates `[room]` from TOML text alone (no file, no environment): the entry
/// point of the config fuzz target.
pub fn parse_room_config(text: &str) -> Result<RoomConfig, ConfigError> {
    let file: RoomFile = parse_toml(text, "(text)")?;
    validate_room(&file.room, "(text)")?;
    Ok(file.room)
}

/// Deserializes TOML text through the same `config` crate path as [`load_layers`].
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    shown: &str,
) -> Result<T, ConfigError> {
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize::<T>())
        .map_err(|e| ConfigError::Load {
            path: shown.to_owned(),
            message: e.to_string(),
        })
}

fn validate_room(config: &RoomConfig, shown: &str) -> Result<(), ConfigError> {
    if config.sdk_app_id == 0 {
        return Err(ConfigError::Missing {
            key: "room.sdk_app_id",
            path: shown.to_owned(),
            env: "ROOMBELL__ROOM__SDK_APP_ID".into(),
        });
    }
    if config.secret_key.trim().is_empty() {
        return Err(ConfigError::Missing {
            key: "room.secret_key",
            path: shown.to_owned(),
            env: "ROOMBELL__ROOM__SECRET_KEY".into(),
        });
    }
    if config.listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(ConfigError::Invalid {
            key: "room.listen",
            value: config.listen.clone(),
            accepted: "an IP address and port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"".into(),
        });
    }
    if config.max_members_per_room == 0 {
        return Err(ConfigError::Invalid {
            key: "room.max_members_per_room",
            value: "0".into(),
            accepted: "at least 1".into(),
        });
    }
    if config.heartbeat_timeout_ms < 1000 {
        return Err(ConfigError::Invalid {
            key: "room.heartbeat_timeout_ms",
            value: config.heartbeat_timeout_ms.to_string(),
            accepted: "at least 1000 (clients send a heartbeat every 2000 ms)".into(),
        });
    }
    if config.tls_cert.is_some() != config.tls_key.is_some() {
        let (key, value) = match &config.tls_cert {
            Some(cert) => (
                "room.tls_key",
                format!("unset (room.tls_cert = {:?})", cert),
            ),
            None => ("room.tls_cert", "unset (room.tls_key is set)".to_owned()),
        };
        return Err(ConfigError::Invalid {
            key,
            value,
            accepted: "room.tls_cert and room.tls_key both set (PEM files), or neither".into(),
        });
    }
    let rates: [(&'static str, u32, &'static str, f64); 3] = [
        (
            "room.joins_per_ip_burst",
            config.joins_per_ip_burst,
            "room.joins_per_ip_per_second",
            config.joins_per_ip_per_second,
        ),
        (
            "room.joins_per_user_burst",
            config.joins_per_user_burst,
            "room.joins_per_user_per_second",
            config.joins_per_user_per_second,
        ),
        (
            "room.message_burst",
            config.message_burst,
            "room.messages_per_second",
            config.messages_per_second,
        ),
    ];
    for (burst_key, burst, rate_key, rate) in rates {
        if burst == 0 {
            return Err(ConfigError::Invalid {
                key: burst_key,
                value: "0".into(),
                accepted: "at least 1".into(),
            });
        }
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ConfigError::Invalid {
                key: rate_key,
                value: rate.to_string(),
                accepted: "a number above 0, e.g. 1.0 or 0.2".into(),
            });
        }
    }
    if config.close_after_refused == 0 {
        return Err(ConfigError::Invalid {
            key: "room.close_after_refused",
            value: "0".into(),
            accepted: "at least 1".into(),
        });
    }
    Ok(())
}

/// True when a Unix mode lets every user read the file.
pub fn readable_by_others(mode: u32) -> bool {
    mode & 0o004 != 0
}

/// Which of `keys` (dotted, e.g. "room.secret_key") the file itself sets to a non-empty
/// value: a key that comes from the environment is not the file's business.
pub fn secrets_in_file<'k>(path: &Path, keys: &[&'k str]) -> Vec<&'k str> {
    let Ok(file) = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .build()
    else {
        return Vec::new();
    };
    keys.iter()
        .copied()
        .filter(|key| file.get_string(key).is_ok_and(|value| !value.is_empty()))
        .collect()
}

/// Says what to do when `path` holds one of the secret `keys` and every user may read it.
pub fn secret_file_warning(path: &Path, keys: &[&str]) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    if !readable_by_others(mode) {
        return None;
    }
    let held = secrets_in_file(path, keys);
    if held.is_empty() {
        return None;
    }
    Some(format!(
        "{} holds {} and every user on this machine can read it (mode {:o}): run chmod 640 {}",
        path.display(),
        held.join(", "),
        mode & 0o777,
        path.display()
    ))
}

/// The secrets a room server's file may hold.
pub const ROOM_SECRET_KEYS: &[&str] = &["room.secret_key"];

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new()
            .suffix(".toml")
            .tempfile()
            .expect("temp file");
        file.write_all(text.as_bytes()).expect("write");
        file
    }

    #[test]
    fn a_complete_file_loads() {
        let file = write(
            "[room]\nlisten = \"127.0.0.1:0\"\nsdk_app_id = 1400000000\nsecret_key = \"k\"\n",
        );
        let config = load_room_config(Some(file.path())).expect("valid");
        assert_eq!(config.sdk_app_id, 1_400_000_000);
        assert_eq!(config.max_members_per_room, 16);
    }

    #[test]
    fn a_missing_key_is_named_with_its_env_variable() {
        let file = write("[room]\nsdk_app_id = 1400000000\n");
        let err = load_room_config(Some(file.path())).expect_err("no key");
        let text = err.to_string();
        assert!(text.contains("room.secret_key"), "{text}");
        assert!(text.contains("ROOMBELL__ROOM__SECRET_KEY"), "{text}");
    }

    #[test]
    fn malformed_files_and_values_say_what_is_wrong() {
        let file = write("[room\nsdk_app_id = ");
        assert!(matches!(
            load_room_config(Some(file.path())),
            Err(ConfigError::Load { .. })
        ));
        let file = write("[room]\nsdk_app_id = \"many\"\nsecret_key = \"k\"\n");
        assert!(matches!(
            load_room_config(Some(file.path())),
            Err(ConfigError::Load { .. })
        ));
        let file = write("[room]\nsdk_app_id = 1\nsecret_key = \"k\"\nlisten = \"everywhere\"\n");
        let err = load_room_config(Some(file.path())).expect_err("bad listen");
        assert!(err.to_string().contains("room.listen"), "{err}");
        let file = write("[room]\nsdk_app_id = 1\nsecret_key = \"k\"\nlisen = \"x\"\n");
        let err = load_room_config(Some(file.path())).expect_err("typo");
        assert!(err.to_string().contains("lisen"), "{err}");
        let err = load_room_config(Some(Path::new("/nonexistent/room.toml"))).expect_err("absent");
        assert!(err.to_string().contains("no such file"), "{err}");
    }

    #[test]
    fn tls_needs_both_files_and_rates_must_be_positive() {
        let base = "[room]\nsdk_app_id = 1\nsecret_key = \"k\"\n";
        let file = write(&format!("{base}tls_cert = \"/etc/cert.pem\"\n"));
        let err = load_room_config(Some(file.path())).expect_err("no key file");
        assert!(err.to_string().contains("room.tls_key"), "{err}");
        let file = write(&format!("{base}tls_key = \"/etc/key.pem\"\n"));
        let err = load_room_config(Some(file.path())).expect_err("no cert file");
        assert!(err.to_string().contains("room.tls_cert"), "{err}");
        let file = write(&format!(
            "{base}tls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\njoins_per_ip_burst = 5\n"
        ));
        let config = load_room_config(Some(file.path())).expect("valid");
        assert!(config.tls_enabled());
        assert_eq!(config.limits().joins_per_ip.burst, 5);
        assert_eq!(config.limits().connections_per_ip, 100);
        let file = write(&format!(
            "{base}max_connections_per_ip = 0\nmax_connections = 7\n"
        ));
        let limits = load_room_config(Some(file.path())).expect("valid").limits();
        assert_eq!((limits.connections_per_ip, limits.connections), (0, 7));
        let file = write(&format!("{base}messages_per_second = 0\n"));
        let err = load_room_config(Some(file.path())).expect_err("zero rate");
        assert!(
            err.to_string().contains("room.messages_per_second"),
            "{err}"
        );
        let file = write(&format!("{base}joins_per_user_burst = 0\n"));
        let err = load_room_config(Some(file.path())).expect_err("zero burst");
        assert!(
            err.to_string().contains("room.joins_per_user_burst"),
            "{err}"
        );
    }

    #[test]
    fn debug_output_never_shows_the_secret_key() {
        let config = RoomConfig {
            secret_key: "do-not-print-me".into(),
            ..RoomConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("do-not-print-me"), "{shown}");
        assert!(shown.contains("(redacted)"), "{shown}");
    }

    #[test]
    fn a_key_file_readable_by_everyone_is_named_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        assert!(readable_by_others(0o644));
        assert!(!readable_by_others(0o640));
        assert!(!readable_by_others(0o600));
        let file = write("[room]\nsdk_app_id = 1\nsecret_key = \"k\"\n");
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let warning = secret_file_warning(file.path(), ROOM_SECRET_KEYS).expect("warns");
        assert!(warning.contains("room.secret_key"), "{warning}");
        assert!(warning.contains("chmod 640"), "{warning}");
        assert!(
            warning.contains(&file.path().display().to_string()),
            "{warning}"
        );
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o640))
            .expect("chmod");
        assert_eq!(secret_file_warning(file.path(), ROOM_SECRET_KEYS), None);
        // A readable file without a secret (the key comes from the environment) is fine.
        let file = write("[room]\nsdk_app_id = 1\n");
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        assert_eq!(secret_file_warning(file.path(), ROOM_SECRET_KEYS), None);
    }
}
