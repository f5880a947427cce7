//! The room server faces the internet: TLS with a real (test) CA, join and message floods,
//! plain ws:// across a network, key files readable by everyone, and secrets in logs.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use roombell::client::{Client, ClientEvent, SignalingSecurity};
use roombell::config::RoomConfig;
use roombell::protocol::{code, extra, Role, RoomId, ServerMessage};
use roombell::room::RoomServerThread;
use roombell::usersig;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// A CA and a server certificate it signed for 127.0.0.1 and localhost, as PEM files.
struct TestPki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_ca(name: &str) -> (rcgen::CertificateParams, rcgen::KeyPair, String) {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let pem = params.self_signed(&key).expect("CA certificate").pem();
    (params, key, pem)
}

fn make_pki(dir: &Path) -> TestPki {
    let (ca_params, ca_key, ca_pem) = make_ca("roombell test CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().expect("server key");
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "roombell test room server");
    let server_cert = params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    let pki = TestPki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&pki.ca, ca_pem).expect("write CA");
    std::fs::write(&pki.cert, server_cert.pem()).expect("write cert");
    std::fs::write(&pki.key, server_key.serialize_pem()).expect("write key");
    pki
}

fn tls_room(pki: &TestPki) -> RoomServerThread {
    RoomServerThread::spawn(RoomConfig {
        tls_cert: Some(pki.cert.clone()),
        tls_key: Some(pki.key.clone()),
        ..room_config()
    })
    .expect("TLS room server starts")
}

fn trusting(ca: &Path) -> SignalingSecurity {
    SignalingSecurity {
        ca_file: Some(ca.to_owned()),
        allow_insecure_ws: false,
    }
}

fn config_for(url: &str, user_id: &str) -> roombell::client::ClientConfig {
    roombell::client::ClientConfig {
        url: url.to_owned(),
        ..client_config_for_user(user_id)
    }
}

/// A client config with a valid UserSig; the URL is filled in by the caller.
fn client_config_for_user(user_id: &str) -> roombell::client::ClientConfig {
    roombell::client::ClientConfig {
        url: String::new(),
        sdk_app_id: SDK_APP_ID,
        user_id: user_id.into(),
        user_sig: usersig::gen_user_sig(SDK_APP_ID, SECRET_KEY, user_id, 3600, unix_now()),
        mode: roombell::protocol::Mode::Rtc,
        peer: roombell::rtc_peer::PeerOptions::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_room_server_is_joined_over_wss_with_its_private_ca_and_refused_without_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = make_pki(dir.path());
    let server = tls_room(&pki);
    let url = server.ws_url();
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");

    let (client, mut events) = Client::connect_with(config_for(&url, "door"), &trusting(&pki.ca))
        .await
        .expect("the client that trusts the CA connects over wss");
    client
        .join(RoomId::Number(4321), Role::Anchor, None)
        .await
        .expect("joins over wss");
    let (answerer, _answerer_events) =
        Client::connect_with(config_for(&url, "home"), &trusting(&pki.ca))
            .await
            .expect("second client connects");
    answerer
        .join(RoomId::Number(4321), Role::Anchor, None)
        .await
        .expect("second client joins");
    let joined = wait_event(&mut events, Duration::from_secs(5), |event| match event {
        ClientEvent::PeerJoin { user_id } => Some(user_id.clone()),
        _ => None,
    })
    .await;
    assert_eq!(joined.as_deref(), Some("home"), "events flow over wss");

    // Without the private CA, the system's roots do not know this server: refused, clearly.
    let refused = Client::connect_with(config_for(&url, "stranger"), &SignalingSecurity::default())
        .await
        .err()
        .expect("a client without the CA is refused");
    assert_eq!(refused.code(), code::SIGNAL_CHANNEL_SETUP_FAILED);
    let text = refused.to_string();
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("device.ca_file"), "{text}");

    // Trusting another CA is no better.
    let (_, _, other_ca_pem) = make_ca("some other CA");
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, other_ca_pem).expect("write other CA");
    let refused = Client::connect_with(config_for(&url, "stranger"), &trusting(&other_ca))
        .await
        .err()
        .expect("a client trusting another CA is refused");
    let text = refused.to_string();
    assert!(
        text.contains("certificate") && text.contains("other-ca.pem"),
        "{text}"
    );

    // Plain ws:// to the TLS port gets no signaling either.
    let plain = url.replacen("wss://", "ws://", 1);
    assert!(
        Client::connect_with(config_for(&plain, "plain"), &SignalingSecurity::default())
            .await
            .is_err()
    );

    client.close().await;
    answerer.close().await;
    server.stop();
}

#[test]
fn a_missing_or_unusable_certificate_or_key_stops_the_server_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = make_pki(dir.path());
    let start = |cert: &Path, key: &Path| {
        RoomServerThread::spawn(RoomConfig {
            tls_cert: Some(cert.to_owned()),
            tls_key: Some(key.to_owned()),
            ..room_config()
        })
        .err()
        .expect("the server refuses to start")
        .to_string()
    };
    let missing = dir.path().join("missing.pem");
    let text = start(&missing, &pki.key);
    assert!(
        text.contains("missing.pem") && text.contains("room.tls_cert"),
        "{text}"
    );
    let text = start(&pki.cert, &missing);
    assert!(text.contains("missing.pem"), "{text}");
    // The CA's certificate is not a private key.
    let text = start(&pki.cert, &pki.ca);
    assert!(
        text.contains("ca.pem") && text.contains("private key"),
        "{text}"
    );
    // A key that belongs to another certificate.
    let other_key = dir.path().join("other.key");
    std::fs::write(
        &other_key,
        rcgen::KeyPair::generate().expect("key").serialize_pem(),
    )
    .expect("write key");
    let text = start(&pki.cert, &other_key);
    assert!(
        text.contains("server.pem") && text.contains("other.key"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_ws_to_another_host_is_refused_unless_explicitly_allowed() {
    let url = "ws://10.255.255.1:8080/ws";
    let refused = Client::connect_with(config_for(url, "door"), &SignalingSecurity::default())
        .await
        .err()
        .expect("refused before any connection is tried");
    assert_eq!(refused.code(), code::SIGNAL_CHANNEL_SETUP_FAILED);
    assert!(
        refused.to_string().contains("device.allow_insecure_ws"),
        "{refused}"
    );

    // Allowed: the client really tries (10.255.255.1 does not answer, so it fails or is still
    // trying), and whatever happens it is not the refusal.
    let allowed = SignalingSecurity {
        ca_file: None,
        allow_insecure_ws: true,
    };
    let attempt = tokio::time::timeout(
        Duration::from_secs(2),
        Client::connect_with(config_for(url, "door"), &allowed),
    )
    .await;
    if let Ok(Err(e)) = attempt {
        assert!(!e.to_string().contains("allow_insecure_ws"), "{e}");
    }

    // The device's config says the same at load time, naming the key.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_device_config(dir.path(), url, "", 0o600);
    let err = roombell::device::config::load_daemon_config(Some(&config))
        .expect_err("refused at load time");
    let text = err.to_string();
    assert!(
        text.contains("device.server") && text.contains("device.allow_insecure_ws"),
        "{text}"
    );
    let config = write_device_config(dir.path(), url, "allow_insecure_ws = true\n", 0o600);
    let loaded =
        roombell::device::config::load_daemon_config(Some(&config)).expect("explicitly allowed");
    assert!(loaded.device.allow_insecure_ws);

    // And `roombell check` reports the warning when it is allowed.
    let (_, out) = run_check(&config);
    assert!(
        out.contains("[warn] signaling security") && out.contains("ws://10.255.255.1"),
        "{out}"
    );
}

/// Reads server frames until `pick` accepts one, the socket closes, or time is up.
async fn next_matching<T>(
    socket: &mut Socket,
    timeout: Duration,
    mut pick: impl FnMut(&ServerMessage) -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??;
        let Ok(Message::Text(text)) = frame else {
            continue;
        };
        let Ok(msg) = serde_json::from_str::<ServerMessage>(&text) else {
            continue;
        };
        if let Some(found) = pick(&msg) {
            return Some(found);
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_socket(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects")
        .0
}

fn join_text(id: u64, user: &str, sig: &str) -> String {
    serde_json::json!({
        "type": "join", "id": id, "sdkAppId": SDK_APP_ID, "userId": user,
        "userSig": sig, "roomId": 77, "mode": "rtc",
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_flood_from_one_address_is_limited_while_the_room_carries_on() {
    let server = RoomServerThread::spawn(RoomConfig {
        joins_per_ip_burst: 4,
        joins_per_ip_per_second: 0.1,
        ..room_config()
    })
    .expect("room server starts");
    let url = server.ws_url();
    let (door, mut door_events) = connect(&server, "door").await;
    door.join(RoomId::Number(77), Role::Anchor, None)
        .await
        .expect("door joins");
    let (home, _home_events) = connect(&server, "home").await;
    home.join(RoomId::Number(77), Role::Anchor, None)
        .await
        .expect("home joins");

    // Guessing UserSigs from the same address: each guess costs a token, then they stop.
    let mut flooder = raw_socket(&url).await;
    let forged = usersig::gen_user_sig(SDK_APP_ID, "guessed-key", "mallory", 3600, unix_now());
    let mut refusals = Vec::new();
    for id in 1..=10u64 {
        flooder
            .send(Message::Text(join_text(id, "mallory", &forged)))
            .await
            .expect("send");
        let answer = next_matching(&mut flooder, Duration::from_secs(5), |msg| match msg {
            ServerMessage::Error {
                id: Some(got),
                code,
                extra_code,
                message,
            } if *got == id => Some((*code, *extra_code, message.clone())),
            _ => None,
        })
        .await
        .expect("every join is answered");
        refusals.push(answer);
    }
    // Two tokens went to door and home, two to guesses; the rest were never checked.
    let bad_sig = refusals
        .iter()
        .filter(|(_, extra_code, _)| *extra_code == extra::BAD_USER_SIG)
        .count();
    let limited: Vec<_> = refusals
        .iter()
        .filter(|(_, extra_code, _)| *extra_code == extra::JOIN_RATE_LIMITED)
        .collect();
    assert_eq!(bad_sig, 2, "{refusals:?}");
    assert_eq!(limited.len(), 8, "{refusals:?}");
    for (code_got, _, message) in &limited {
        assert_eq!(*code_got, code::JOIN_ROOM_FAILED);
        assert!(message.contains("127.0.0.1"), "{message}");
    }

    // The members already in the room carry on: home leaves and door hears it.
    home.leave().await.expect("home leaves normally");
    let left = wait_event(
        &mut door_events,
        Duration::from_secs(5),
        |event| match event {
            ClientEvent::PeerLeave { user_id, .. } => Some(user_id.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(left.as_deref(), Some("home"));
    assert!(door.is_connected());
    door.close().await;
    home.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_as_one_user_id_are_limited_from_any_address() {
    let server = RoomServerThread::spawn(RoomConfig {
        joins_per_user_burst: 2,
        joins_per_user_per_second: 0.1,
        ..room_config()
    })
    .expect("room server starts");
    let mut socket = raw_socket(&server.ws_url()).await;
    let forged = usersig::gen_user_sig(SDK_APP_ID, "guessed-key", "door", 3600, unix_now());
    let mut extras = Vec::new();
    for id in 1..=4u64 {
        socket
            .send(Message::Text(join_text(id, "door", &forged)))
            .await
            .expect("send");
        let extra_code = next_matching(&mut socket, Duration::from_secs(5), |msg| match msg {
            ServerMessage::Error {
                id: Some(got),
                extra_code,
                ..
            } if *got == id => Some(*extra_code),
            _ => None,
        })
        .await
        .expect("answered");
        extras.push(extra_code);
    }
    assert_eq!(
        extras,
        vec![
            extra::BAD_USER_SIG,
            extra::BAD_USER_SIG,
            extra::JOIN_RATE_LIMITED,
            extra::JOIN_RATE_LIMITED
        ]
    );
    // Another userId from the same address is not affected.
    let (other, _events) = connect(&server, "home").await;
    other
        .join(RoomId::Number(77), Role::Anchor, None)
        .await
        .expect("another user joins");
    other.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_flood_gets_one_typed_error_then_the_connection_is_closed() {
    let server = RoomServerThread::spawn(RoomConfig {
        message_burst: 10,
        messages_per_second: 1.0,
        close_after_refused: 30,
        ..room_config()
    })
    .expect("room server starts");
    let (door, mut door_events) = connect(&server, "door").await;
    door.join(RoomId::Number(77), Role::Anchor, None)
        .await
        .expect("door joins");

    let mut flooder = raw_socket(&server.ws_url()).await;
    for id in 1..=200u64 {
        let heartbeat = serde_json::json!({"type": "heartbeat", "id": id}).to_string();
        if flooder.send(Message::Text(heartbeat)).await.is_err() {
            break; // closed already
        }
    }
    let mut rate_errors = 0;
    let mut closed_with = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, flooder.next()).await {
        match frame {
            Ok(Message::Text(text)) => {
                if let Ok(ServerMessage::Error {
                    extra_code, code, ..
                }) = serde_json::from_str::<ServerMessage>(&text)
                {
                    if extra_code == extra::MESSAGE_RATE_LIMITED {
                        assert_eq!(code, code::INVALID_OPERATION);
                        rate_errors += 1;
                    }
                }
            }
            Ok(Message::Close(reason)) => {
                closed_with = Some(reason.map(|r| u16::from(r.code)));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(rate_errors, 1, "one error per excess, not one per message");
    assert_eq!(
        closed_with,
        Some(Some(1008)),
        "closed as a policy violation"
    );

    // The member that behaves is untouched.
    let (home, _home_events) = connect(&server, "home").await;
    home.join(RoomId::Number(77), Role::Anchor, None)
        .await
        .expect("home joins");
    let joined = wait_event(
        &mut door_events,
        Duration::from_secs(5),
        |event| match event {
            ClientEvent::PeerJoin { user_id } => Some(user_id.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(joined.as_deref(), Some("home"));
    door.close().await;
    home.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_per_address_are_capped_and_freed_when_they_close() {
    let server = RoomServerThread::spawn(RoomConfig {
        max_connections_per_ip: 3,
        ..room_config()
    })
    .expect("room server starts");
    // Three sockets that heartbeat but never join: each would otherwise be kept forever.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(raw_socket(&server.ws_url()).await);
    }
    // The fourth upgrade is refused with 429 and the reason, before any WebSocket exists.
    match tokio_tungstenite::connect_async(server.ws_url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert!(body.contains("room.max_connections_per_ip = 3"), "{body}");
        }
        Ok(_) => panic!("a fourth connection from one address was accepted"),
        Err(other) => panic!("refused, but not with 429: {other}"),
    }
    // Closing one frees its place (the server notices the close, then counts it out).
    let mut closing = idle.pop().expect("three sockets");
    closing.close(None).await.expect("close");
    drop(closing);
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok((socket, _)) = tokio_tungstenite::connect_async(server.ws_url()).await {
            reopened = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut reopened = reopened.expect("a place freed by a closed connection is given again");
    // The ones still open work: a heartbeat is answered.
    let heartbeat = serde_json::json!({"type": "heartbeat", "id": 1}).to_string();
    reopened
        .send(Message::Text(heartbeat))
        .await
        .expect("heartbeat sent");
    let answer = tokio::time::timeout(Duration::from_secs(5), reopened.next())
        .await
        .expect("an answer in time");
    assert!(matches!(answer, Some(Ok(Message::Text(_)))), "{answer:?}");
    server.stop();
}

fn write_device_config(dir: &Path, url: &str, extra_lines: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("roombell.toml");
    std::fs::write(
        &path,
        format!(
            "[device]\nserver = \"{url}\"\nsdk_app_id = {SDK_APP_ID}\nsecret_key = \"{SECRET_KEY}\"\n\
             user_id = \"doorbell-01\"\nroom_id = 1234\nstate_dir = \"{}\"\n{extra_lines}\
             [video]\nbackend = \"test\"\n[audio]\nbackend = \"tone\"\n[speaker]\nbackend = \"null\"\n",
            dir.join("state").display()
        ),
    )
    .expect("write config");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

fn run_check(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_roombell"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .expect("roombell check runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A `roombell` child whose stdout and stderr are collected; killed on drop.
struct Child2 {
    child: Child,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Child2 {
    fn spawn(args: &[&str], rust_log: &str) -> Child2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_roombell"))
            .args(args)
            .env("RUST_LOG", rust_log)
            .env_remove("ROOMBELL__ROOM__SECRET_KEY")
            .env_remove("ROOMBELL__DEVICE__SECRET_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("roombell starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Child2 {
            child,
            stdout: rx,
            stderr,
        }
    }

    /// The first stdout line containing `needle`, within `timeout`.
    fn wait_stdout(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// Stops it (SIGKILL) and returns everything it wrote to stderr and stdout.
    fn finish(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut out: String = self.stdout.try_iter().collect::<Vec<_>>().join("\n");
        out.push('\n');
        out.push_str(&self.stderr.join().unwrap_or_default());
        out
    }
}

fn write_room_config(dir: &Path, mode: u32, extra_lines: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("room.toml");
    std::fs::write(
        &path,
        format!(
            "[room]\nlisten = \"127.0.0.1:0\"\nsdk_app_id = {SDK_APP_ID}\nsecret_key = \"{SECRET_KEY}\"\nmedia_ip = \"127.0.0.1\"\n{extra_lines}"
        ),
    )
    .expect("write room config");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

#[test]
fn a_key_file_readable_by_everyone_draws_a_warning_with_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let room_toml = write_room_config(dir.path(), 0o644, "");
    let shown = room_toml.display().to_string();
    let room = Child2::spawn(&["room", "--config", &shown], "info");
    assert!(
        room.wait_stdout("room server listening", Duration::from_secs(20))
            .is_some(),
        "the room server starts"
    );
    let out = room.finish();
    assert!(
        out.contains("WARN") && out.contains(&shown) && out.contains("chmod 640"),
        "{out}"
    );

    write_room_config(dir.path(), 0o640, "");
    let room = Child2::spawn(&["room", "--config", &shown], "info");
    assert!(room
        .wait_stdout("room server listening", Duration::from_secs(20))
        .is_some());
    let out = room.finish();
    assert!(!out.contains("chmod 640"), "{out}");

    // `roombell check` lists it as a warning for the device's file.
    let device_toml = write_device_config(dir.path(), "ws://127.0.0.1:9/ws", "", 0o644);
    let (_, out) = run_check(&device_toml);
    assert!(
        out.contains("[warn] config permissions")
            && out.contains("device.secret_key")
            && out.contains("chmod 640"),
        "{out}"
    );
    let device_toml = write_device_config(dir.path(), "ws://127.0.0.1:9/ws", "", 0o600);
    let (_, out) = run_check(&device_toml);
    assert!(!out.contains("config permissions"), "{out}");
}

/// True when `text` holds something shaped like a UserSig or privateMapKey: TRTC's base64 of
/// zlib data always starts "eJ" and runs long.
fn holds_a_credential(text: &str) -> Option<&str> {
    let is_sig_char = |c: char| c.is_ascii_alphanumeric() || "*-_".contains(c);
    let mut rest = text;
    while let Some(at) = rest.find("eJ") {
        let candidate = &rest[at..];
        let len = candidate
            .find(|c: char| !is_sig_char(c))
            .unwrap_or(candidate.len());
        if len >= 80 {
            return Some(&candidate[..len]);
        }
        rest = &rest[at + 2..];
    }
    None
}

#[test]
fn secrets_never_reach_the_logs_even_at_debug_level() {
    let dir = tempfile::tempdir().expect("temp dir");
    let room_toml = write_room_config(dir.path(), 0o600, "");
    let room = Child2::spawn(
        &["room", "--config", &room_toml.display().to_string()],
        "debug",
    );
    let listening = room
        .wait_stdout("room server listening", Duration::from_secs(20))
        .expect("the room server starts");
    let ws_url = listening
        .split("signaling at ")
        .nth(1)
        .map(|rest| rest.trim_end_matches(')').to_owned())
        .expect("the signaling URL is printed");

    // The device joins with a secret key and a privateMapKey.
    let private_map_key = usersig::gen_private_map_key(
        SDK_APP_ID as u32,
        SECRET_KEY,
        "doorbell-01",
        3600,
        unix_now(),
        &usersig::PrivateMapRoom::Number(1234),
        255,
    );
    let device_dir = dir.path().join("device");
    std::fs::create_dir_all(&device_dir).expect("device dir");
    let device_toml = write_device_config(
        &device_dir,
        &ws_url,
        &format!("private_map_key = \"{private_map_key}\"\nmedia_ip = \"127.0.0.1\"\n"),
        0o600,
    );
    let device = Child2::spawn(
        &["run", "--config", &device_toml.display().to_string()],
        "debug",
    );
    // Bounded wait for the join to show in the room server's counters.
    let healthz = ws_url
        .replace("ws://", "http://")
        .replace("/ws", "/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut joined = false;
    while Instant::now() < deadline {
        if http_get(&healthz).is_some_and(|body| body.contains("\"connections\":1")) {
            joined = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let publishing and ICE run a moment so their debug logging is in the output too.
    std::thread::sleep(Duration::from_secs(2));
    let device_out = device.finish();
    let room_out = room.finish();
    assert!(joined, "the device reached the room:\n{device_out}");
    assert!(
        device_out.contains("in the room"),
        "the device joined:\n{device_out}"
    );
    assert!(device_out.contains("DEBUG"), "debug level is on");
    for (who, out) in [("device", &device_out), ("room server", &room_out)] {
        assert!(!out.contains(SECRET_KEY), "{who} logged the secret key");
        assert!(
            !out.contains(&private_map_key),
            "{who} logged the privateMapKey"
        );
        assert_eq!(
            holds_a_credential(out),
            None,
            "{who} logged something shaped like a UserSig"
        );
    }
}

/// A bounded plain-HTTP GET against the test's own server on 127.0.0.1.
fn http_get(url: &str) -> Option<String> {
    use std::io::Write;
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/')?;
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn the_credential_detector_finds_real_credentials() {
    // The log test above is only as good as this detector.
    let sig = usersig::gen_user_sig(SDK_APP_ID, SECRET_KEY, "doorbell-01", 3600, unix_now());
    let line = format!("2026-01-01 DEBUG something userSig={sig} more");
    assert_eq!(holds_a_credential(&line), Some(sig.as_str()));
    assert_eq!(holds_a_credential("eJ short and harmless"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_map_key_without_send_privileges_cannot_publish() {
    let server = RoomServerThread::spawn(RoomConfig {
        require_private_map_key: true,
        ..room_config()
    })
    .expect("room server starts");
    let pmk = |user: &str, privileges: u32| {
        usersig::gen_private_map_key(
            SDK_APP_ID as u32,
            SECRET_KEY,
            user,
            3600,
            unix_now(),
            &usersig::PrivateMapRoom::Number(77),
            privileges,
        )
    };
    // Required: a join without a key is refused.
    let (keyless, _events) = connect(&server, "keyless").await;
    let err = keyless
        .join(RoomId::Number(77), Role::Anchor, None)
        .await
        .expect_err("no key, no entry");
    assert_eq!(err.extra_code(), extra::NO_PRIVILEGE, "{err}");
    keyless.close().await;

    // Enter and receive only: in the room, but publishing is refused.
    use usersig::privilege::{ENTER_ROOM, RECV_AUDIO, RECV_VIDEO};
    let (viewer, _events) = connect(&server, "viewer").await;
    viewer
        .join(
            RoomId::Number(77),
            Role::Anchor,
            Some(pmk("viewer", ENTER_ROOM | RECV_AUDIO | RECV_VIDEO)),
        )
        .await
        .expect("viewer joins with its key");
    let err = viewer
        .publish(true, true)
        .await
        .err()
        .expect("no send privilege, no publication");
    assert_eq!(err.code(), code::INVALID_OPERATION, "{err}");
    assert_eq!(err.extra_code(), extra::NO_PRIVILEGE, "{err}");

    // A key for another user is no key at all.
    let (thief, _events) = connect(&server, "thief").await;
    let err = thief
        .join(RoomId::Number(77), Role::Anchor, Some(pmk("viewer", 255)))
        .await
        .expect_err("someone else's key");
    assert_eq!(err.extra_code(), extra::BAD_PRIVATE_MAP_KEY, "{err}");
    viewer.close().await;
    thief.close().await;
    server.stop();
}

#[test]
fn roombell_check_reaches_a_tls_room_server_only_with_its_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = make_pki(dir.path());
    let server = tls_room(&pki);
    let url = server.ws_url();
    let with_ca = write_device_config(
        dir.path(),
        &url,
        &format!("ca_file = \"{}\"\n", pki.ca.display()),
        0o600,
    );
    let (_, out) = run_check(&with_ca);
    assert!(out.contains("[ok  ] signaling security"), "{out}");
    assert!(out.contains("[ok  ] room server"), "{out}");
    assert!(out.contains("[ok  ] join"), "{out}");

    let without_ca = write_device_config(dir.path(), &url, "", 0o600);
    let (ok, out) = run_check(&without_ca);
    assert!(!ok);
    assert!(
        out.contains("[FAIL] room server") && out.contains("device.ca_file"),
        "{out}"
    );
    server.stop();
}
