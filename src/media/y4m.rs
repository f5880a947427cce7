//! YUV4MPEG2 (`.y4m`) reader for the `y4m` video source: 4:2:0 8-bit files, looped.
//!
//! Format: one header line `YUV4MPEG2 W.. H.. F..:.. [I.] [A..:..] [C...] [X...]`, then per
//! frame a line `FRAME[ params]` followed by the raw planes (Y, Cb, Cr). Unknown tags and frame
//! parameters are ignored, as the format asks.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::time::Duration;

use super::frame::{FrameError, I420Image, I420Layout, VideoFrame};

/// Longest header or FRAME line we read, so a file without newlines cannot eat memory.
const MAX_LINE: u64 = 4096;
const MAGIC: &[u8] = b"YUV4MPEG2";
/// Chroma tags whose plane layout is exactly I420 (they differ only in chroma siting).
const ACCEPTED_COLORSPACES: [&str; 4] = ["420jpeg", "420paldv", "420", "420mpeg2"];

/// Why a Y4M file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Y4mError {
    /// Reading the underlying file failed.
    #[error("reading the Y4M file failed: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with `YUV4MPEG2`.
    #[error("not a Y4M file: it does not start with \"YUV4MPEG2 \"")]
    NotY4m,
    /// A header or FRAME line has no newline within the first few kilobytes.
    #[error("Y4M {what} line is longer than {MAX_LINE} bytes or not terminated")]
    LineTooLong {
        /// "header" or "FRAME".
        what: &'static str,
    },
    /// A header tag that must be present is missing.
    #[error("Y4M header lacks the {tag} tag")]
    MissingTag {
        /// The tag letter (`W`, `H` or `F`).
        tag: char,
    },
    /// A header tag has a value we cannot use.
    #[error("Y4M header tag {tag}{value:?} is invalid: {expected}")]
    BadTag {
        /// The tag letter.
        tag: char,
        /// The value after the letter.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// The chroma format is not 8-bit 4:2:0.
    #[error(
        "Y4M colour space C{0} is not supported; accepted: C420jpeg, C420paldv, C420, C420mpeg2"
    )]
    UnsupportedColorspace(String),
    /// The picture size is not allowed.
    #[error(transparent)]
    Size(#[from] FrameError),
    /// Something other than a FRAME line where a frame should start.
    #[error("Y4M frame {frame_index} does not start with FRAME")]
    BadFrameHeader {
        /// Index of the frame in the file, from 0.
        frame_index: u64,
    },
    /// The file ends inside a frame.
    #[error("Y4M frame {frame_index} is truncated: {actual} of {expected} bytes")]
    TruncatedFrame {
        /// Index of the frame in the file, from 0.
        frame_index: u64,
        /// Bytes a frame takes.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// Looping was asked of a file that holds no frame.
    #[error("the Y4M file has no frames")]
    NoFrames,
}

/// What the header line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Y4mHeader {
    /// Picture size.
    pub layout: I420Layout,
    /// Frames per second as numerator and denominator (`F30000:1001` is 29.97 fps).
    pub frame_rate: (u32, u32),
    /// Pixel aspect ratio (`A`), `(0, 0)` when unknown or absent.
    pub pixel_aspect: (u32, u32),
    /// Interlacing (`I`): `p`, `t`, `b`, `m` or `?`; `p` when absent.
    pub interlace: char,
    /// Chroma tag without the `C`, e.g. `420jpeg` (the default when absent).
    pub colorspace: String,
}

impl Y4mHeader {
    /// Time between frames.
    pub fn frame_interval(&self) -> Duration {
        let (num, den) = self.frame_rate;
        Duration::from_nanos(1_000_000_000 * u64::from(den) / u64::from(num))
    }
}

/// Reads frames from a Y4M file, and starts over at its end when looping.
#[derive(Debug)]
pub struct Y4mReader<R> {
    reader: BufReader<R>,
    header: Y4mHeader,
    /// Offset of the first FRAME line, where `rewind` goes back to.
    data_start: u64,
    /// Index in the file of the next frame to read.
    frame_index: u64,
    /// Frames handed out by `next_frame_looping`, across loops.
    frames_emitted: u64,
}

impl<R: Read + Seek> Y4mReader<R> {
    /// Reads and checks the header.
    pub fn new(inner: R) -> Result<Self, Y4mError> {
        let mut reader = BufReader::new(inner);
        let line = read_line(&mut reader, "header")?.ok_or(Y4mError::NotY4m)?;
        let header = parse_header(&line)?;
        let data_start = line.len() as u64 + 1;
        Ok(Self {
            reader,
            header,
            data_start,
            frame_index: 0,
            frames_emitted: 0,
        })
    }

    /// The parsed header.
    pub fn header(&self) -> &Y4mHeader {
        &self.header
    }

    /// Reads the next frame's picture; `None` at the end of the file.
    pub fn read_image(&mut self) -> Result<Option<I420Image>, Y4mError> {
        let frame_index = self.frame_index;
        let Some(line) = read_line(&mut self.reader, "FRAME")? else {
            return Ok(None);
        };
        // `FRAME` alone or followed by space-separated parameters, which we ignore.
        if !(line == b"FRAME" || line.starts_with(b"FRAME ")) {
            return Err(Y4mError::BadFrameHeader { frame_index });
        }
        let layout = self.header.layout;
        let mut data = vec![0u8; layout.total_len()];
        let actual = read_full(&mut self.reader, &mut data)?;
        if actual < data.len() {
            return Err(Y4mError::TruncatedFrame {
                frame_index,
                expected: data.len(),
                actual,
            });
        }
        self.frame_index += 1;
        Ok(Some(I420Image::from_vec(
            layout.width(),
            layout.height(),
            data,
        )?))
    }

    /// Goes back to the first frame.
    pub fn rewind(&mut self) -> Result<(), Y4mError> {
        self.reader.seek(SeekFrom::Start(self.data_start))?;
        self.frame_index = 0;
        Ok(())
    }

    /// The next frame, starting over after the last; frame numbers keep counting across loops.
    pub fn next_frame_looping(&mut self, capture_unix_ms: u64) -> Result<VideoFrame, Y4mError> {
        let image = match self.read_image()? {
            Some(image) => image,
            None => {
                self.rewind()?;
                self.read_image()?.ok_or(Y4mError::NoFrames)?
            }
        };
        let frame_number = self.frames_emitted;
        self.frames_emitted += 1;
        Ok(image.into_frame(frame_number, capture_unix_ms))
    }
}

/// Reads one line without its `\n`; `None` at a clean end of file.
fn read_line(reader: &mut impl BufRead, what: &'static str) -> Result<Option<Vec<u8>>, Y4mError> {
    let mut line = Vec::new();
    reader.take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.pop() != Some(b'\n') {
        return Err(Y4mError::LineTooLong { what });
    }
    Ok(Some(line))
}

/// Fills `buf` as far as the input allows; returns how many bytes were read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
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

fn parse_header(line: &[u8]) -> Result<Y4mHeader, Y4mError> {
    let rest = line.strip_prefix(MAGIC).ok_or(Y4mError::NotY4m)?;
    if !(rest.is_empty() || rest.starts_with(b" ")) {
        return Err(Y4mError::NotY4m);
    }
    let text = String::from_utf8_lossy(rest);
    let (mut width, mut height, mut frame_rate) = (None, None, None);
    let mut pixel_aspect = (0, 0);
    let mut interlace = 'p';
    let mut colorspace = "420jpeg".to_string();
    for field in text.split(' ').filter(|f| !f.is_empty()) {
        let mut chars = field.chars();
        let Some(tag) = chars.next() else { continue };
        let value = chars.as_str();
        let bad = |expected| Y4mError::BadTag {
            tag,
            value: value.to_string(),
            expected,
        };
        match tag {
            'W' => width = Some(value.parse::<u32>().map_err(|_| bad("a width in pixels"))?),
            'H' => {
                height = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| bad("a height in pixels"))?,
                )
            }
            'F' => {
                let rate = parse_ratio(value).ok_or_else(|| bad("a frame rate like 30:1"))?;
                if rate.0 == 0 || rate.1 == 0 {
                    return Err(bad("a frame rate with non-zero parts, like 30:1"));
                }
                frame_rate = Some(rate);
            }
            'A' => pixel_aspect = parse_ratio(value).ok_or_else(|| bad("an aspect like 1:1"))?,
            'I' => {
                interlace = match value {
                    "p" | "t" | "b" | "m" | "?" => value.chars().next().unwrap_or('p'),
                    _ => return Err(bad("one of p, t, b, m, ?")),
                }
            }
            'C' => {
                if !ACCEPTED_COLORSPACES.contains(&value) {
                    return Err(Y4mError::UnsupportedColorspace(value.to_string()));
                }
                colorspace = value.to_string();
            }
            // X (comments) and tags from later versions of the format are ignored.
            _ => {}
        }
    }
    let width = width.ok_or(Y4mError::MissingTag { tag: 'W' })?;
    let height = height.ok_or(Y4mError::MissingTag { tag: 'H' })?;
    let frame_rate = frame_rate.ok_or(Y4mError::MissingTag { tag: 'F' })?;
    Ok(Y4mHeader {
        layout: I420Layout::new(width, height)?,
        frame_rate,
        pixel_aspect,
        interlace,
        colorspace,
    })
}

fn parse_ratio(value: &str) -> Option<(u32, u32)> {
    let (num, den) = value.split_once(':')?;
    Some((num.parse().ok()?, den.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A 5x3 file (odd size: 15 luma + 2 * 6 chroma bytes) whose frame `i` is filled with `i`.
    fn y4m(header: &str, frames: usize) -> Vec<u8> {
        let mut file = format!("{header}\n").into_bytes();
        for i in 0..frames {
            file.extend_from_slice(if i == 1 {
                b"FRAME Ixyz XTAG=1\n"
            } else {
                b"FRAME\n"
            });
            file.extend(std::iter::repeat_n(i as u8, 27));
        }
        file
    }

    const HEADER: &str = "YUV4MPEG2 W5 H3 F30000:1001 Ip A1:1 C420mpeg2 XYSCSS=420MPEG2";

    #[test]
    fn reads_header_and_frames() {
        let mut reader = Y4mReader::new(Cursor::new(y4m(HEADER, 3))).unwrap();
        let header = reader.header().clone();
        assert_eq!((header.layout.width(), header.layout.height()), (5, 3));
        assert_eq!(header.frame_rate, (30000, 1001));
        assert_eq!(header.frame_interval(), Duration::from_nanos(33_366_666));
        assert_eq!((header.pixel_aspect, header.interlace), ((1, 1), 'p'));
        for i in 0..3u8 {
            let image = reader.read_image().unwrap().unwrap();
            assert!(image.as_bytes().iter().all(|&b| b == i));
        }
        assert!(reader.read_image().unwrap().is_none());
    }

    #[test]
    fn loops_and_keeps_counting() {
        let mut reader = Y4mReader::new(Cursor::new(y4m("YUV4MPEG2 W5 H3 F25:1", 2))).unwrap();
        assert_eq!(reader.header().colorspace, "420jpeg");
        let frames: Vec<_> = (0..5)
            .map(|n| reader.next_frame_looping(1000 + n).unwrap())
            .collect();
        let firsts: Vec<u8> = frames.iter().map(|f| f.y_plane()[0]).collect();
        assert_eq!(firsts, [0, 1, 0, 1, 0]);
        assert_eq!(frames[4].frame_number(), 4);
        assert_eq!(frames[4].capture_unix_ms(), 1004);
    }

    #[test]
    fn bad_headers_are_typed_errors() {
        let open = |text: &str| Y4mReader::new(Cursor::new(y4m(text, 1))).map(|_| ());
        assert!(matches!(
            open("YUV4MPEG W5 H3 F25:1"),
            Err(Y4mError::NotY4m)
        ));
        assert!(matches!(
            open("YUV4MPEG2X W5 H3 F25:1"),
            Err(Y4mError::NotY4m)
        ));
        assert!(matches!(
            open("YUV4MPEG2 H3 F25:1"),
            Err(Y4mError::MissingTag { tag: 'W' })
        ));
        assert!(matches!(
            open("YUV4MPEG2 W5 H3"),
            Err(Y4mError::MissingTag { tag: 'F' })
        ));
        assert!(matches!(
            open("YUV4MPEG2 W5 H3 F25:0"),
            Err(Y4mError::BadTag { tag: 'F', .. })
        ));
        assert!(matches!(
            open("YUV4MPEG2 Wfive H3 F25:1"),
            Err(Y4mError::BadTag { tag: 'W', .. })
        ));
        assert!(matches!(
            open("YUV4MPEG2 W0 H3 F25:1"),
            Err(Y4mError::Size(_))
        ));
        assert!(matches!(
            open("YUV4MPEG2 W5 H3 F25:1 C444"),
            Err(Y4mError::UnsupportedColorspace(c)) if c == "444"
        ));
        assert!(matches!(
            open("YUV4MPEG2 W5 H3 F25:1 C420p10"),
            Err(Y4mError::UnsupportedColorspace(_))
        ));
        let endless = vec![b'Y'; 10_000];
        assert!(matches!(
            Y4mReader::new(Cursor::new(endless)),
            Err(Y4mError::LineTooLong { .. })
        ));
        assert!(matches!(
            Y4mReader::new(Cursor::new(Vec::new())),
            Err(Y4mError::NotY4m)
        ));
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        let mut file = y4m(HEADER, 3);
        file.truncate(file.len() - 4);
        let mut reader = Y4mReader::new(Cursor::new(file)).unwrap();
        reader.read_image().unwrap();
        reader.read_image().unwrap();
        assert!(matches!(
            reader.read_image(),
            Err(Y4mError::TruncatedFrame {
                frame_index: 2,
                expected: 27,
                actual: 23
            })
        ));

        let mut file = y4m(HEADER, 1);
        file.extend_from_slice(b"FRAMX\n");
        let mut reader = Y4mReader::new(Cursor::new(file)).unwrap();
        reader.read_image().unwrap();
        assert!(matches!(
            reader.read_image(),
            Err(Y4mError::BadFrameHeader { frame_index: 1 })
        ));

        let mut reader = Y4mReader::new(Cursor::new(y4m(HEADER, 0))).unwrap();
        assert!(matches!(
            reader.next_frame_looping(0),
            Err(Y4mError::NoFrames)
        ));
    }
}
