//! The device daemon's configuration: `[device]`, `[video]`, `[encoder]`, `[audio]`,
//! `[speaker]`, `[log]` (and `[room]` for `roombell demo`). Loaded by the same layers as
//! every roombell config: defaults < file < `ROOMBELL__SECTION__KEY` < command line.

use crate::config::{load_layers, ConfigError, RoomConfig};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The `[device]` section: which room the doorbell joins, as whom, and what it sends.
/// (Debug is written out below: it must not show the credentials.)
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceConfig {
    /// The room server's signaling URL.
    pub server: String,
    pub sdk_app_id: u64,
    /// This doorbell's user id in the room.
    pub user_id: String,
    /// A numeric room id (1..4294967294) or a string room id.
    pub room_id: crate::protocol::RoomId,
    pub mode: crate::protocol::Mode,
    /// A fixed UserSig (from your own signing service). Either this or `secret_key`.
    pub user_sig: String,
    /// For self-hosted rooms: mint UserSigs from the secret key, renewed before they expire.
    pub secret_key: String,
    pub user_sig_lifetime_secs: u64,
    pub private_map_key: Option<String>,
    pub publish_audio: bool,
    pub publish_video: bool,
    /// Also receive the answerer's video (the device has no screen by default).
    pub subscribe_video: bool,
    /// The address ICE host candidates are gathered on.
    pub media_ip: IpAddr,
    /// Where the DTLS certificate is kept across restarts.
    pub state_dir: PathBuf,
    /// Longest wait between reconnect attempts.
    pub max_retry_ms: u64,
    /// A PEM CA that a `wss://` server's certificate must chain to (a private CA); none = the
    /// system's roots.
    pub ca_file: Option<PathBuf>,
    /// Allow plain `ws://` to a host that is not this machine (UserSig in the clear).
    pub allow_insecure_ws: bool,
    /// Which room service: "roombell" (our room server, the default) or "janus".
    pub backend: super::backend::BackendKind,
    /// `[device.janus]`: the Janus VideoRoom joined when `backend = "janus"`.
    pub janus: super::backend::JanusSettings,
}

impl DeviceConfig {
    /// How the signaling connection is protected.
    pub fn signaling_security(&self) -> crate::client::SignalingSecurity {
        crate::client::SignalingSecurity {
            ca_file: self.ca_file.clone(),
            allow_insecure_ws: self.allow_insecure_ws,
        }
    }
}

impl std::fmt::Debug for DeviceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::config::redacted;
        f.debug_struct("DeviceConfig")
            .field("server", &self.server)
            .field("sdk_app_id", &self.sdk_app_id)
            .field("user_id", &self.user_id)
            .field("room_id", &self.room_id)
            .field("mode", &self.mode)
            .field("user_sig", &redacted(&self.user_sig))
            .field("secret_key", &redacted(&self.secret_key))
            .field(
                "private_map_key",
                &self.private_map_key.as_deref().map(redacted),
            )
            .field("ca_file", &self.ca_file)
            .field("allow_insecure_ws", &self.allow_insecure_ws)
            .finish_non_exhaustive()
    }
}

/// The secrets a daemon's file may hold (`[room]` too, for `roombell demo`).
pub const DEVICE_SECRET_KEYS: &[&str] = &[
    "device.secret_key",
    "device.user_sig",
    "device.private_map_key",
    "device.janus.token",
    "device.janus.api_secret",
    "room.secret_key",
];

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            server: "ws://127.0.0.1:8080/ws".into(),
            sdk_app_id: 0,
            user_id: String::new(),
            room_id: crate::protocol::RoomId::Number(0),
            mode: crate::protocol::Mode::Rtc,
            user_sig: String::new(),
            secret_key: String::new(),
            user_sig_lifetime_secs: 86_400,
            private_map_key: None,
            publish_audio: true,
            publish_video: true,
            subscribe_video: false,
            media_ip: IpAddr::from([0, 0, 0, 0]),
            state_dir: PathBuf::from("/var/lib/roombell"),
            max_retry_ms: 3_000,
            ca_file: None,
            allow_insecure_ws: false,
            backend: super::backend::BackendKind::Roombell,
            janus: super::backend::JanusSettings::default(),
        }
    }
}

/// The `[encoder]` section: H.264 rate control.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderSettings {
    pub bitrate_kbps: u32,
    pub min_bitrate_kbps: u32,
    pub max_bitrate_kbps: u32,
    /// Frames between keyframes; 0 = only when a receiver asks (smaller, steadier stream).
    pub gop_frames: u32,
    /// At most one forced keyframe per this many milliseconds.
    pub min_keyframe_interval_ms: u64,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        EncoderSettings {
            bitrate_kbps: 1000,
            min_bitrate_kbps: 150,
            max_bitrate_kbps: 2500,
            gop_frames: 0,
            min_keyframe_interval_ms: 100,
        }
    }
}

/// Everything `roombell run` reads: `[device]`, `[video]`, `[encoder]`, `[audio]`, `[speaker]`,
/// `[log]`, and `[room]` for `roombell demo`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    pub device: DeviceConfig,
    pub video: crate::media::source::VideoSourceConfig,
    pub encoder: EncoderSettings,
    pub audio: crate::media::source::AudioSourceConfig,
    pub speaker: crate::media::source::AudioSinkConfig,
    pub room: RoomConfig,
    pub log: LogConfig,
}

/// The `[log]` section.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter such as "info" or "roombell=debug"; `RUST_LOG` wins when set.
    pub level: Option<String>,
}

/// Loads the whole daemon configuration and validates the device part.
pub fn load_daemon_config(path: Option<&Path>) -> Result<DaemonConfig, ConfigError> {
    let shown = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(no file)".into());
    let config: DaemonConfig = load_layers(path, &shown)?;
    validate_device(&config, &shown)?;
    Ok(config)
}

/// Parses and validates a whole daemon config from TOML text alone (no file, no
/// environment): the entry point of the config fuzz target.
pub fn parse_daemon_config(text: &str) -> Result<DaemonConfig, ConfigError> {
    let config: DaemonConfig = crate::config::parse_toml(text, "(text)")?;
    validate_device(&config, "(text)")?;
    Ok(config)
}

fn validate_device(config: &DaemonConfig, shown: &str) -> Result<(), ConfigError> {
    let device = &config.device;
    let missing = |key: &'static str, env: &str| ConfigError::Missing {
        key,
        path: shown.to_owned(),
        env: env.into(),
    };
    if device.backend == super::backend::BackendKind::Janus {
        validate_janus(device, shown)?;
        return validate_encoder(config);
    }
    if device.sdk_app_id == 0 {
        return Err(missing("device.sdk_app_id", "ROOMBELL__DEVICE__SDK_APP_ID"));
    }
    if device.user_id.is_empty() {
        return Err(missing("device.user_id", "ROOMBELL__DEVICE__USER_ID"));
    }
    crate::room::registry::validate_user_id(&device.user_id).map_err(|accepted| {
        ConfigError::Invalid {
            key: "device.user_id",
            value: device.user_id.clone(),
            accepted,
        }
    })?;
    device
        .room_id
        .validate()
        .map_err(|accepted| ConfigError::Invalid {
            key: "device.room_id",
            value: device.room_id.to_string(),
            accepted,
        })?;
    if device.user_sig.is_empty() && device.secret_key.is_empty() {
        return Err(ConfigError::Missing {
            key: "device.user_sig or device.secret_key",
            path: shown.to_owned(),
            env: "ROOMBELL__DEVICE__USER_SIG or ROOMBELL__DEVICE__SECRET_KEY".into(),
        });
    }
    crate::tls::signaling_transport(&device.server, device.allow_insecure_ws).map_err(
        |refusal| ConfigError::Invalid {
            key: "device.server",
            value: device.server.clone(),
            accepted: refusal.to_string(),
        },
    )?;
    if let Some(ca_file) = &device.ca_file {
        crate::tls::load_certificates(ca_file).map_err(|e| ConfigError::Invalid {
            key: "device.ca_file",
            value: ca_file.display().to_string(),
            accepted: format!("a readable PEM CA certificate ({e})"),
        })?;
    }
    if !device.publish_audio && !device.publish_video {
        return Err(ConfigError::Invalid {
            key: "device.publish_audio/publish_video",
            value: "both false".into(),
            accepted: "a doorbell publishes at least one of them".into(),
        });
    }
    validate_encoder(config)
}

fn validate_encoder(config: &DaemonConfig) -> Result<(), ConfigError> {
    let encoder = &config.encoder;
    if encoder.min_bitrate_kbps == 0
        || encoder.min_bitrate_kbps > encoder.bitrate_kbps
        || encoder.bitrate_kbps > encoder.max_bitrate_kbps
    {
        return Err(ConfigError::Invalid {
            key: "encoder.bitrate_kbps",
            value: format!(
                "min {} / start {} / max {}",
                encoder.min_bitrate_kbps, encoder.bitrate_kbps, encoder.max_bitrate_kbps
            ),
            accepted: "0 < min_bitrate_kbps <= bitrate_kbps <= max_bitrate_kbps".into(),
        });
    }
    Ok(())
}

/// With `backend = "janus"` the device needs Janus's URL, a room and a display name; no
/// sdkAppId or UserSig.
fn validate_janus(device: &DeviceConfig, shown: &str) -> Result<(), ConfigError> {
    let janus = &device.janus;
    crate::tls::signaling_transport(&janus.url, device.allow_insecure_ws).map_err(|refusal| {
        ConfigError::Invalid {
            key: "device.janus.url",
            value: janus.url.clone(),
            accepted: format!("Janus's WebSocket URL, e.g. \"wss://janus.example/ws\" ({refusal})"),
        }
    })?;
    if janus.room == 0 {
        return Err(ConfigError::Missing {
            key: "device.janus.room",
            path: shown.to_owned(),
            env: "ROOMBELL__DEVICE__JANUS__ROOM".into(),
        });
    }
    if device.user_id.is_empty() {
        return Err(ConfigError::Missing {
            key: "device.user_id",
            path: shown.to_owned(),
            env: "ROOMBELL__DEVICE__USER_ID".into(),
        });
    }
    if !device.publish_audio && !device.publish_video {
        return Err(ConfigError::Invalid {
            key: "device.publish_audio/publish_video",
            value: "both false".into(),
            accepted: "a doorbell publishes at least one of them".into(),
        });
    }
    Ok(())
}
