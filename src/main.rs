//! `roombell`: the doorbell daemon, its room server and their tools, in one binary.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use roombell::usersig;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "roombell",
    version,
    about = "A video doorbell / intercom and its room server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the doorbell: joins the configured room, publishes camera and microphone, plays
    /// whoever answers. Stays in the room (reconnecting by itself) until SIGTERM or Ctrl-C.
    Run {
        /// The daemon's TOML config; ROOMBELL__SECTION__KEY environment variables override it.
        #[arg(long, short, default_value = "/etc/roombell/roombell.toml")]
        config: PathBuf,
    },
    /// Runs a room server and a doorbell on test sources in one process, for a first look.
    Demo {
        #[arg(long, short, default_value = "config/demo.toml")]
        config: PathBuf,
        /// The room server's port (0 = any free port; the printed URL tells which).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Captures and encodes without a room, to check a camera and a microphone.
    Record(RecordArgs),
    /// Plays a tone (or a WAV, or the microphone live with --audio-source alsa) on the speaker
    /// through a call's Opus and playout path, without a room, to check a speaker; reports
    /// underruns.
    Play(PlayArgs),
    /// Says what is wrong: config, cameras, sound devices, room server, credentials.
    Check {
        #[arg(long, short, default_value = "/etc/roombell/roombell.toml")]
        config: PathBuf,
    },
    /// Runs the room server (signaling + SFU + web client).
    Room {
        /// TOML file with a [room] section; ROOMBELL__ROOM__* environment variables override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Overrides room.listen, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Makes and checks TRTC UserSigs and privateMapKeys.
    #[command(subcommand)]
    Usersig(UsersigCommand),
}

#[derive(Args)]
struct RecordArgs {
    /// The daemon's config, for the [video], [audio] and [encoder] sections (optional).
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Annex-B H.264 output.
    #[arg(long)]
    video: Option<PathBuf>,
    /// Ogg Opus output.
    #[arg(long)]
    audio: Option<PathBuf>,
    /// Overrides video.backend: test, y4m or v4l2.
    #[arg(long)]
    video_source: Option<String>,
    /// Overrides the size, e.g. 640x480.
    #[arg(long)]
    size: Option<String>,
    #[arg(long)]
    fps: Option<u32>,
    /// Overrides video.device (v4l2) or video.file (y4m).
    #[arg(long)]
    video_device: Option<String>,
    #[command(flatten)]
    sound: AudioSourceArgs,
}

/// The microphone options `record` and `play` share.
#[derive(Args)]
struct AudioSourceArgs {
    /// Overrides audio.backend: tone, wav or alsa.
    #[arg(long)]
    audio_source: Option<String>,
    #[arg(long)]
    tone_hz: Option<f32>,
    /// Overrides audio.device (alsa) or audio.file (wav).
    #[arg(long)]
    audio_device: Option<String>,
}

impl AudioSourceArgs {
    fn apply(self, audio: &mut roombell::media::source::AudioSourceConfig) {
        if let Some(backend) = self.audio_source {
            audio.backend = backend;
        }
        if let Some(hz) = self.tone_hz {
            audio.tone_hz = hz;
        }
        if let Some(device) = self.audio_device {
            if audio.backend == "wav" {
                audio.file = Some(device.into());
            } else {
                audio.device = device;
            }
        }
    }
}

#[derive(Args)]
struct PlayArgs {
    /// The daemon's config, for the [audio] and [speaker] sections [default:
    /// /etc/roombell/roombell.toml when it exists, so the speaker is the service's own]
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// The sound to play: a tone unless --audio-source says otherwise.
    #[command(flatten)]
    sound: AudioSourceArgs,
    /// Overrides speaker.backend: alsa, wav or null.
    #[arg(long)]
    speaker: Option<String>,
    /// Overrides speaker.device (alsa) or speaker.file (wav).
    #[arg(long)]
    speaker_device: Option<String>,
}

#[derive(Subcommand)]
enum UsersigCommand {
    /// Prints a UserSig (or, with --room-id/--str-room-id and --privileges, a privateMapKey).
    Gen(GenArgs),
    /// Verifies a UserSig: prints its document and exits 0, or says why it is refused.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct GenArgs {
    #[arg(long)]
    sdk_app_id: u64,
    /// The application's secret key, as the console shows it.
    #[arg(long)]
    key: String,
    #[arg(long)]
    user_id: String,
    /// Lifetime in seconds (Tencent's default is 180 days).
    #[arg(long, default_value_t = 180 * 86_400)]
    expire: u64,
    /// Numeric room for a privateMapKey.
    #[arg(long, conflicts_with = "str_room_id")]
    room_id: Option<u32>,
    /// String room for a privateMapKey.
    #[arg(long)]
    str_room_id: Option<String>,
    /// privateMapKey privilege bits (2 enter, 4/8 send/receive audio, 16/32 send/receive video; 255 all).
    #[arg(long)]
    privileges: Option<u32>,
    /// Signing time as unix seconds (default: now).
    #[arg(long)]
    now: Option<u64>,
}

#[derive(Args)]
struct VerifyArgs {
    #[arg(long)]
    sdk_app_id: u64,
    #[arg(long)]
    key: String,
    #[arg(long)]
    user_id: String,
    /// Check expiry against this unix time instead of now.
    #[arg(long)]
    now: Option<u64>,
    /// The UserSig to check.
    sig: String,
}

fn usersig_gen(args: GenArgs) -> anyhow::Result<()> {
    let now = args.now.unwrap_or_else(usersig::unix_now);
    let room = match (args.room_id, args.str_room_id) {
        (Some(id), None) => Some(usersig::PrivateMapRoom::Number(id)),
        (None, Some(text)) => Some(usersig::PrivateMapRoom::Text(text)),
        _ => None,
    };
    let text = match (room, args.privileges) {
        (Some(room), Some(privileges)) => usersig::gen_private_map_key(
            u32::try_from(args.sdk_app_id)
                .context("a privateMapKey's sdkAppId must fit 32 bits")?,
            &args.key,
            &args.user_id,
            args.expire,
            now,
            &room,
            privileges,
        ),
        (None, None) => {
            usersig::gen_user_sig(args.sdk_app_id, &args.key, &args.user_id, args.expire, now)
        }
        _ => anyhow::bail!(
            "a privateMapKey needs both a room (--room-id or --str-room-id) and --privileges"
        ),
    };
    println!("{text}");
    Ok(())
}

fn usersig_verify(args: VerifyArgs) -> anyhow::Result<()> {
    let now = args.now.unwrap_or_else(usersig::unix_now);
    let document = usersig::verify(&args.sig, args.sdk_app_id, &args.key, &args.user_id, now)
        .context("UserSig refused")?;
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}

/// Logs a warning when the config file holding a secret can be read by every user.
fn warn_if_secret_file_is_readable(path: &std::path::Path, keys: &[&str]) {
    if let Some(warning) = roombell::config::secret_file_warning(path, keys) {
        tracing::warn!("{warning}");
    }
}

fn run_room(config_path: Option<PathBuf>, listen: Option<String>) -> anyhow::Result<()> {
    roombell::logging::init();
    let mut config = roombell::config::load_room_config(config_path.as_deref())?;
    if let Some(path) = &config_path {
        warn_if_secret_file_is_readable(path, roombell::config::ROOM_SECRET_KEYS);
    }
    if let Some(listen) = listen {
        config.listen = listen;
    }
    let system = actix::System::new();
    system.block_on(async move {
        let server = roombell::room::RoomServer::start(&config).await?;
        let (http, ws) = if server.tls {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        println!(
            "room server listening on {http}://{}/ (signaling at {ws}://{}/ws)",
            server.addr, server.addr
        );
        roombell::shutdown::wait_for_signal().await;
        tracing::info!("stopping room server");
        server.stop().await;
        anyhow::Ok(())
    })
}

fn run_device(config_path: PathBuf) -> anyhow::Result<()> {
    let config = roombell::device::config::load_daemon_config(Some(&config_path))?;
    roombell::logging::init_with(config.log.level.as_deref());
    warn_if_secret_file_is_readable(&config_path, roombell::device::config::DEVICE_SECRET_KEYS);
    let system = actix::System::new();
    system.block_on(async move {
        let device = roombell::device::Device::start(config)?;
        roombell::shutdown::wait_for_signal().await;
        tracing::info!("stopping: leaving the room");
        device.shutdown().await;
        anyhow::Ok(())
    })
}

fn run_demo(config: PathBuf, port: Option<u16>) -> anyhow::Result<()> {
    let mut config = roombell::device::config::load_daemon_config(Some(&config))?;
    roombell::logging::init_with(config.log.level.as_deref());
    if let Some(port) = port {
        config.room.listen = format!("127.0.0.1:{port}");
    }
    // The answer page asks the demo's room server for short-lived credentials.
    config.room.demo_room_id = Some(config.device.room_id.clone());
    let room = roombell::room::RoomServerThread::spawn(config.room.clone())?;
    config.device.server = room.ws_url();
    // The demo's own config file holds a published demo key: no permission warning here.
    let answer = room.http_url();
    println!("answer page: {answer}");
    println!("room id: {}", config.device.room_id);
    println!("sdkAppId: {}", config.device.sdk_app_id);
    let system = actix::System::new();
    let result = system.block_on(async move {
        let device = roombell::device::Device::start(config)?;
        roombell::shutdown::wait_for_signal().await;
        device.shutdown().await;
        anyhow::Ok(())
    });
    room.stop();
    result
}

fn run_record(args: RecordArgs) -> anyhow::Result<()> {
    roombell::logging::init();
    let mut config = match &args.config {
        Some(path) => roombell::device::config::load_daemon_config(Some(path))?,
        None => roombell::device::config::DaemonConfig::default(),
    };
    if let Some(backend) = args.video_source {
        config.video.backend = backend;
    }
    if let Some(size) = args.size {
        let (w, h) = size
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
            .context("--size takes WIDTHxHEIGHT, e.g. 640x480")?;
        config.video.width = w;
        config.video.height = h;
    }
    if let Some(fps) = args.fps {
        config.video.fps = fps;
    }
    if let Some(device) = args.video_device {
        if config.video.backend == "y4m" {
            config.video.file = Some(device.into());
        } else {
            config.video.device = device;
        }
    }
    args.sound.apply(&mut config.audio);
    let encoder = roombell::device::encoder_config(&config);
    let report = roombell::media::record::record(
        &config.video,
        &config.audio,
        &encoder,
        args.seconds,
        args.video.as_deref(),
        args.audio.as_deref(),
        true,
    )?;
    println!("{report}");
    Ok(())
}

fn run_play(args: PlayArgs) -> anyhow::Result<()> {
    roombell::logging::init();
    let service_config = std::path::Path::new("/etc/roombell/roombell.toml");
    let config_file = args
        .config
        .as_deref()
        .or_else(|| service_config.exists().then_some(service_config));
    let mut config = match config_file {
        Some(path) => roombell::device::config::load_daemon_config(Some(path))?,
        None => roombell::device::config::DaemonConfig::default(),
    };
    // A tone unless asked otherwise: the configured microphone played live next to the
    // speaker would howl.
    if args.sound.audio_source.is_none() {
        config.audio.backend = "tone".into();
    }
    args.sound.apply(&mut config.audio);
    if let Some(backend) = args.speaker {
        config.speaker.backend = backend;
    }
    if let Some(device) = args.speaker_device {
        if config.speaker.backend == "wav" {
            config.speaker.file = Some(device.into());
        } else {
            config.speaker.device = device;
        }
    }
    let report = roombell::device::play::play(&config.audio, &config.speaker, args.seconds)?;
    println!("{report}");
    Ok(())
}

fn run_check(config: PathBuf) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(roombell::device::check::run(&config));
    let mut failures = 0;
    for finding in &report {
        println!("{finding}");
        if finding.verdict == roombell::device::check::Verdict::Fail {
            failures += 1;
        }
    }
    runtime.shutdown_background();
    if failures > 0 {
        anyhow::bail!(
            "{failures} problem{} found",
            if failures == 1 { "" } else { "s" }
        );
    }
    println!("everything checked is fine");
    Ok(())
}

fn main() -> ExitCode {
    roombell::device::mark_process_start();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => run_device(config),
        Command::Demo { config, port } => run_demo(config, port),
        Command::Record(args) => run_record(args),
        Command::Play(args) => run_play(args),
        Command::Check { config } => run_check(config),
        Command::Room { config, listen } => run_room(config, listen),
        Command::Usersig(UsersigCommand::Gen(args)) => usersig_gen(args),
        Command::Usersig(UsersigCommand::Verify(args)) => usersig_verify(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roombell: {e:#}");
            ExitCode::FAILURE
        }
    }
}
