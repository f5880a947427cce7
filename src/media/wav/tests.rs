use std::cell::RefCell;
use std::io::Cursor;
use std::rc::Rc;

use super::*;
use crate::media::frame::FRAME_SAMPLES;

/// A file stand-in whose bytes stay reachable after the writer is forgotten (a "killed" process).
#[derive(Clone, Default)]
struct SharedFile(Rc<RefCell<Cursor<Vec<u8>>>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.0.borrow_mut().seek(pos)
    }
}

impl SharedFile {
    fn bytes(&self) -> Vec<u8> {
        self.0.borrow().get_ref().clone()
    }
}

fn ramp(len: usize) -> Vec<i16> {
    (0..len).map(|i| (i as i16).wrapping_mul(37)).collect()
}

/// Builds a WAV from raw chunks, for inputs the writer would never produce.
fn wav_with_chunks(chunks: &[(&[u8; 4], Vec<u8>, Option<u32>)]) -> Vec<u8> {
    let mut file = b"RIFF\0\0\0\0WAVE".to_vec();
    for (id, body, declared) in chunks {
        file.extend_from_slice(*id);
        file.extend_from_slice(&declared.unwrap_or(body.len() as u32).to_le_bytes());
        file.extend_from_slice(body);
        if body.len() % 2 == 1 && declared.is_none() {
            file.push(0);
        }
    }
    file
}

fn fmt_body(format_tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&format_tag.to_le_bytes());
    body.extend_from_slice(&channels.to_le_bytes());
    body.extend_from_slice(&rate.to_le_bytes());
    body.extend_from_slice(&(rate * u32::from(channels) * u32::from(bits / 8)).to_le_bytes());
    body.extend_from_slice(&(channels * bits / 8).to_le_bytes());
    body.extend_from_slice(&bits.to_le_bytes());
    body
}

fn sample_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[test]
fn written_file_reads_back() {
    let samples = ramp(3 * FRAME_SAMPLES + 100);
    let mut writer = WavWriter::new(Cursor::new(Vec::new()), 48_000, 1).unwrap();
    writer.write_samples(&samples).unwrap();
    assert_eq!(writer.frames_written(), samples.len() as u64);
    let bytes = writer.finish().unwrap().into_inner();
    assert_eq!(bytes.len(), 44 + 2 * samples.len());
    let audio = read_wav(bytes.as_slice()).unwrap();
    assert_eq!(
        audio.format,
        WavFormat {
            sample_rate: 48_000,
            channels: 1
        }
    );
    assert_eq!(audio.samples, samples);
    let frames = audio.into_frames().unwrap();
    assert_eq!(frames.len(), 4);
    assert_eq!(frames[3].samples()[99], samples[samples.len() - 1]);
}

#[test]
fn header_stays_valid_when_the_writer_is_never_finished() {
    let file = SharedFile::default();
    let mut writer =
        WavWriter::with_update_interval(file.clone(), 48_000, 1, 2 * FRAME_SAMPLES as u64).unwrap();
    let samples = ramp(4 * FRAME_SAMPLES);
    for frame in AudioFrame::split(&samples[..3 * FRAME_SAMPLES]) {
        writer.write_frame(&frame).unwrap();
    }
    // Half a frame after the last header update, then the process "dies".
    writer
        .write_samples(&samples[3 * FRAME_SAMPLES..3 * FRAME_SAMPLES + 480])
        .unwrap();
    std::mem::forget(writer);
    let audio = read_wav(file.bytes().as_slice()).unwrap();
    assert_eq!(audio.samples, samples[..3 * FRAME_SAMPLES]);
}

#[test]
fn dropping_an_unfinished_writer_updates_the_header() {
    let file = SharedFile::default();
    let mut writer = WavWriter::new(file.clone(), 48_000, 1).unwrap();
    writer.write_samples(&ramp(100)).unwrap();
    drop(writer);
    assert_eq!(
        read_wav(file.bytes().as_slice()).unwrap().samples,
        ramp(100)
    );
}

#[test]
fn unknown_chunks_are_skipped_and_any_rate_reads() {
    let samples = ramp(10);
    let file = wav_with_chunks(&[
        (b"LIST", vec![1, 2, 3], None),
        (b"fmt ", fmt_body(1, 2, 44_100, 16), None),
        (b"junk", vec![0; 7], None),
        (b"data", sample_bytes(&samples), None),
    ]);
    let audio = read_wav(file.as_slice()).unwrap();
    assert_eq!(
        audio.format,
        WavFormat {
            sample_rate: 44_100,
            channels: 2
        }
    );
    assert_eq!(audio.samples, samples);
    assert!(matches!(
        audio.into_frames(),
        Err(WavError::NotMono48k {
            sample_rate: 44_100,
            channels: 2
        })
    ));
}

#[test]
fn extensible_pcm_is_accepted() {
    let mut body = fmt_body(0xFFFE, 1, 48_000, 16);
    body.extend_from_slice(&22u16.to_le_bytes());
    body.extend_from_slice(&16u16.to_le_bytes());
    body.extend_from_slice(&4u32.to_le_bytes());
    body.extend_from_slice(&[
        1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71,
    ]);
    let file = wav_with_chunks(&[
        (b"fmt ", body, None),
        (b"data", sample_bytes(&[5, 6]), None),
    ]);
    assert_eq!(read_wav(file.as_slice()).unwrap().samples, [5, 6]);
}

#[test]
fn streaming_sizes_read_to_the_end_of_the_file() {
    for declared in [0, u32::MAX, 1000] {
        let file = wav_with_chunks(&[
            (b"fmt ", fmt_body(1, 1, 48_000, 16), None),
            (b"data", sample_bytes(&[1, 2, 3]), Some(declared)),
        ]);
        assert_eq!(
            read_wav(file.as_slice()).unwrap().samples,
            [1, 2, 3],
            "declared {declared}"
        );
    }
}

#[test]
fn bad_files_are_typed_errors() {
    assert!(matches!(
        read_wav(&b"RIFX\0\0\0\0WAVE"[..]),
        Err(WavError::NotWav)
    ));
    assert!(matches!(read_wav(&b"RIFF"[..]), Err(WavError::NotWav)));
    let fmt = || (b"fmt ", fmt_body(1, 1, 48_000, 16), None);
    assert!(matches!(
        read_wav(wav_with_chunks(&[fmt()]).as_slice()),
        Err(WavError::MissingData)
    ));
    assert!(matches!(
        read_wav(wav_with_chunks(&[(b"data", vec![0; 4], None), fmt()]).as_slice()),
        Err(WavError::MissingFormat)
    ));
    assert!(matches!(
        read_wav(wav_with_chunks(&[(b"fmt ", fmt_body(3, 1, 48_000, 32), None)]).as_slice()),
        Err(WavError::UnsupportedEncoding { .. })
    ));
    assert!(matches!(
        read_wav(wav_with_chunks(&[(b"fmt ", fmt_body(1, 1, 48_000, 24), None)]).as_slice()),
        Err(WavError::UnsupportedEncoding { .. })
    ));
    assert!(matches!(
        read_wav(wav_with_chunks(&[(b"fmt ", vec![1, 0, 1, 0], None)]).as_slice()),
        Err(WavError::BadChunk { chunk: "fmt", .. })
    ));
    assert!(matches!(
        read_wav(wav_with_chunks(&[(b"fmt ", vec![], Some(100_000))]).as_slice()),
        Err(WavError::BadChunk { chunk: "fmt", .. })
    ));
    assert!(matches!(
        read_wav(wav_with_chunks(&[fmt(), (b"data", vec![], Some(u32::MAX - 1))]).as_slice()),
        Err(WavError::TooLarge { .. })
    ));
    assert!(matches!(
        WavWriter::new(Cursor::new(Vec::new()), 0, 1),
        Err(WavError::BadParameters { .. })
    ));
}
