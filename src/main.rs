//! `roombell`: the doorbell daemon, its room server and their tools, in one binary.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use roombell::usersig;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn usersig_gen(args: GenArgs) -> anyhow::Result<()> {
    let now = args.now.unwrap_or_else(unix_now);
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
    let now = args.now.unwrap_or_else(unix_now);
    let document = usersig::verify(&args.sig, args.sdk_app_id, &args.key, &args.user_id, now)
        .context("UserSig refused")?;
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}

fn run_room(config: Option<PathBuf>, listen: Option<String>) -> anyhow::Result<()> {
    roombell::logging::init();
    let mut config = roombell::config::load_room_config(config.as_deref())?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    let system = actix::System::new();
    system.block_on(async move {
        let server = roombell::room::RoomServer::start(&config).await?;
        println!(
            "room server listening on http://{}/ (signaling at /ws)",
            server.addr
        );
        roombell::shutdown::wait_for_signal().await;
        tracing::info!("stopping room server");
        server.stop().await;
        anyhow::Ok(())
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
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
