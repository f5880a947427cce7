//! The `v4l2` video source: a camera through Video4Linux2, mmap streaming, converted to I420.
//!
//! Negotiation ([`choose_format`]) is pure and tested with made-up format lists (these
//! machines have no camera). The device part is compiled only with the `v4l2` cargo feature.
//!
//! Format preference at the configured size: NV12 (already 4:2:0, just a copy), then YUYV
//! (chroma averaged), then MJPEG (a JPEG decode per frame, the most CPU). A format that offers
//! the configured frame rate beats a better format that does not: smooth video matters more
//! than a cheaper conversion.

use std::cmp::Reverse;
use std::fmt;
use std::path::PathBuf;

use super::source::SourceError;

/// A V4L2 pixel format code such as `NV12`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// Y plane then interleaved UV, 4:2:0.
    pub const NV12: Self = Self(*b"NV12");
    /// Packed Y0 U Y1 V, 4:2:2.
    pub const YUYV: Self = Self(*b"YUYV");
    /// Motion JPEG.
    pub const MJPG: Self = Self(*b"MJPG");
    /// Plain JPEG, which some cameras report instead of MJPG for the same stream.
    pub const JPEG: Self = Self(*b"JPEG");
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            let shown = if byte.is_ascii_graphic() {
                byte as char
            } else {
                '?'
            };
            write!(f, "{shown}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCc({self})")
    }
}

/// The camera formats we convert, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CameraFormat {
    /// NV12: a copy and a de-interleave.
    Nv12,
    /// YUYV: vertical chroma averaging.
    Yuyv,
    /// MJPEG: a JPEG decode.
    Mjpeg,
}

impl CameraFormat {
    /// The format a FourCC denotes, if we convert it.
    pub fn from_fourcc(fourcc: FourCc) -> Option<Self> {
        match fourcc {
            FourCc::NV12 => Some(Self::Nv12),
            FourCc::YUYV => Some(Self::Yuyv),
            FourCc::MJPG | FourCc::JPEG => Some(Self::Mjpeg),
            _ => None,
        }
    }
}

/// One pixel format at one size, with the frame rates the camera offers there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedMode {
    /// Pixel format.
    pub fourcc: FourCc,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second offered; empty when the driver does not say.
    pub fps: Vec<u32>,
}

impl fmt::Display for OfferedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}x{}", self.fourcc, self.width, self.height)?;
        if !self.fps.is_empty() {
            let rates: Vec<String> = self.fps.iter().map(u32::to_string).collect();
            write!(f, " @ {} fps", rates.join("/"))?;
        }
        Ok(())
    }
}

/// What the configuration asks of the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
}

/// The mode negotiation settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// Pixel format to capture in.
    pub format: CameraFormat,
    /// The FourCC as the camera spells it.
    pub fourcc: FourCc,
    /// Width in pixels (always the wanted width).
    pub width: u32,
    /// Height in pixels (always the wanted height).
    pub height: u32,
    /// Frame rate to ask for: the wanted one if offered, else the nearest offered.
    pub fps: u32,
}

/// Picks the best mode at the wanted size (see the module documentation for the order).
///
/// Errors: no convertible format at all ([`SourceError::UnsupportedFormat`]), or none at the
/// wanted size ([`SourceError::UnsupportedSize`], listing what the camera offers).
pub fn choose_format(offered: &[OfferedMode], want: Wanted) -> Result<Choice, SourceError> {
    let usable: Vec<(CameraFormat, &OfferedMode)> = offered
        .iter()
        .filter_map(|mode| CameraFormat::from_fourcc(mode.fourcc).map(|format| (format, mode)))
        .collect();
    if usable.is_empty() {
        let mut fourccs: Vec<String> = offered.iter().map(|m| m.fourcc.to_string()).collect();
        fourccs.sort();
        fourccs.dedup();
        return Err(SourceError::UnsupportedFormat {
            device: "the camera".into(),
            wanted: "NV12, YUYV or MJPEG",
            offered: fourccs,
        });
    }
    let fps_distance = |mode: &OfferedMode| -> (u32, u32) {
        if mode.fps.is_empty() || mode.fps.contains(&want.fps) {
            return (0, want.fps);
        }
        // Nearest rate; between two equally near ones, the higher.
        mode.fps
            .iter()
            .map(|&fps| (fps.abs_diff(want.fps), fps))
            .min_by_key(|&(distance, fps)| (distance, Reverse(fps)))
            .unwrap_or((u32::MAX, 0))
    };
    usable
        .iter()
        .filter(|(_, mode)| (mode.width, mode.height) == (want.width, want.height))
        .map(|&(format, mode)| (format, mode, fps_distance(mode)))
        .min_by_key(|&(format, _, (distance, fps))| (distance, format, Reverse(fps)))
        .map(|(format, mode, (_, fps))| Choice {
            format,
            fourcc: mode.fourcc,
            width: want.width,
            height: want.height,
            fps,
        })
        .ok_or_else(|| SourceError::UnsupportedSize {
            requested: format!("{}x{}", want.width, want.height),
            offered: usable.iter().map(|(_, mode)| mode.to_string()).collect(),
        })
}

/// A camera as `roombell check` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    /// Device node, e.g. `/dev/video0`.
    pub path: PathBuf,
    /// The driver's card name, e.g. `HD Pro Webcam C920`.
    pub card: String,
    /// Formats and discrete sizes offered.
    pub modes: Vec<OfferedMode>,
    /// Size ranges for cameras that offer any size within bounds.
    pub ranges: Vec<String>,
}

impl fmt::Display for CameraInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}  \"{}\"", self.path.display(), self.card)?;
        for mode in &self.modes {
            let usable = if CameraFormat::from_fourcc(mode.fourcc).is_some() {
                ""
            } else {
                "  (not supported by roombell)"
            };
            writeln!(f, "    {mode}{usable}")?;
        }
        for range in &self.ranges {
            writeln!(f, "    {range}")?;
        }
        Ok(())
    }
}

/// Capture devices and what they offer; metadata nodes (no capture formats) are left out.
#[cfg(feature = "v4l2")]
pub fn list_devices() -> Result<Vec<CameraInfo>, SourceError> {
    Ok(device::list())
}

/// Capture devices and what they offer: this build has no V4L2 support.
#[cfg(not(feature = "v4l2"))]
pub fn list_devices() -> Result<Vec<CameraInfo>, SourceError> {
    Err(SourceError::UnknownBackend {
        kind: "video source",
        name: "v4l2".into(),
        known: super::source::VIDEO_SOURCES
            .iter()
            .map(|(name, _)| *name)
            .collect(),
    })
}

#[cfg(feature = "v4l2")]
pub use device::{open, V4l2Source};

#[cfg(feature = "v4l2")]
mod device;

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(fourcc: &[u8; 4], width: u32, height: u32, fps: &[u32]) -> OfferedMode {
        OfferedMode {
            fourcc: FourCc(*fourcc),
            width,
            height,
            fps: fps.to_vec(),
        }
    }

    const VGA30: Wanted = Wanted {
        width: 640,
        height: 480,
        fps: 30,
    };

    /// A typical UVC webcam: YUYV at every size but only slowly when large, MJPEG fast.
    fn webcam() -> Vec<OfferedMode> {
        vec![
            mode(b"YUYV", 640, 480, &[30, 15]),
            mode(b"YUYV", 1280, 720, &[10, 5]),
            mode(b"MJPG", 640, 480, &[30, 15]),
            mode(b"MJPG", 1280, 720, &[30, 15]),
        ]
    }

    #[test]
    fn prefers_nv12_then_yuyv_then_mjpeg() {
        let mut offered = webcam();
        assert_eq!(
            choose_format(&offered, VGA30).unwrap().format,
            CameraFormat::Yuyv
        );
        offered.push(mode(b"NV12", 640, 480, &[30]));
        let choice = choose_format(&offered, VGA30).unwrap();
        assert_eq!(
            (
                choice.format,
                choice.fourcc,
                choice.width,
                choice.height,
                choice.fps
            ),
            (CameraFormat::Nv12, FourCc::NV12, 640, 480, 30)
        );
        let only_mjpeg = [mode(b"MJPG", 640, 480, &[30])];
        assert_eq!(
            choose_format(&only_mjpeg, VGA30).unwrap().format,
            CameraFormat::Mjpeg
        );
    }

    #[test]
    fn the_wanted_rate_beats_a_cheaper_format() {
        let hd = Wanted {
            width: 1280,
            height: 720,
            fps: 30,
        };
        let choice = choose_format(&webcam(), hd).unwrap();
        assert_eq!((choice.format, choice.fps), (CameraFormat::Mjpeg, 30));
        // Only slow modes: the nearest rate, the better format on a tie.
        let slow = [
            mode(b"MJPG", 1280, 720, &[10]),
            mode(b"YUYV", 1280, 720, &[10, 5]),
        ];
        let choice = choose_format(&slow, hd).unwrap();
        assert_eq!((choice.format, choice.fps), (CameraFormat::Yuyv, 10));
    }

    #[test]
    fn unknown_rates_count_as_offered() {
        let offered = [mode(b"YUYV", 640, 480, &[]), mode(b"MJPG", 640, 480, &[60])];
        let choice = choose_format(&offered, VGA30).unwrap();
        assert_eq!((choice.format, choice.fps), (CameraFormat::Yuyv, 30));
        let between = [mode(b"NV12", 640, 480, &[25, 35])];
        assert_eq!(choose_format(&between, VGA30).unwrap().fps, 35);
    }

    #[test]
    fn unsupported_size_lists_what_is_offered() {
        let error = choose_format(
            &webcam(),
            Wanted {
                width: 1920,
                height: 1080,
                fps: 30,
            },
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, SourceError::UnsupportedSize { .. }));
        assert!(message.contains("1920x1080"), "{message}");
        assert!(message.contains("YUYV 1280x720 @ 10/5 fps"), "{message}");
        assert!(message.contains("MJPG 640x480 @ 30/15 fps"), "{message}");
    }

    #[test]
    fn no_usable_format_lists_the_fourccs() {
        let offered = [
            mode(b"H264", 640, 480, &[30]),
            mode(b"GREY", 640, 480, &[30]),
        ];
        let error = choose_format(&offered, VGA30).unwrap_err();
        assert!(matches!(error, SourceError::UnsupportedFormat { .. }));
        let message = error.to_string();
        assert!(message.contains("GREY, H264"), "{message}");
        assert!(message.contains("NV12, YUYV or MJPEG"), "{message}");
    }

    #[test]
    fn jpeg_is_mjpeg_and_odd_fourccs_print_safely() {
        let offered = [mode(b"JPEG", 640, 480, &[30])];
        let choice = choose_format(&offered, VGA30).unwrap();
        assert_eq!(
            (choice.format, choice.fourcc),
            (CameraFormat::Mjpeg, FourCc::JPEG)
        );
        assert_eq!(FourCc([b'Y', 0, 0xff, b'8']).to_string(), "Y??8");
    }

    #[test]
    fn camera_info_prints_for_check() {
        let info = CameraInfo {
            path: "/dev/video0".into(),
            card: "Doorbell Cam".into(),
            modes: vec![
                mode(b"YUYV", 640, 480, &[30]),
                mode(b"H264", 640, 480, &[30]),
            ],
            ranges: vec![],
        };
        let text = info.to_string();
        assert!(
            text.starts_with("/dev/video0  \"Doorbell Cam\"\n"),
            "{text}"
        );
        assert!(text.contains("    YUYV 640x480 @ 30 fps\n"), "{text}");
        assert!(
            text.contains("H264 640x480 @ 30 fps  (not supported by roombell)"),
            "{text}"
        );
    }

    #[cfg(feature = "v4l2")]
    #[test]
    fn a_missing_camera_lists_what_exists() {
        let config = crate::media::source::VideoSourceConfig {
            backend: "v4l2".into(),
            device: "/dev/video-roombell-missing".into(),
            ..Default::default()
        };
        let error = V4l2Source::open(&config).err().unwrap();
        assert!(matches!(error, SourceError::NoSuchDevice { .. }), "{error}");
        let message = error.to_string();
        assert!(
            message.contains("/dev/video-roombell-missing does not exist"),
            "{message}"
        );
        let by_name = crate::media::source::VideoSourceConfig {
            device: "No Such Camera Model".into(),
            ..config
        };
        let error = V4l2Source::open(&by_name).err().unwrap();
        assert!(
            error
                .to_string()
                .contains("camera \"No Such Camera Model\""),
            "{error}"
        );
    }
}
