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
#[derive(Debug, Clone, Deserialize)]
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
    Ok(())
}

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
}
