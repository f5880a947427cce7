//! The real ALSA code, with no sound card: ALSA's `file` plugin on the `null` plugin reads
//! capture from a raw file and writes playback to one.
//!
//! ALSA reads its configuration once per process, so this binary points it at its own
//! asoundrc (through `XDG_CONFIG_HOME`) before the first ALSA call, and the tests take turns.
#![cfg(feature = "alsa-backend")]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use roombell::media::alsa_backend::{AlsaSink, AlsaSource};
use roombell::media::frame::{AudioFrame, FRAME_SAMPLES, SAMPLE_RATE};
use roombell::media::mixer::mix_frames;
use roombell::media::opus_codec::{OpusDecoder, OpusEncoder};
use roombell::media::source::{
    open_audio_sink, open_audio_source, AudioSink, AudioSinkConfig, AudioSource, AudioSourceConfig,
    SourceError,
};
use roombell::media::tone::{dominant_frequency, goertzel_power, ToneGenerator};

/// One second of 440 Hz, the capture file.
const CAPTURE_FRAMES: usize = 50;

struct Alsa {
    dir: tempfile::TempDir,
    capture_samples: Vec<i16>,
}

impl Alsa {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Writes the asoundrc and the capture file, and points ALSA at them, once per process.
fn alsa() -> (&'static Alsa, MutexGuard<'static, ()>) {
    static ALSA: OnceLock<Alsa> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::new(());
    let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let alsa = ALSA.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut tone = ToneGenerator::new(440.0, 10_000).unwrap();
        let mut capture_samples = vec![0i16; CAPTURE_FRAMES * FRAME_SAMPLES];
        tone.fill(&mut capture_samples);
        let raw: Vec<u8> = capture_samples
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        std::fs::write(dir.path().join("tone440.raw"), raw).unwrap();
        let file = |name: &str| dir.path().join(name).display().to_string();
        let asoundrc = format!(
            r#"
pcm.rbcap {{ type file; slave.pcm "null"; file "/dev/null"; infile "{tone}"; format "raw" }}
pcm.rbplay {{ type file; slave.pcm "null"; file "{play}"; format "raw" }}
pcm.rbmix {{ type file; slave.pcm "null"; file "{mix}"; format "raw" }}
"#,
            tone = file("tone440.raw"),
            play = file("play.raw"),
            mix = file("mix.raw"),
        );
        std::fs::create_dir_all(dir.path().join("alsa")).unwrap();
        std::fs::write(dir.path().join("alsa/asoundrc"), asoundrc).unwrap();
        // Before any ALSA call, and while holding the turn, so no other test thread is
        // inside ALSA reading the environment.
        std::env::set_var("XDG_CONFIG_HOME", dir.path());
        Alsa {
            dir,
            capture_samples,
        }
    });
    (alsa, turn)
}

fn read_raw(path: &Path) -> Vec<i16> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect()
}

#[test]
fn capture_encode_decode_play_keeps_the_tone() {
    let (alsa, _turn) = alsa();
    let mut source = AlsaSource::open("rbcap").expect("capture PCM");
    let mut sink = AlsaSink::open("rbplay").expect("playback PCM");
    let mut encoder = OpusEncoder::new().unwrap();
    let mut decoder = OpusDecoder::new().unwrap();
    let started = Instant::now();
    let mut captured = Vec::new();
    for _ in 0..CAPTURE_FRAMES {
        let frame = source.read_frame().unwrap();
        captured.extend_from_slice(frame.samples());
        let packet = encoder.encode(&frame).unwrap();
        sink.write_frame(&decoder.decode(&packet).unwrap()).unwrap();
    }
    sink.finish().unwrap();
    let elapsed = started.elapsed();

    // Capture is bit-exact through ALSA.
    assert_eq!(captured, alsa.capture_samples);
    // The null plugin keeps no time: capture noticed and paced one second of audio. The
    // sink, fed in real time, had no reason to.
    assert!(
        source.describe().contains("paced by timer"),
        "{}",
        source.describe()
    );
    assert!(
        !sink.describe().contains("paced by timer"),
        "{}",
        sink.describe()
    );
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_secs(5),
        "one second of audio took {elapsed:?}"
    );
    assert_eq!((source.xruns(), sink.xruns()), (0, 0));
    drop(sink);

    let played = read_raw(&alsa.path("play.raw"));
    assert_eq!(played.len(), CAPTURE_FRAMES * FRAME_SAMPLES);
    let hz = dominant_frequency(&played[FRAME_SAMPLES..], SAMPLE_RATE);
    assert!((hz - 440.0).abs() <= 4.4, "played {hz} Hz, captured 440 Hz");
}

#[test]
fn two_talkers_mixed_are_both_heard() {
    let (alsa, _turn) = alsa();
    let config = AudioSinkConfig {
        backend: "alsa".into(),
        device: "rbmix".into(),
        file: None,
    };
    let mut sink = open_audio_sink(&config).expect("playback PCM through the name table");
    let started = Instant::now();
    let mut talkers: Vec<(ToneGenerator, OpusEncoder, OpusDecoder)> = [440.0, 1000.0]
        .into_iter()
        .map(|hz| {
            (
                ToneGenerator::new(hz, 8_000).unwrap(),
                OpusEncoder::new().unwrap(),
                OpusDecoder::new().unwrap(),
            )
        })
        .collect();
    for _ in 0..25 {
        let frames: Vec<AudioFrame> = talkers
            .iter_mut()
            .map(|(tone, encoder, decoder)| {
                let packet = encoder.encode(&tone.next_frame()).unwrap();
                decoder.decode(&packet).unwrap()
            })
            .collect();
        sink.write_frame(&mix_frames(&frames)).unwrap();
    }
    sink.finish().unwrap();
    // Fed as fast as we could mix, the sink noticed the device keeps no time and paced the
    // half second like a sound card with an 80 ms buffer would.
    assert!(
        sink.describe().contains("paced by timer"),
        "{}",
        sink.describe()
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(380),
        "half a second took {elapsed:?}"
    );
    drop(sink);

    let played = read_raw(&alsa.path("mix.raw"));
    let tail = &played[played.len() / 2..];
    let at = |hz| goertzel_power(tail, SAMPLE_RATE, hz);
    let (p440, p1000, p700) = (at(440.0), at(1000.0), at(700.0));
    assert!(
        p440 > 100.0 * p700 && p1000 > 100.0 * p700,
        "440 Hz {p440:.3e}, 1000 Hz {p1000:.3e}, 700 Hz (absent) {p700:.3e}"
    );
}

#[test]
fn missing_pcm_is_a_typed_error_listing_pcms() {
    let (_alsa, _turn) = alsa();
    let config = AudioSourceConfig {
        backend: "alsa".into(),
        device: "rb_no_such_pcm".into(),
        ..Default::default()
    };
    let error = open_audio_source(&config).err().expect("must fail");
    assert!(
        matches!(error, SourceError::NoSuchDevice { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("\"rb_no_such_pcm\" does not exist"),
        "{message}"
    );
    let error = AlsaSink::open("bad\0name").err().expect("must fail");
    assert!(error.to_string().contains("speaker.device"), "{error}");
}

#[test]
fn list_pcms_includes_the_null_plugin() {
    let (_alsa, _turn) = alsa();
    let pcms = roombell::media::alsa_backend::list_pcms().unwrap();
    assert!(
        pcms.iter().any(|pcm| pcm.name == "null" && pcm.playback),
        "{pcms:?}"
    );
}
