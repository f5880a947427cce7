//! What each media stage costs, and what the whole capture-encode pipeline costs next to the
//! bare encoder. `cargo bench --bench media` (about a minute and a half).
//!
//! Stages (criterion): camera conversions to I420 at 640x480, H.264 encode at 640x480 / 1 Mbit/s
//! and 1280x720 / 2.5 Mbit/s, Opus encode and decode of 20 ms.
//!
//! Then, from one run, plain lines `RESULT <name> <value> <unit>`: CPU time per second of media
//! for `record` (test source, unpaced, 640x480@30, 1 Mbit/s, written to a file) and for the bare
//! encoder fed the same frames, and their ratio. The pipeline's CPU time is the whole process'
//! utime+stime from /proc/self/stat (10 ms ticks: 60 s of media keep that near 1 %); the bare
//! encoder's is this thread's run time from /proc/thread-self/schedstat (nanoseconds) around
//! batches of encode calls, so making the frames is not counted.
//!
//! Encoder benchmarks use camera-like frames: the test pattern plus sensor-like noise, because
//! a clean test pattern is nearly static and costs the encoder much less than a real camera.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use roombell::media::convert::{mjpeg_to_i420, nv12_to_i420, yuyv_to_i420, PlaneRef};
use roombell::media::frame::{AudioFrame, VideoFrame};
use roombell::media::h264::{H264Encoder, H264EncoderConfig};
use roombell::media::opus_codec::{OpusDecoder, OpusEncoder};
use roombell::media::record::record;
use roombell::media::source::{AudioSourceConfig, VideoSourceConfig};
use roombell::media::test_pattern::TestPattern;
use roombell::media::tone::ToneGenerator;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;
/// Distinct noisy frames the encoder benchmarks cycle through.
const NOISY_FRAMES: u64 = 30;

/// The test pattern as a camera would hand it over in NV12, with a padded stride.
fn nv12_buffer(frame: &VideoFrame, stride: usize) -> (Vec<u8>, Vec<u8>) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let mut y = vec![0u8; stride * h];
    for (dst, src) in y
        .chunks_exact_mut(stride)
        .zip(frame.y_plane().chunks_exact(w))
    {
        dst[..w].copy_from_slice(src);
    }
    let mut uv = vec![0u8; stride * h / 2];
    for (row, dst) in uv.chunks_exact_mut(stride).enumerate() {
        let (u, v) = (
            &frame.u_plane()[row * w / 2..][..w / 2],
            &frame.v_plane()[row * w / 2..][..w / 2],
        );
        for (i, pair) in dst[..w].chunks_exact_mut(2).enumerate() {
            pair[0] = u[i];
            pair[1] = v[i];
        }
    }
    (y, uv)
}

/// The test pattern as packed YUYV, chroma repeated on both rows.
fn yuyv_buffer(frame: &VideoFrame) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let mut out = Vec::with_capacity(w * h * 2);
    for row in 0..h {
        for x in (0..w).step_by(2) {
            let chroma = (row / 2) * (w / 2) + x / 2;
            out.extend_from_slice(&[
                frame.y_plane()[row * w + x],
                frame.u_plane()[chroma],
                frame.y_plane()[row * w + x + 1],
                frame.v_plane()[chroma],
            ]);
        }
    }
    out
}

/// A 4:2:2 JPEG of the frame, as UVC cameras send, made by ffmpeg (no JPEG encoder in our
/// dependencies); `None` without ffmpeg.
fn mjpeg_buffer(frame: &VideoFrame) -> Option<Vec<u8>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let size = format!("{}x{}", frame.width(), frame.height());
    let mut child = Command::new("ffmpeg")
        .args([
            "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", &size,
        ])
        .args([
            "-i",
            "-",
            "-frames:v",
            "1",
            "-pix_fmt",
            "yuvj422p",
            "-q:v",
            "5",
        ])
        .args(["-f", "mjpeg", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(frame.data()).ok()?;
    let output = child.wait_with_output().ok()?;
    (output.status.success() && !output.stdout.is_empty()).then_some(output.stdout)
}

fn conversions(c: &mut Criterion) {
    let frame = TestPattern::new(WIDTH, HEIGHT).unwrap().frame(1, 0);
    let mut group = c.benchmark_group("convert_640x480");
    group.throughput(Throughput::Elements(1));
    let stride = WIDTH as usize + 64;
    let (y, uv) = nv12_buffer(&frame, stride);
    group.bench_function("nv12_to_i420", |b| {
        b.iter(|| {
            nv12_to_i420(
                WIDTH,
                HEIGHT,
                PlaneRef { data: &y, stride },
                PlaneRef { data: &uv, stride },
            )
            .unwrap()
        })
    });
    let yuyv = yuyv_buffer(&frame);
    group.bench_function("yuyv_to_i420", |b| {
        b.iter(|| {
            yuyv_to_i420(
                WIDTH,
                HEIGHT,
                PlaneRef {
                    data: &yuyv,
                    stride: 2 * WIDTH as usize,
                },
            )
            .unwrap()
        })
    });
    match mjpeg_buffer(&frame) {
        Some(jpeg) => {
            group.bench_function("mjpeg_to_i420", |b| {
                b.iter(|| mjpeg_to_i420(WIDTH, HEIGHT, black_box(&jpeg)).unwrap())
            });
        }
        None => println!("skipping mjpeg_to_i420: ffmpeg not found (scripts/setup.sh installs it)"),
    }
    group.finish();
}

/// Camera-like frames: the test pattern plus noise of ±8 levels on luma.
fn noisy_frames(width: u32, height: u32) -> Vec<VideoFrame> {
    let pattern = TestPattern::new(width, height).unwrap();
    let mut seed = 1u32;
    (0..NOISY_FRAMES)
        .map(|n| {
            let frame = pattern.frame(n, 0);
            let mut data = frame.data().to_vec();
            for pixel in &mut data[..(width * height) as usize] {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let noise = ((seed >> 16) % 17) as i32 - 8;
                *pixel = (i32::from(*pixel) + noise).clamp(16, 235) as u8;
            }
            VideoFrame::from_bytes(width, height, data.into(), n, 0).unwrap()
        })
        .collect()
}

fn h264(c: &mut Criterion) {
    let mut group = c.benchmark_group("h264_encode");
    group.throughput(Throughput::Elements(1));
    for (width, height, bitrate_bps, name) in [
        (640, 480, 1_000_000, "640x480_1mbps"),
        (1280, 720, 2_500_000, "1280x720_2_5mbps"),
    ] {
        let frames = noisy_frames(width, height);
        let mut encoder = H264Encoder::new(H264EncoderConfig {
            width,
            height,
            bitrate_bps,
            min_bitrate_bps: bitrate_bps / 4,
            max_bitrate_bps: bitrate_bps,
            ..Default::default()
        })
        .unwrap();
        let mut number = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                // A fresh frame number each time keeps rate control's clock moving forward.
                let source = &frames[(number % NOISY_FRAMES) as usize];
                let frame = VideoFrame::from_bytes(width, height, source.data().clone(), number, 0)
                    .unwrap();
                number += 1;
                encoder.encode(&frame).unwrap()
            })
        });
    }
    group.finish();
}

fn opus(c: &mut Criterion) {
    let mut group = c.benchmark_group("opus_20ms");
    group.throughput(Throughput::Elements(1));
    let mut tone = ToneGenerator::new(440.0, 10_000).unwrap();
    let frames: Vec<AudioFrame> = (0..50).map(|_| tone.next_frame()).collect();
    let mut encoder = OpusEncoder::new().unwrap();
    let mut i = 0;
    group.bench_function("encode", |b| {
        b.iter(|| {
            i += 1;
            encoder.encode(&frames[i % frames.len()]).unwrap()
        })
    });
    let packets: Vec<_> = frames.iter().map(|f| encoder.encode(f).unwrap()).collect();
    let mut decoder = OpusDecoder::new().unwrap();
    group.bench_function("decode", |b| {
        b.iter(|| {
            i += 1;
            decoder.decode(&packets[i % packets.len()]).unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = stages;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = conversions, h264, opus
}

/// Seconds of CPU (user + system) this process has used: utime and stime from
/// /proc/self/stat, in USER_HZ ticks (100 per second on Linux).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: the numeric fields start after its closing ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After ')': state is field 3 of the man page, so utime (14) and stime (15) are at 11, 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Nanoseconds this thread has run on a CPU: the first field of /proc/thread-self/schedstat.
fn thread_cpu_nanos() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The pipeline (`record`, unpaced) and the bare encoder on the same frames, from one run.
fn pipeline_vs_encoder(media_seconds: f64) {
    let video = VideoSourceConfig::default();
    let encoder_config = H264EncoderConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pipeline.h264");

    let (Some(before), Some(_)) = (process_cpu_seconds(), thread_cpu_nanos()) else {
        println!("skipping the pipeline figures: /proc/self/stat or /proc/thread-self/schedstat is unreadable");
        return;
    };
    let report = record(
        &video,
        &AudioSourceConfig::default(),
        &encoder_config,
        media_seconds,
        Some(&out),
        None,
        false,
    )
    .unwrap();
    let pipeline_cpu = process_cpu_seconds().unwrap_or(before) - before;

    // The same frames the test source produced, made a second's worth at a time outside the
    // timed part (so reading the clock costs nothing per frame).
    let pattern = TestPattern::new(video.width, video.height).unwrap();
    let mut encoder = H264Encoder::new(encoder_config).unwrap();
    let mut encoder_nanos = 0u64;
    let numbers: Vec<u64> = (0..report.frames_captured).collect();
    for batch in numbers.chunks(video.fps as usize) {
        let frames: Vec<VideoFrame> = batch
            .iter()
            .map(|&n| pattern.frame(n, 1_700_000_000_000 + n * 33))
            .collect();
        let start = thread_cpu_nanos().unwrap_or(0);
        for frame in &frames {
            black_box(encoder.encode(frame).unwrap());
        }
        encoder_nanos += thread_cpu_nanos().unwrap_or(start).saturating_sub(start);
    }
    let encoder_cpu = encoder_nanos as f64 / 1e9;

    println!("\n{report}");
    let per_second = |cpu: f64| cpu / media_seconds * 1000.0;
    println!("RESULT media_seconds {media_seconds:.0} s");
    println!(
        "RESULT pipeline_cpu_per_media_second {:.1} ms/s",
        per_second(pipeline_cpu)
    );
    println!(
        "RESULT encoder_cpu_per_media_second {:.1} ms/s",
        per_second(encoder_cpu)
    );
    if encoder_cpu > 0.0 {
        println!(
            "RESULT pipeline_to_encoder_cpu_ratio {:.2} x",
            pipeline_cpu / encoder_cpu
        );
    }
    println!(
        "RESULT pipeline_wall_per_media_second {:.1} ms/s",
        report.wall_seconds / media_seconds * 1000.0
    );
    println!(
        "RESULT pipeline_mean_encode_ms {:.2} ms",
        report.mean_encode_ms
    );
}

fn main() {
    stages();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes --bench; `cargo test --benches` runs this as a smoke test.
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    pipeline_vs_encoder(if benchmarking { 60.0 } else { 1.0 });
}
