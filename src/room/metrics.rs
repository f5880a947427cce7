//! What the room server process holds: resident memory, threads, open sockets and files.
//! Served with the hub's counters at `/debug/metrics` (loopback peers only) so that load and
//! soak runs can tell a leak from a busy moment by looking from outside.

use std::path::Path;

/// A snapshot of this process, read from `/proc/self`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProcessMetrics {
    pub rss_bytes: u64,
    pub threads: u64,
    pub open_fds: u64,
    /// File descriptors that are sockets (TCP, UDP, Unix): a leaked peer connection keeps one.
    pub open_sockets: u64,
}

impl ProcessMetrics {
    /// Reads `/proc/self`; fields that cannot be read stay 0 (not on Linux, or a sandbox).
    pub fn of_this_process() -> ProcessMetrics {
        Self::read(Path::new("/proc/self"))
    }

    fn read(proc_dir: &Path) -> ProcessMetrics {
        let mut metrics = std::fs::read_to_string(proc_dir.join("status"))
            .map(|status| parse_status(&status))
            .unwrap_or_default();
        if let Ok(entries) = std::fs::read_dir(proc_dir.join("fd")) {
            for entry in entries.flatten() {
                metrics.open_fds += 1;
                // A descriptor closed between read_dir and read_link is simply not counted.
                if let Ok(target) = std::fs::read_link(entry.path()) {
                    if is_socket(&target.to_string_lossy()) {
                        metrics.open_sockets += 1;
                    }
                }
            }
        }
        metrics
    }
}

/// `VmRSS` and `Threads` from `/proc/<pid>/status`.
fn parse_status(status: &str) -> ProcessMetrics {
    let mut metrics = ProcessMetrics::default();
    for line in status.lines() {
        let mut fields = line.split_whitespace();
        match (fields.next(), fields.next(), fields.next()) {
            (Some("VmRSS:"), Some(value), Some("kB")) => {
                metrics.rss_bytes = value.parse::<u64>().unwrap_or(0).saturating_mul(1024);
            }
            (Some("Threads:"), Some(value), _) => {
                metrics.threads = value.parse().unwrap_or(0);
            }
            _ => {}
        }
    }
    metrics
}

/// `/proc/<pid>/fd/N` links to `socket:[inode]` for every kind of socket.
fn is_socket(link_target: &str) -> bool {
    link_target.starts_with("socket:[")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_give_rss_and_threads_and_garbage_gives_zero() {
        let status = "Name:\troombell\nVmPeak:\t  900 kB\nVmRSS:\t   51234 kB\nThreads:\t7\n";
        let metrics = parse_status(status);
        assert_eq!(metrics.rss_bytes, 51_234 * 1024);
        assert_eq!(metrics.threads, 7);
        assert_eq!(
            parse_status("VmRSS:\tlots kB\nThreads:"),
            ProcessMetrics::default()
        );
    }

    #[test]
    fn only_socket_links_count_as_sockets() {
        assert!(is_socket("socket:[123456]"));
        assert!(!is_socket("/dev/null"));
        assert!(!is_socket("pipe:[42]"));
        assert!(!is_socket("anon_inode:[eventpoll]"));
    }

    #[test]
    fn a_proc_directory_is_read_fd_by_fd() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("status"), "VmRSS:\t100 kB\nThreads:\t3\n").expect("status");
        let fds = dir.path().join("fd");
        std::fs::create_dir(&fds).expect("fd dir");
        for (fd, target) in [
            ("0", "/dev/null"),
            ("3", "socket:[11]"),
            ("4", "socket:[12]"),
            ("5", "pipe:[13]"),
        ] {
            std::os::unix::fs::symlink(target, fds.join(fd)).expect("link");
        }
        let metrics = ProcessMetrics::read(dir.path());
        assert_eq!(
            metrics,
            ProcessMetrics {
                rss_bytes: 102_400,
                threads: 3,
                open_fds: 4,
                open_sockets: 2
            }
        );
    }

    #[test]
    fn this_process_is_readable() {
        let metrics = ProcessMetrics::of_this_process();
        assert!(
            metrics.rss_bytes > 0 && metrics.threads >= 1 && metrics.open_fds >= 1,
            "{metrics:?}"
        );
    }
}
