//! The fuzzers' signaling corpus against a live room server: every input the
//! `signaling_client` fuzz target kept (fuzz/corpus/signaling_client/) plus the hand-written
//! malformed messages in tests/signaling_corpus/ is sent over a real WebSocket by an intruder
//! that never manages to join. Each must be answered with exactly one typed error (or, for the
//! rare valid message, its response), the intruder's connection must stay open, and a
//! publisher and a subscriber in the room must keep their media flowing throughout.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use roombell::client::ClientEvent;
use roombell::protocol::{request_id_hint, Role, RoomId, ServerMessage, MAX_MESSAGE_BYTES};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Upper bound on corpus files sent, so a corpus grown by long fuzzing runs stays quick.
const MAX_INPUTS: usize = 3_000;
const ROOM: u64 = 7;

/// Every file of the given directories, sorted, skipping anything over the protocol's limit
/// (a larger frame is a separate, already-tested case: `room_bad_input`).
fn corpus_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("corpus directory {} unreadable: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files.truncate(MAX_INPUTS);
    files
}

/// How the server answered one input.
#[derive(Debug)]
enum Answer {
    Error { id: Option<u64>, code: u32 },
    Response { id: u64 },
}

/// Reads the server's one answer to the input just sent; anything else arriving on this socket
/// (the intruder is in no room, so no events are due) fails the test.
async fn answer(socket: &mut Socket, what: &Path) -> Answer {
    let Ok(next) = tokio::time::timeout(Duration::from_secs(5), socket.next()).await else {
        panic!("{}: no answer within 5 s", what.display());
    };
    let frame = match next {
        Some(Ok(frame)) => frame,
        Some(Err(e)) => panic!("{}: socket error {e}", what.display()),
        None => panic!("{}: the server closed the connection", what.display()),
    };
    let Message::Text(text) = frame else {
        panic!("{}: expected a text answer, got {frame:?}", what.display());
    };
    match serde_json::from_str::<ServerMessage>(&text) {
        Ok(ServerMessage::Error { id, code, .. }) => Answer::Error { id, code },
        Ok(ServerMessage::Response { id, .. }) => Answer::Response { id },
        other => panic!("{}: unexpected answer {other:?} ({text})", what.display()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_message_gets_a_typed_answer_while_the_room_keeps_flowing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = corpus_files(&[
        root.join("fuzz/corpus/signaling_client"),
        root.join("tests/signaling_corpus"),
    ]);
    assert!(
        files.len() >= 20,
        "only {} corpus files: the committed corpus is missing",
        files.len()
    );

    let server = start_room();
    let (door, mut door_events) = connect(&server, "door").await;
    let (phone, mut phone_events) = connect(&server, "phone").await;
    door.join(RoomId::Number(ROOM), Role::Anchor, None)
        .await
        .expect("door joins");
    phone
        .join(RoomId::Number(ROOM), Role::Anchor, None)
        .await
        .expect("phone joins");

    // The door publishes real Opus at a microphone's pace; the phone subscribes and counts.
    let mut publisher = door.publish(true, false).await.expect("door publishes");
    assert!(
        publisher.wait_connected(Duration::from_secs(10)).await,
        "publisher connects"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        let audio = opus_sine(440.0, 50);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            // Bounded: at most 60 s of audio.
            for tick in 0..3_000usize {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                ticker.tick().await;
                let _ = publisher
                    .write_audio(audio[tick % audio.len()].clone(), Duration::from_millis(20))
                    .await;
            }
            publisher
        })
    };
    wait_event(&mut phone_events, Duration::from_secs(5), |e| {
        matches!(e, ClientEvent::StreamAdded(s) if s.user_id == "door").then_some(())
    })
    .await
    .expect("phone gets stream-added");
    let mut subscriber = phone
        .subscribe("door", true, false)
        .await
        .expect("phone subscribes");
    let received = Arc::new(AtomicUsize::new(0));
    let receiver = {
        let received = received.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), subscriber.next_media())
                    .await
                {
                    Ok(Some(_)) => {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
            subscriber
        })
    };
    let wait_for_packets = |at_least: usize| {
        let received = received.clone();
        async move {
            for _ in 0..100 {
                if received.load(Ordering::Relaxed) >= at_least {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(wait_for_packets(10).await, "audio flows before the corpus");
    let before = received.load(Ordering::Relaxed);

    // The intruder sends the whole corpus on one connection.
    let (mut intruder, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .expect("intruder connects");
    let (mut errors, mut responses) = (0usize, 0usize);
    for path in &files {
        let bytes = std::fs::read(path).expect("read corpus file");
        if bytes.len() > MAX_MESSAGE_BYTES {
            continue;
        }
        let hint = std::str::from_utf8(&bytes).ok().and_then(request_id_hint);
        let frame = match String::from_utf8(bytes) {
            Ok(text) => Message::Text(text),
            Err(e) => Message::Binary(e.into_bytes()),
        };
        intruder.send(frame).await.expect("send corpus input");
        match answer(&mut intruder, path).await {
            Answer::Error { id, code } => {
                assert_ne!(code, 0, "{}: error without a TRTC code", path.display());
                if hint.is_some() {
                    assert_eq!(
                        id,
                        hint,
                        "{}: the error answers its request",
                        path.display()
                    );
                }
                errors += 1;
            }
            Answer::Response { id } => {
                // Only a heartbeat can succeed for someone who is in no room.
                assert_eq!(Some(id), hint, "{}: response to another id", path.display());
                let text = std::fs::read_to_string(path).expect("a valid message is text");
                let kind = roombell::protocol::parse_client_message(&text)
                    .map(|m| m.kind())
                    .unwrap_or("unparseable");
                assert_eq!(kind, "heartbeat", "{}: {kind} succeeded", path.display());
                responses += 1;
            }
        }
    }
    eprintln!(
        "signaling corpus: {} inputs, {errors} typed errors, {responses} heartbeat responses",
        files.len()
    );

    // The intruder is still connected and served.
    intruder
        .send(Message::Text(r#"{"type":"heartbeat","id":424242}"#.into()))
        .await
        .expect("intruder still connected");
    assert!(matches!(
        answer(&mut intruder, Path::new("final heartbeat")).await,
        Answer::Response { id: 424242 }
    ));

    // The room carried on: more audio arrived, nobody else appeared, requests still work.
    assert!(
        wait_for_packets(before + 25).await,
        "audio stopped flowing during the corpus ({before} → {})",
        received.load(Ordering::Relaxed)
    );
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(200), door_events.recv()).await
    {
        if let ClientEvent::PeerJoin { user_id } = &event {
            assert_eq!(user_id, "phone", "an intruder joined the room");
        }
    }
    assert!(door.is_connected() && phone.is_connected());
    door.mute(false, false).await.expect("door's requests work");
    stop.store(true, Ordering::Relaxed);
    let _publisher = sender.await.expect("sender task");
    let _subscriber = receiver.await.expect("receiver task");
    drop(intruder);
    door.close().await;
    phone.close().await;
    server.stop();
}
