//! A transparent delay line for the fault tests (`scripts/faults.sh netns`): the kernel here
//! has no netem, so delay and jitter are added in user space.
//!
//! It creates a TUN device in the router namespace. Policy routing there sends every packet
//! forwarded between the device and the room server into the TUN; this program holds each one
//! for `delay ± jitter` (uniform, drawn per packet, so packets may reorder as with netem) and
//! writes it back into the TUN, from where the kernel forwards it on by the main table.
//!
//! ```text
//! delay_relay TUN_NAME DELAY_MS JITTER_MS SECONDS
//! ```
//!
//! Prints `READY` once the TUN exists, and at the end (after SECONDS, or when stdin closes)
//! one JSON line with what it relayed and the delays it really applied.

use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("usage: delay_relay TUN_NAME DELAY_MS JITTER_MS SECONDS ({0})")]
    Usage(String),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> RelayError {
    move |source| RelayError::Io { what, source }
}

struct Args {
    tun: String,
    delay_ms: f64,
    jitter_ms: f64,
    seconds: u64,
}

fn args() -> Result<Args, RelayError> {
    let v: Vec<String> = std::env::args().skip(1).collect();
    if v.len() != 4 {
        return Err(RelayError::Usage(format!("{} arguments given", v.len())));
    }
    let num = |i: usize| {
        v[i].parse::<f64>()
            .map_err(|e| RelayError::Usage(format!("{:?}: {e}", v[i])))
    };
    if v[0].is_empty() || v[0].len() > 15 {
        return Err(RelayError::Usage("TUN_NAME must be 1 to 15 bytes".into()));
    }
    let (delay_ms, jitter_ms, seconds) = (num(1)?, num(2)?, num(3)?);
    if !(0.0..=5000.0).contains(&delay_ms) || jitter_ms < 0.0 || jitter_ms > delay_ms {
        return Err(RelayError::Usage(
            "need 0 <= JITTER_MS <= DELAY_MS <= 5000".into(),
        ));
    }
    if !(1.0..=86_400.0).contains(&seconds) {
        return Err(RelayError::Usage("SECONDS must be 1 to 86400".into()));
    }
    Ok(Args {
        tun: v[0].clone(),
        delay_ms,
        jitter_ms,
        seconds: seconds as u64,
    })
}

/// Opens `/dev/net/tun` as the layer-3 device `name` (no packet-info header).
fn open_tun(name: &str) -> Result<File, RelayError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(io("opening /dev/net/tun"))?;
    // struct ifreq: 16 bytes of name, then the flags (a short) in a 24-byte union.
    let mut ifreq = [0u8; 40];
    ifreq[..name.len()].copy_from_slice(name.as_bytes());
    let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as i16;
    ifreq[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes a struct ifreq, which `ifreq` is large enough for; the
    // descriptor is open for the duration of the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, ifreq.as_mut_ptr()) };
    if rc < 0 {
        return Err(RelayError::Io {
            what: "TUNSETIFF",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(file)
}

/// One packet waiting for its time; the heap pops the earliest due first.
struct Held {
    due: Instant,
    arrived: Instant,
    packet: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.due.cmp(&self.due)
    }
}

#[derive(Default)]
struct Line {
    held: BinaryHeap<Held>,
    /// Delays applied, in ms, for the summary.
    delays_ms: Vec<f64>,
}

/// Waits up to `timeout` for `fd` to be readable.
fn readable(fd: i32, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
    n > 0 && pfd.revents & libc::POLLIN != 0
}

fn main() -> Result<(), RelayError> {
    let args = args()?;
    let tun = open_tun(&args.tun)?;
    let mut writer = tun.try_clone().map_err(io("cloning the TUN descriptor"))?;
    let line = Arc::new((Mutex::new(Line::default()), Condvar::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    println!("READY");
    std::io::stdout().flush().map_err(io("stdout"))?;

    // Stdin closing (the test ended or died) stops the relay early.
    let stop_on_eof = stop.clone();
    std::thread::spawn(move || {
        let mut sink = String::new();
        let mut stdin = std::io::stdin().lock();
        while stdin.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
        stop_on_eof.store(true, Ordering::Relaxed);
    });

    let sender_line = line.clone();
    let sender_stop = stop.clone();
    let sender = std::thread::spawn(move || -> Result<u64, RelayError> {
        let (lock, ready) = &*sender_line;
        let mut written = 0u64;
        let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !sender_stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let wait = match guard.held.peek() {
                Some(next) if next.due <= now => {
                    if let Some(held) = guard.held.pop() {
                        guard
                            .delays_ms
                            .push(now.duration_since(held.arrived).as_secs_f64() * 1000.0);
                        drop(guard);
                        // A full queue downstream drops the packet, as a router would.
                        if writer.write(&held.packet).is_ok() {
                            written += 1;
                        }
                        guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                    }
                    continue;
                }
                Some(next) => next.due - now,
                None => Duration::from_millis(50),
            };
            guard = ready
                .wait_timeout(guard, wait.min(Duration::from_millis(50)))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        Ok(written)
    });

    let mut reader = tun;
    let fd = reader.as_raw_fd();
    let mut buf = vec![0u8; 65_536];
    let mut read = 0u64;
    let (lock, ready) = &*line;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        if !readable(fd, Duration::from_millis(100)) {
            continue;
        }
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(RelayError::Io {
                    what: "reading the TUN",
                    source: e,
                })
            }
        };
        read += 1;
        let offset = (rand::random::<f64>() * 2.0 - 1.0) * args.jitter_ms;
        let delay = Duration::from_secs_f64((args.delay_ms + offset).max(0.0) / 1000.0);
        let arrived = Instant::now();
        let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        guard.held.push(Held {
            due: arrived + delay,
            arrived,
            packet: buf[..n].to_vec(),
        });
        drop(guard);
        ready.notify_one();
    }
    stop.store(true, Ordering::Relaxed);
    ready.notify_one();
    let written = sender.join().unwrap_or(Ok(0))?;
    let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    let delays = &guard.delays_ms;
    let count = delays.len().max(1) as f64;
    let mean = delays.iter().sum::<f64>() / count;
    let sd = (delays.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / count).sqrt();
    let min = delays.iter().copied().fold(f64::INFINITY, f64::min);
    let max = delays.iter().copied().fold(0.0, f64::max);
    println!(
        "{}",
        serde_json::json!({
            "relay": args.tun,
            "packets_read": read,
            "packets_written": written,
            "delay_ms": { "configured": args.delay_ms, "jitter": args.jitter_ms,
                          "mean": mean, "sd": sd, "min": if delays.is_empty() { 0.0 } else { min }, "max": max },
        })
    );
    // The descriptor closes with `reader`; the kernel removes the (non-persistent) TUN.
    Ok(())
}
