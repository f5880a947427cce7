//! The media runtime: a small multi-threaded tokio runtime that carries WebRTC (ICE, DTLS,
//! SRTP, RTP forwarding), so that signaling and actor work never wait behind packets.

/// A dedicated runtime for media so the signaling thread never carries RTP.
pub struct MediaRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl MediaRuntime {
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("roombell-media")
            .enable_all()
            .build()?;
        Ok(MediaRuntime {
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.runtime.as_ref().map(|r| r.handle().clone())
    }
}

impl Drop for MediaRuntime {
    fn drop(&mut self) {
        // Dropping a runtime inside async code panics; let its threads wind down on their own.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
