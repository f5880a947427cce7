//! `roombell check`: one command that says what is wrong. It reads the config, lists the
//! cameras and sound devices, opens the configured ones, reaches the room server and checks
//! the credentials, and prints one line per finding.

use super::backend::BackendKind;
use super::config::{load_daemon_config, DaemonConfig};
use crate::media::source::{open_audio_sink, open_audio_source, open_video_source};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// How a finding rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
    Info,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub what: String,
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Info => "    ",
        };
        write!(f, "[{tag}] {}: {}", self.what, self.detail)
    }
}

fn finding(verdict: Verdict, what: &str, detail: impl Into<String>) -> Finding {
    Finding {
        verdict,
        what: what.to_owned(),
        detail: detail.into(),
    }
}

/// Everything `check` found; the caller prints it and exits non-zero on any failure.
pub async fn run(config_path: &Path) -> Vec<Finding> {
    let mut report = Vec::new();
    let config = match load_daemon_config(Some(config_path)) {
        Ok(config) => {
            report.push(finding(
                Verdict::Ok,
                "config",
                format!("{} loads and is valid", config_path.display()),
            ));
            config
        }
        Err(e) => {
            report.push(finding(Verdict::Fail, "config", e.to_string()));
            return report;
        }
    };
    report.extend(devices(&config));
    report.extend(credentials(&config));
    report.extend(secret_file(config_path));
    report.push(signaling_security(&config));
    match config.device.backend {
        BackendKind::Roombell => report.extend(room_server(&config).await),
        BackendKind::Janus => report.push(janus_server(&config).await),
    }
    report.push(state_dir(&config));
    report
}

fn devices(config: &DaemonConfig) -> Vec<Finding> {
    let mut report = Vec::new();
    match crate::media::v4l2::list_devices() {
        Ok(cameras) if cameras.is_empty() => report.push(finding(
            Verdict::Info,
            "cameras",
            "no V4L2 capture device found",
        )),
        Ok(cameras) => {
            for camera in cameras {
                report.push(finding(
                    Verdict::Info,
                    "camera",
                    camera.to_string().trim_end(),
                ));
            }
        }
        Err(e) => report.push(finding(Verdict::Info, "cameras", e.to_string())),
    }
    match crate::media::alsa_backend::list_pcms() {
        Ok(pcms) => {
            for pcm in pcms {
                report.push(finding(Verdict::Info, "sound", pcm.to_string()));
            }
        }
        Err(e) => report.push(finding(Verdict::Info, "sound", e.to_string())),
    }
    if config.device.publish_video {
        report.push(match open_video_source(&config.video) {
            Ok(source) => finding(Verdict::Ok, "video source", source.describe()),
            Err(e) => finding(Verdict::Fail, "video source", e.to_string()),
        });
    }
    if config.device.publish_audio {
        report.push(match open_audio_source(&config.audio) {
            Ok(source) => finding(Verdict::Ok, "microphone", source.describe()),
            Err(e) => finding(Verdict::Fail, "microphone", e.to_string()),
        });
    }
    report.push(match open_audio_sink(&config.speaker) {
        Ok(sink) => finding(Verdict::Ok, "speaker", sink.describe()),
        Err(e) => finding(Verdict::Fail, "speaker", e.to_string()),
    });
    report
}

fn credentials(config: &DaemonConfig) -> Vec<Finding> {
    let device = &config.device;
    if !device.secret_key.is_empty() {
        return vec![finding(
            Verdict::Ok,
            "credentials",
            "UserSigs are minted from device.secret_key at every join",
        )];
    }
    match crate::usersig::decode(&device.user_sig) {
        Err(e) => vec![finding(
            Verdict::Fail,
            "credentials",
            format!("device.user_sig is not a UserSig: {e}"),
        )],
        Ok(document) => {
            let mut report = Vec::new();
            if document.identifier != device.user_id {
                report.push(finding(
                    Verdict::Fail,
                    "credentials",
                    format!(
                        "device.user_sig is for user {:?}, but device.user_id is {:?}",
                        document.identifier, device.user_id
                    ),
                ));
            }
            if document.sdk_app_id != device.sdk_app_id {
                report.push(finding(
                    Verdict::Fail,
                    "credentials",
                    format!(
                        "device.user_sig is for sdkAppId {}, but device.sdk_app_id is {}",
                        document.sdk_app_id, device.sdk_app_id
                    ),
                ));
            }
            let now = crate::usersig::unix_now();
            let expires = document.expires_at();
            if expires <= now {
                report.push(finding(
                    Verdict::Fail,
                    "credentials",
                    format!("device.user_sig expired {} s ago", now - expires),
                ));
            } else if expires - now < 7 * 86_400 {
                report.push(finding(
                    Verdict::Warn,
                    "credentials",
                    format!("device.user_sig expires in {} h", (expires - now) / 3600),
                ));
            } else if report.is_empty() {
                report.push(finding(
                    Verdict::Ok,
                    "credentials",
                    format!(
                        "device.user_sig valid for {} more days",
                        (expires - now) / 86_400
                    ),
                ));
            }
            report
        }
    }
}

/// A config file that holds a credential must not be readable by every user.
fn secret_file(config_path: &Path) -> Option<Finding> {
    let warning =
        crate::config::secret_file_warning(config_path, super::config::DEVICE_SECRET_KEYS)?;
    Some(finding(Verdict::Warn, "config permissions", warning))
}

/// How signaling is protected. (A `ws://` URL across the network without the explicit
/// setting never gets here: loading the config already refused it.)
fn signaling_security(config: &DaemonConfig) -> Finding {
    let device = &config.device;
    let url = match device.backend {
        BackendKind::Roombell => &device.server,
        BackendKind::Janus => &device.janus.url,
    };
    match crate::tls::signaling_transport(url, device.allow_insecure_ws) {
        Ok(crate::tls::Transport::Tls) => finding(
            Verdict::Ok,
            "signaling security",
            match &device.ca_file {
                Some(ca) => format!("wss://, the server's certificate must chain to {}", ca.display()),
                None => "wss://, the server's certificate is verified against the system's roots".into(),
            },
        ),
        Ok(crate::tls::Transport::PlainLoopback) => finding(
            Verdict::Info,
            "signaling security",
            "ws:// to this machine: nothing crosses a network",
        ),
        Ok(crate::tls::Transport::PlainAllowed) => finding(
            Verdict::Warn,
            "signaling security",
            format!(
                "{} is plain ws:// across the network (device.allow_insecure_ws = true): the UserSig can be read and replayed by anyone on the path; use wss://",
                url
            ),
        ),
        Err(refusal) => finding(Verdict::Fail, "signaling security", refusal.to_string()),
    }
}

/// With `backend = "janus"`: opens a Janus session with the configured credentials and
/// closes it again (joining the room would show a second doorbell to whoever answers).
async fn janus_server(config: &DaemonConfig) -> Finding {
    let janus = &config.device.janus;
    let auth = crate::janus::Auth {
        token: janus.token.clone(),
        api_secret: janus.api_secret.clone(),
    };
    let connected = tokio::time::timeout(
        Duration::from_secs(5),
        crate::janus::JanusConnection::connect(
            &janus.url,
            auth,
            &config.device.signaling_security(),
        ),
    )
    .await;
    match connected {
        Ok(Ok(connection)) => {
            let session = connection.session();
            connection.close().await;
            finding(
                Verdict::Ok,
                "janus",
                format!(
                    "{} answers and accepts these credentials (session {session})",
                    janus.url
                ),
            )
        }
        Ok(Err(e)) => finding(Verdict::Fail, "janus", e.to_string()),
        Err(_) => finding(
            Verdict::Fail,
            "janus",
            format!("{} did not answer within 5 s", janus.url),
        ),
    }
}

/// Reaches the room server's signaling; with a secret key, also has it accept a join (as a
/// separate user, so a running doorbell is not replaced).
async fn room_server(config: &DaemonConfig) -> Vec<Finding> {
    let device = &config.device;
    let check_user = format!(
        "{}-check",
        device.user_id.chars().take(24).collect::<String>()
    );
    let user_sig = if device.secret_key.is_empty() {
        None
    } else {
        Some(crate::usersig::gen_user_sig(
            device.sdk_app_id,
            &device.secret_key,
            &check_user,
            300,
            crate::usersig::unix_now(),
        ))
    };
    let client_config = crate::client::ClientConfig {
        url: device.server.clone(),
        sdk_app_id: device.sdk_app_id,
        user_id: check_user,
        user_sig: user_sig.clone().unwrap_or_default(),
        mode: device.mode,
        peer: crate::rtc_peer::PeerOptions::default(),
    };
    let connected = tokio::time::timeout(
        Duration::from_secs(5),
        crate::client::Client::connect_with(client_config, &device.signaling_security()),
    )
    .await;
    let client = match connected {
        Ok(Ok((client, _events))) => client,
        Ok(Err(e)) => {
            return vec![finding(Verdict::Fail, "room server", e.to_string())];
        }
        Err(_) => {
            return vec![finding(
                Verdict::Fail,
                "room server",
                format!("{} did not answer within 5 s", device.server),
            )];
        }
    };
    let mut report = vec![finding(
        Verdict::Ok,
        "room server",
        format!("{} answers", device.server),
    )];
    if user_sig.is_some() {
        match client
            .join(
                device.room_id.clone(),
                crate::protocol::Role::Anchor,
                device.private_map_key.clone(),
            )
            .await
        {
            Ok(()) => {
                report.push(finding(
                    Verdict::Ok,
                    "join",
                    format!(
                        "the server accepts this sdkAppId and key in room {}",
                        device.room_id
                    ),
                ));
                let _ = client.leave().await;
            }
            Err(e) => report.push(finding(Verdict::Fail, "join", e.to_string())),
        }
    } else {
        report.push(finding(
            Verdict::Info,
            "join",
            "not tried: with a fixed UserSig a test join would replace the running doorbell",
        ));
    }
    client.close().await;
    report
}

fn state_dir(config: &DaemonConfig) -> Finding {
    let dir = &config.device.state_dir;
    let probe = dir.join(".roombell-check");
    match std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&probe, b"ok")) {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            finding(
                Verdict::Ok,
                "state dir",
                format!("{} is writable", dir.display()),
            )
        }
        Err(e) => finding(
            Verdict::Warn,
            "state dir",
            format!(
                "{} is not writable ({e}): the DTLS certificate cannot be kept, start-up is slower",
                dir.display()
            ),
        ),
    }
}
