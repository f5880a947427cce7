//! WAV files: reading 16-bit PCM (the `wav` audio source) and writing it as a stream (the
//! `wav` audio sink).
//!
//! The writer rewrites the header's sizes every so often, not only at the end, so a file left
//! behind by a killed process still plays up to the last update.

use std::io::{Read, Seek, SeekFrom, Write};

use super::frame::{AudioFrame, SAMPLE_RATE};

/// Largest data chunk we load (about 23 minutes of 48 kHz mono), so a bad size field cannot
/// make us allocate gigabytes.
pub const MAX_DATA_BYTES: u64 = 128 * 1024 * 1024;
/// Largest `fmt ` chunk we accept; real ones are 16, 18 or 40 bytes.
const MAX_FMT_BYTES: u32 = 1024;
const FORMAT_PCM: u16 = 1;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// Header size of the files we write: RIFF, fmt (16 bytes) and data chunk headers.
const HEADER_BYTES: u64 = 44;

/// Why a WAV file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// Reading or writing the underlying file failed.
    #[error("WAV I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with a RIFF/WAVE header.
    #[error("not a WAV file: it does not start with RIFF....WAVE")]
    NotWav,
    /// A chunk is malformed.
    #[error("bad WAV {chunk} chunk: {reason}")]
    BadChunk {
        /// Chunk id.
        chunk: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The file has no `fmt ` chunk before its `data` chunk.
    #[error("WAV file has no fmt chunk before its data")]
    MissingFormat,
    /// The file has no `data` chunk.
    #[error("WAV file has no data chunk")]
    MissingData,
    /// The samples are not 16-bit integer PCM.
    #[error("WAV samples are {description}; only 16-bit integer PCM is supported")]
    UnsupportedEncoding {
        /// What the file holds, e.g. "format 3, 32 bits".
        description: String,
    },
    /// The data chunk is larger than [`MAX_DATA_BYTES`].
    #[error("WAV data chunk of {bytes} bytes is larger than the {MAX_DATA_BYTES}-byte limit")]
    TooLarge {
        /// Size the file declares.
        bytes: u64,
    },
    /// The audio is not 48 kHz mono, the only format the device's frames carry.
    #[error("WAV audio is {sample_rate} Hz with {channels} channel(s); 48000 Hz mono is required (convert with e.g. `ffmpeg -i in.wav -ar 48000 -ac 1 -c:a pcm_s16le out.wav`)")]
    NotMono48k {
        /// Sample rate in the file.
        sample_rate: u32,
        /// Channels in the file.
        channels: u16,
    },
    /// The writer's data would pass the 4 GiB a WAV size field can describe.
    #[error("WAV file would exceed 4 GiB")]
    TooLong,
    /// Writer parameters are unusable.
    #[error("cannot write a WAV file with {sample_rate} Hz and {channels} channel(s)")]
    BadParameters {
        /// Requested sample rate.
        sample_rate: u32,
        /// Requested channels.
        channels: u16,
    },
}

/// The sample format a WAV file declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavFormat {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: u16,
}

/// A whole WAV file in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavAudio {
    /// The file's format.
    pub format: WavFormat,
    /// Samples, channels interleaved.
    pub samples: Vec<i16>,
}

impl WavAudio {
    /// Cuts 48 kHz mono audio into 20 ms frames (the last padded with silence).
    pub fn into_frames(self) -> Result<Vec<AudioFrame>, WavError> {
        let WavFormat {
            sample_rate,
            channels,
        } = self.format;
        if sample_rate != SAMPLE_RATE || channels != 1 {
            return Err(WavError::NotMono48k {
                sample_rate,
                channels,
            });
        }
        Ok(AudioFrame::split(&self.samples))
    }
}

/// Reads a 16-bit PCM WAV file at any rate and channel count, skipping chunks it does not need.
///
/// A data size of 0 or 0xFFFFFFFF (a streaming writer that never finished) means "to the end
/// of the file"; a size larger than what is present reads what is present.
pub fn read_wav(mut reader: impl Read) -> Result<WavAudio, WavError> {
    let mut riff = [0u8; 12];
    reader.read_exact(&mut riff).map_err(|_| WavError::NotWav)?;
    if &riff[..4] != b"RIFF" || &riff[8..] != b"WAVE" {
        return Err(WavError::NotWav);
    }
    let mut format = None;
    loop {
        let mut chunk_header = [0u8; 8];
        if read_up_to(&mut reader, &mut chunk_header)? < 8 {
            return Err(WavError::MissingData);
        }
        let id = [
            chunk_header[0],
            chunk_header[1],
            chunk_header[2],
            chunk_header[3],
        ];
        let size = u32::from_le_bytes([
            chunk_header[4],
            chunk_header[5],
            chunk_header[6],
            chunk_header[7],
        ]);
        match &id {
            b"fmt " => format = Some(read_format(&mut reader, size)?),
            b"data" => {
                let format = format.ok_or(WavError::MissingFormat)?;
                let samples = read_data(&mut reader, size)?;
                return Ok(WavAudio { format, samples });
            }
            _ => skip(&mut reader, u64::from(size) + u64::from(size % 2))?,
        }
    }
}

fn read_format(reader: &mut impl Read, size: u32) -> Result<WavFormat, WavError> {
    if !(16..=MAX_FMT_BYTES).contains(&size) {
        return Err(WavError::BadChunk {
            chunk: "fmt",
            reason: format!("{size} bytes, expected 16 to {MAX_FMT_BYTES}"),
        });
    }
    let mut body = vec![0u8; size as usize + (size % 2) as usize];
    reader
        .read_exact(&mut body)
        .map_err(|_| WavError::BadChunk {
            chunk: "fmt",
            reason: "file ends inside it".into(),
        })?;
    let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
    let mut format_tag = u16_at(0);
    let channels = u16_at(2);
    let sample_rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
    let bits = u16_at(14);
    // WAVE_FORMAT_EXTENSIBLE keeps the real format in the first two bytes of its sub-format GUID.
    if format_tag == FORMAT_EXTENSIBLE && size >= 26 {
        format_tag = u16_at(24);
    }
    if format_tag != FORMAT_PCM || bits != 16 {
        return Err(WavError::UnsupportedEncoding {
            description: format!("format {format_tag}, {bits} bits"),
        });
    }
    if channels == 0 || sample_rate == 0 {
        return Err(WavError::BadChunk {
            chunk: "fmt",
            reason: format!("{channels} channels at {sample_rate} Hz"),
        });
    }
    Ok(WavFormat {
        sample_rate,
        channels,
    })
}

fn read_data(reader: &mut impl Read, size: u32) -> Result<Vec<i16>, WavError> {
    let to_end = size == 0 || size == u32::MAX;
    if !to_end && u64::from(size) > MAX_DATA_BYTES {
        return Err(WavError::TooLarge {
            bytes: u64::from(size),
        });
    }
    let limit = if to_end {
        MAX_DATA_BYTES + 1
    } else {
        u64::from(size)
    };
    let mut bytes = Vec::new();
    reader.take(limit).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_DATA_BYTES {
        return Err(WavError::TooLarge {
            bytes: bytes.len() as u64,
        });
    }
    // A trailing odd byte is half a sample from an interrupted write: dropped.
    Ok(bytes
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect())
}

fn skip(reader: &mut impl Read, bytes: u64) -> Result<(), WavError> {
    std::io::copy(&mut reader.take(bytes), &mut std::io::sink())?;
    Ok(())
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes 16-bit PCM as it comes, keeping the header's sizes valid along the way.
#[derive(Debug)]
pub struct WavWriter<W: Write + Seek> {
    /// `None` only after `finish` moved it out.
    inner: Option<W>,
    format: WavFormat,
    data_bytes: u64,
    /// Data bytes written since the header was last brought up to date.
    bytes_since_update: u64,
    update_every_bytes: u64,
}

impl<W: Write + Seek> WavWriter<W> {
    /// Starts a file; the header is brought up to date after every second of audio.
    pub fn new(inner: W, sample_rate: u32, channels: u16) -> Result<Self, WavError> {
        let one_second = u64::from(sample_rate) * u64::from(channels) * 2;
        Self::with_update_interval(inner, sample_rate, channels, one_second)
    }

    /// Like [`WavWriter::new`], bringing the header up to date every `update_every_bytes` of data.
    pub fn with_update_interval(
        mut inner: W,
        sample_rate: u32,
        channels: u16,
        update_every_bytes: u64,
    ) -> Result<Self, WavError> {
        if sample_rate == 0
            || channels == 0
            || u64::from(sample_rate) * u64::from(channels) * 2 > u64::from(u32::MAX)
        {
            return Err(WavError::BadParameters {
                sample_rate,
                channels,
            });
        }
        let format = WavFormat {
            sample_rate,
            channels,
        };
        inner.write_all(&header(format, 0))?;
        Ok(Self {
            inner: Some(inner),
            format,
            data_bytes: 0,
            bytes_since_update: 0,
            update_every_bytes: update_every_bytes.max(2),
        })
    }

    /// Appends interleaved samples.
    pub fn write_samples(&mut self, samples: &[i16]) -> Result<(), WavError> {
        let added = 2 * samples.len() as u64;
        if HEADER_BYTES - 8 + self.data_bytes + added > u64::from(u32::MAX) {
            return Err(WavError::TooLong);
        }
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.inner_mut()?.write_all(&bytes)?;
        self.data_bytes += added;
        self.bytes_since_update += added;
        if self.bytes_since_update >= self.update_every_bytes {
            self.update_header()?;
        }
        Ok(())
    }

    /// Appends one 20 ms frame.
    pub fn write_frame(&mut self, frame: &AudioFrame) -> Result<(), WavError> {
        self.write_samples(frame.samples())
    }

    /// Samples written so far, per channel.
    pub fn frames_written(&self) -> u64 {
        self.data_bytes / 2 / u64::from(self.format.channels)
    }

    /// Writes the final sizes and hands back the underlying writer.
    pub fn finish(mut self) -> Result<W, WavError> {
        self.update_header()?;
        self.inner.take().ok_or_else(already_finished)
    }

    /// Rewrites the RIFF and data sizes, then returns to the end of the data.
    fn update_header(&mut self) -> Result<(), WavError> {
        let (format, data_bytes) = (self.format, self.data_bytes);
        let inner = self.inner_mut()?;
        // A pad byte would be needed after odd-sized data; ours is always even (whole samples).
        inner.seek(SeekFrom::Start(0))?;
        inner.write_all(&header(format, data_bytes as u32))?;
        inner.seek(SeekFrom::Start(HEADER_BYTES + data_bytes))?;
        inner.flush()?;
        self.bytes_since_update = 0;
        Ok(())
    }

    fn inner_mut(&mut self) -> Result<&mut W, WavError> {
        self.inner.as_mut().ok_or_else(already_finished)
    }
}

fn already_finished() -> WavError {
    WavError::Io(std::io::Error::other("WAV writer already finished"))
}

impl<W: Write + Seek> Drop for WavWriter<W> {
    /// Best effort for a writer dropped without `finish` (e.g. on an error path).
    fn drop(&mut self) {
        if self.inner.is_some() && self.bytes_since_update > 0 {
            let _ = self.update_header();
        }
    }
}

/// The canonical 44-byte PCM header.
fn header(format: WavFormat, data_bytes: u32) -> [u8; HEADER_BYTES as usize] {
    let block_align = format.channels * 2;
    let byte_rate = format.sample_rate * u32::from(block_align);
    let mut h = [0u8; HEADER_BYTES as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(HEADER_BYTES as u32 - 8 + data_bytes).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&FORMAT_PCM.to_le_bytes());
    h[22..24].copy_from_slice(&format.channels.to_le_bytes());
    h[24..28].copy_from_slice(&format.sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

#[cfg(test)]
mod tests;
