//! `scripts/bench.sh` helper: N Rust clients join a room, subscribe (audio + video) to one
//! publisher through the room server and drain what it forwards, so the room server's CPU and
//! memory per forwarded stream can be measured from outside (`/proc/<room pid>/…`).
//!
//! ```text
//! cargo run --release --example bench_subscribers -- \
//!     WS_URL SDK_APP_ID SECRET_KEY ROOM_ID PUBLISHER_USER_ID COUNT SECONDS
//! ```
//!
//! Prints `READY <count>` once every subscriber has received media, then after SECONDS
//! `DONE <packets received in total> <media dropped by the clients>` and exits.

use roombell::client::{Client, ClientConfig, ClientEvent, Subscriber};
use roombell::protocol::{Mode, Role, RoomId};
use roombell::rtc_peer::PeerOptions;
use roombell::usersig;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Args {
    url: String,
    sdk_app_id: u64,
    key: String,
    room: u64,
    publisher: String,
    count: usize,
    seconds: u64,
}

fn args() -> Result<Args, String> {
    let v: Vec<String> = std::env::args().skip(1).collect();
    if v.len() != 7 {
        return Err(
            "usage: bench_subscribers WS_URL SDK_APP_ID SECRET_KEY ROOM_ID PUBLISHER COUNT SECONDS"
                .into(),
        );
    }
    let num = |i: usize| v[i].parse::<u64>().map_err(|e| format!("{}: {e}", v[i]));
    Ok(Args {
        url: v[0].clone(),
        sdk_app_id: num(1)?,
        key: v[2].clone(),
        room: num(3)?,
        publisher: v[4].clone(),
        count: num(5)? as usize,
        seconds: num(6)?,
    })
}

async fn subscriber(args: &Args, index: usize) -> Result<(Client, Subscriber), String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let user_id = format!("bench-sub-{index}");
    let config = ClientConfig {
        url: args.url.clone(),
        sdk_app_id: args.sdk_app_id,
        user_sig: usersig::gen_user_sig(args.sdk_app_id, &args.key, &user_id, 3600, now),
        user_id,
        mode: Mode::Rtc,
        peer: PeerOptions::default(),
    };
    let (client, mut events) = Client::connect(config)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    client
        .join(RoomId::Number(args.room), Role::Anchor, None)
        .await
        .map_err(|e| format!("join: {e}"))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(ClientEvent::StreamAdded(s))) if s.user_id == args.publisher => break,
            Ok(Some(_)) => continue,
            _ => return Err(format!("{} never published", args.publisher)),
        }
    }
    // Keep draining events so the client's channel never backs up.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let sub = client
        .subscribe(&args.publisher, true, true)
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    Ok((client, sub))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let args = Arc::new(args()?);
    let packets = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    let mut firsts = Vec::new();
    let mut subs = Vec::new();
    for i in 0..args.count {
        let (client, mut sub) = subscriber(&args, i).await?;
        clients.push(client);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        firsts.push(rx);
        let counter = packets.clone();
        subs.push(tokio::spawn(async move {
            let mut tx = Some(tx);
            while sub.next_media().await.is_some() {
                counter.fetch_add(1, Ordering::Relaxed);
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
            }
            sub.dropped()
        }));
    }
    for rx in firsts {
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .map_err(|_| "a subscriber received no media in 30 s".to_string())?
            .map_err(|_| "a subscription ended before any media".to_string())?;
    }
    println!("READY {}", args.count);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let total = packets.load(Ordering::Relaxed);
    for client in &clients {
        client.close().await;
    }
    let mut dropped = 0;
    for sub in subs {
        if let Ok(Ok(d)) = tokio::time::timeout(Duration::from_secs(2), sub).await {
            dropped += d;
        }
    }
    println!("DONE {total} {dropped}");
    Ok(())
}
