//! The V4L2 device itself: opening by path or card name, negotiation against what the
//! driver offers, mmap streaming and conversion to I420.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use v4l::buffer::{Flags as BufferFlags, Type};
use v4l::format::FourCC;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream as MmapStream;
use v4l::io::traits::CaptureStream;
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format};

use super::{choose_format, CameraFormat, CameraInfo, Choice, FourCc, OfferedMode, Wanted};
use crate::media::convert::{mjpeg_to_i420, nv12_contiguous_to_i420, yuyv_to_i420, PlaneRef};
use crate::media::frame::VideoFrame;
use crate::media::pacing::unix_ms;
use crate::media::source::{SourceError, VideoSource, VideoSourceConfig};

/// Buffers the driver fills in turn: enough to ride out a late dequeue, few enough that the
/// frame we get is recent.
const BUFFERS: u32 = 4;
/// A camera that delivers nothing for this long is considered gone.
const DEQUEUE_TIMEOUT: Duration = Duration::from_secs(2);
/// Corrupt frames (a JPEG cut short, a buffer flagged bad) are skipped, but this many in a
/// row means the camera is broken.
const MAX_BAD_FRAMES_IN_A_ROW: u32 = 30;

/// A V4L2 camera streaming through mmap buffers.
pub struct V4l2Source {
    stream: MmapStream<'static>,
    path: PathBuf,
    card: String,
    choice: Choice,
    /// Bytes per row of the captured buffer (`bytesperline`).
    stride: usize,
    next_number: u64,
    bad_frames: u64,
}

/// Opens the `v4l2` video source.
pub fn open(config: &VideoSourceConfig) -> Result<Box<dyn VideoSource>, SourceError> {
    Ok(Box::new(V4l2Source::open(config)?))
}

impl V4l2Source {
    /// Opens the camera named by `config.device` (a path or a card name), negotiates the
    /// format and prepares streaming.
    pub fn open(config: &VideoSourceConfig) -> Result<Self, SourceError> {
        config.validate()?;
        let path = resolve(&config.device)?;
        let shown = path.display().to_string();
        let device = Device::with_path(&path).map_err(|e| open_error(&shown, e))?;
        let want = Wanted {
            width: config.width,
            height: config.height,
            fps: config.fps,
        };
        let (modes, _) = offered_modes(&device, Some(want));
        let choice = choose_format(&modes, want).map_err(|e| match e {
            SourceError::UnsupportedFormat {
                wanted, offered, ..
            } => SourceError::UnsupportedFormat {
                device: shown.clone(),
                wanted,
                offered,
            },
            other => other,
        })?;
        let requested = Format::new(choice.width, choice.height, FourCC::new(&choice.fourcc.0));
        let format = device
            .set_format(&requested)
            .map_err(|e| open_error(&shown, e))?;
        if (format.width, format.height, format.fourcc.repr)
            != (choice.width, choice.height, choice.fourcc.0)
        {
            return Err(SourceError::UnsupportedSize {
                requested: format!("{} {}x{}", choice.fourcc, choice.width, choice.height),
                offered: vec![format!(
                    "{} {}x{} (what the driver set instead)",
                    FourCc(format.fourcc.repr),
                    format.width,
                    format.height
                )],
            });
        }
        if let Err(e) = device.set_params(&Parameters::with_fps(choice.fps)) {
            // Some drivers have a fixed rate; frames still come, at their pace.
            tracing::warn!(device = %shown, error = %e, fps = choice.fps, "cannot set the camera's frame rate");
        }
        let stride = format.stride as usize;
        let mut stream = MmapStream::with_buffers(&device, Type::VideoCapture, BUFFERS)
            .map_err(|e| open_error(&shown, e))?;
        stream.set_timeout(DEQUEUE_TIMEOUT);
        let card = card_name(&path).unwrap_or_default();
        tracing::info!(device = %shown, card = %card, format = %choice.fourcc, width = choice.width, height = choice.height, fps = choice.fps, "camera negotiated");
        Ok(Self {
            stream,
            path,
            card,
            choice,
            stride,
            next_number: 0,
            bad_frames: 0,
        })
    }

    /// Frames skipped because the camera delivered them corrupt.
    pub fn bad_frames(&self) -> u64 {
        self.bad_frames
    }
}

impl VideoSource for V4l2Source {
    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        let shown = self.path.display().to_string();
        let mut bad_in_a_row = 0;
        loop {
            let (buffer, meta) =
                CaptureStream::next(&mut self.stream).map_err(|e| stream_error(&shown, e))?;
            let captured = unix_ms();
            // Some drivers leave `bytesused` at 0 for fixed-size formats.
            let used = match meta.bytesused as usize {
                0 => buffer.len(),
                n => n.min(buffer.len()),
            };
            let data = &buffer[..used];
            let (width, height) = (self.choice.width, self.choice.height);
            let converted = if meta.flags.contains(BufferFlags::ERROR) {
                None
            } else {
                let result = match self.choice.format {
                    CameraFormat::Nv12 => nv12_contiguous_to_i420(width, height, data, self.stride),
                    CameraFormat::Yuyv => yuyv_to_i420(
                        width,
                        height,
                        PlaneRef {
                            data,
                            stride: self.stride,
                        },
                    ),
                    CameraFormat::Mjpeg => mjpeg_to_i420(width, height, data),
                };
                match result {
                    Ok(image) => Some(image),
                    Err(e) if bad_in_a_row + 1 >= MAX_BAD_FRAMES_IN_A_ROW => return Err(e.into()),
                    Err(e) => {
                        tracing::debug!(device = %shown, error = %e, "skipping a corrupt camera frame");
                        None
                    }
                }
            };
            match converted {
                Some(image) => {
                    let frame = image.into_frame(self.next_number, captured);
                    self.next_number += 1;
                    return Ok(frame);
                }
                None => {
                    self.bad_frames += 1;
                    bad_in_a_row += 1;
                    if bad_in_a_row >= MAX_BAD_FRAMES_IN_A_ROW {
                        return Err(SourceError::Device {
                            device: shown,
                            message: format!(
                                "{bad_in_a_row} corrupt frames in a row; check the cable and the camera"
                            ),
                        });
                    }
                }
            }
        }
    }

    fn size(&self) -> (u32, u32) {
        (self.choice.width, self.choice.height)
    }

    fn fps(&self) -> u32 {
        self.choice.fps
    }

    fn describe(&self) -> String {
        format!(
            "v4l2 {} \"{}\" {} {}x{}@{}",
            self.path.display(),
            self.card,
            self.choice.fourcc,
            self.choice.width,
            self.choice.height,
            self.choice.fps
        )
    }
}

/// `/dev/videoN` nodes, in number order.
fn video_nodes() -> Vec<PathBuf> {
    let mut nodes: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let number = name.to_str()?.strip_prefix("video")?.parse().ok()?;
            Some((number, entry.path()))
        })
        .collect();
    nodes.sort();
    nodes.into_iter().map(|(_, path)| path).collect()
}

/// The card name the driver publishes in sysfs.
fn card_name(path: &Path) -> Option<String> {
    let node = path.file_name()?.to_str()?;
    std::fs::read_to_string(format!("/sys/class/video4linux/{node}/name"))
        .ok()
        .map(|name| name.trim().to_owned())
}

fn existing_nodes_hint() -> String {
    let nodes: Vec<String> = video_nodes()
        .iter()
        .map(|path| match card_name(path) {
            Some(card) => format!("{} \"{card}\"", path.display()),
            None => path.display().to_string(),
        })
        .collect();
    if nodes.is_empty() {
        "no /dev/video* device exists: is the camera plugged in and its driver loaded?".into()
    } else {
        format!("cameras present: {}", nodes.join(", "))
    }
}

/// A path is used as it is; anything else is matched against card names, exactly first,
/// then as a unique case-insensitive part of one.
fn resolve(device: &str) -> Result<PathBuf, SourceError> {
    if device.starts_with('/') {
        return Ok(PathBuf::from(device));
    }
    let cards: Vec<(PathBuf, String)> = video_nodes()
        .into_iter()
        .filter_map(|path| card_name(&path).map(|card| (path, card)))
        .collect();
    if let Some((path, _)) = cards.iter().find(|(_, card)| card == device) {
        return Ok(path.clone());
    }
    let wanted = device.to_lowercase();
    let partial: Vec<&PathBuf> = cards
        .iter()
        .filter(|(_, card)| card.to_lowercase().contains(&wanted))
        .map(|(path, _)| path)
        .collect();
    // A UVC camera has two nodes with the same card name; the first is the capture one.
    match partial.first() {
        Some(path) => Ok((*path).clone()),
        None => Err(SourceError::NoSuchDevice {
            device: format!("camera \"{device}\""),
            hint: existing_nodes_hint(),
        }),
    }
}

fn open_error(device: &str, error: io::Error) -> SourceError {
    match error.raw_os_error() {
        Some(libc_errno::ENOENT) | Some(libc_errno::ENODEV) | Some(libc_errno::ENXIO) => {
            SourceError::NoSuchDevice {
                device: device.to_owned(),
                hint: existing_nodes_hint(),
            }
        }
        Some(libc_errno::EBUSY) => SourceError::Busy {
            device: device.to_owned(),
        },
        Some(libc_errno::EACCES) | Some(libc_errno::EPERM) => SourceError::PermissionDenied {
            device: device.to_owned(),
            group: "video",
        },
        _ => SourceError::Io {
            what: format!("cannot set up camera {device}"),
            source: error,
        },
    }
}

fn stream_error(device: &str, error: io::Error) -> SourceError {
    if error.kind() == io::ErrorKind::TimedOut {
        return SourceError::Device {
            device: device.to_owned(),
            message: format!(
                "no frame for {} s: the camera stopped delivering",
                DEQUEUE_TIMEOUT.as_secs()
            ),
        };
    }
    match error.raw_os_error() {
        Some(libc_errno::ENODEV) => SourceError::Device {
            device: device.to_owned(),
            message: "the camera went away (unplugged?)".into(),
        },
        _ => open_error(device, error),
    }
}

/// Error numbers we tell apart, as Linux defines them (std exposes no names for them).
mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ENXIO: i32 = 6;
    pub const EACCES: i32 = 13;
    pub const EBUSY: i32 = 16;
    pub const ENODEV: i32 = 19;
}

/// Frame rates offered for one format and size; a continuous range contributes the wanted
/// rate when it lies inside, and its bounds otherwise.
fn frame_rates(
    device: &Device,
    fourcc: FourCC,
    width: u32,
    height: u32,
    want: Option<u32>,
) -> Vec<u32> {
    let per_second = |numerator: u32, denominator: u32| -> Option<u32> {
        (numerator > 0).then(|| (f64::from(denominator) / f64::from(numerator)).round() as u32)
    };
    let mut rates = Vec::new();
    for interval in device
        .enum_frameintervals(fourcc, width, height)
        .unwrap_or_default()
    {
        match interval.interval {
            FrameIntervalEnum::Discrete(fraction) => {
                rates.extend(per_second(fraction.numerator, fraction.denominator));
            }
            FrameIntervalEnum::Stepwise(range) => {
                // The shortest interval is the highest rate.
                let fastest = per_second(range.min.numerator, range.min.denominator);
                let slowest = per_second(range.max.numerator, range.max.denominator);
                if let (Some(fastest), Some(slowest), Some(want)) = (fastest, slowest, want) {
                    if (slowest..=fastest).contains(&want) {
                        rates.push(want);
                    }
                }
                rates.extend(fastest);
                rates.extend(slowest);
            }
        }
    }
    rates.retain(|&fps| fps > 0);
    rates.sort_unstable_by(|a, b| b.cmp(a));
    rates.dedup();
    rates
}

/// Discrete modes offered, plus the wanted size when it falls inside a size range.
fn offered_modes(device: &Device, want: Option<Wanted>) -> (Vec<OfferedMode>, Vec<String>) {
    let mut modes = Vec::new();
    let mut ranges = Vec::new();
    for description in device.enum_formats().unwrap_or_default() {
        let fourcc = description.fourcc;
        let ours = FourCc(fourcc.repr);
        for size in device.enum_framesizes(fourcc).unwrap_or_default() {
            match size.size {
                FrameSizeEnum::Discrete(discrete) => modes.push(OfferedMode {
                    fourcc: ours,
                    width: discrete.width,
                    height: discrete.height,
                    fps: frame_rates(
                        device,
                        fourcc,
                        discrete.width,
                        discrete.height,
                        want.map(|w| w.fps),
                    ),
                }),
                FrameSizeEnum::Stepwise(range) => {
                    ranges.push(format!(
                        "{ours} any size from {}x{} to {}x{} in steps of {}x{}",
                        range.min_width,
                        range.min_height,
                        range.max_width,
                        range.max_height,
                        range.step_width,
                        range.step_height
                    ));
                    let fits = |value: u32, min: u32, max: u32, step: u32| {
                        (min..=max).contains(&value) && (value - min) % step.max(1) == 0
                    };
                    if let Some(want) = want {
                        if fits(
                            want.width,
                            range.min_width,
                            range.max_width,
                            range.step_width,
                        ) && fits(
                            want.height,
                            range.min_height,
                            range.max_height,
                            range.step_height,
                        ) {
                            modes.push(OfferedMode {
                                fourcc: ours,
                                width: want.width,
                                height: want.height,
                                fps: frame_rates(
                                    device,
                                    fourcc,
                                    want.width,
                                    want.height,
                                    Some(want.fps),
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    (modes, ranges)
}

/// Every capture node with its modes.
pub(super) fn list() -> Vec<CameraInfo> {
    video_nodes()
        .into_iter()
        .filter_map(|path| {
            let device = Device::with_path(&path).ok()?;
            let (modes, ranges) = offered_modes(&device, None);
            if modes.is_empty() && ranges.is_empty() {
                return None;
            }
            Some(CameraInfo {
                card: card_name(&path).unwrap_or_default(),
                path,
                modes,
                ranges,
            })
        })
        .collect()
}
