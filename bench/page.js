// Browser side of scripts/bench.sh (injected into a page of the room server's origin, next to
// /trtc.js). Everything the page measures is stamped in Unix milliseconds from this page's clock
// (performance.timeOrigin + performance.now()), the same clock the device paints into its frames.
'use strict';
const unixNow = () => performance.timeOrigin + performance.now();
const bench = (window.bench = { log: [] });

// ---- the frame code (docs/test-pattern.md), read from the code area only --------------------
function crc8(bytes, n) {
  let crc = 0xff;
  for (let k = 0; k < n; k++) {
    crc ^= bytes[k];
    for (let b = 0; b < 8; b++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}
// rgba: pixels of the top-left (26·cell) x (6·cell) of a frame, `stride` pixels per row.
function readCode(rgba, stride, cell) {
  if (cell < 2) return null;
  const m = Math.floor(cell / 4), side = cell - 2 * m;
  const bit = (r, c) => {
    const x0 = (c + 1) * cell + m, y0 = (r + 1) * cell + m;
    let sum = 0;
    for (let y = y0; y < y0 + side; y++)
      for (let x = x0; x < x0 + side; x++) {
        const i = (y * stride + x) * 4;
        sum += (rgba[i] + rgba[i + 1] + rgba[i + 2]) / 3;
      }
    return sum / (side * side) >= 128 ? 1 : 0;
  };
  const bytes = new Uint8Array(11);
  for (let r = 0; r < 4; r++) {
    if (bit(r, 0) !== 1 || bit(r, 1) !== 0) return null;
    for (let c = 2; c < 24; c++) {
      const i = r * 22 + (c - 2);
      if (bit(r, c)) bytes[i >> 3] |= 0x80 >> (i & 7);
    }
  }
  if (crc8(bytes, 10) !== bytes[10]) return null;
  const frameNumber = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  let captureUnixMs = 0;
  for (let k = 4; k < 10; k++) captureUnixMs = captureUnixMs * 256 + bytes[k];
  return { frameNumber, captureUnixMs };
}
const cellOf = (w, h) => Math.min(Math.floor(w / 40), Math.floor(h / 30));
bench.selfTest = () => {
  const enc = new TextEncoder().encode('123456789');
  return crc8(enc, 9) === 0xfb && crc8(new Uint8Array([0, 0, 0, 1, 1, 0x8b, 0xcf, 0xe5, 0x68, 0]), 10) === 0xd8;
};

// Paints the code (white 255 / black 0) for frameNumber and captureUnixMs on a 2D context.
function paintCode(ctx, w, h, frameNumber, captureUnixMs) {
  const cell = cellOf(w, h);
  const bytes = new Uint8Array(11);
  bytes[0] = (frameNumber >>> 24) & 255; bytes[1] = (frameNumber >>> 16) & 255;
  bytes[2] = (frameNumber >>> 8) & 255; bytes[3] = frameNumber & 255;
  let t = Math.floor(captureUnixMs);
  for (let k = 9; k >= 4; k--) { bytes[k] = t % 256; t = Math.floor(t / 256); }
  bytes[10] = crc8(bytes, 10);
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, 26 * cell, 6 * cell);
  ctx.fillStyle = '#fff';
  for (let r = 0; r < 4; r++) {
    ctx.fillRect(cell, (r + 1) * cell, cell, cell); // guard: column 0 white, column 1 black
    for (let c = 2; c < 24; c++) {
      const i = r * 22 + (c - 2);
      if (bytes[i >> 3] & (0x80 >> (i & 7))) ctx.fillRect((c + 1) * cell, (r + 1) * cell, cell, cell);
    }
  }
}

// ---- reading frames off a <video> with requestVideoFrameCallback ---------------------------
// Every decoded frame: {n, cap, cb (callback time), edt (expectedDisplayTime), recv, w, h}.
function watchVideo(video, sink) {
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const state = { stopped: false, first: null, unread: 0 };
  const onFrame = (now, meta) => {
    if (state.stopped) return;
    const cb = unixNow();
    if (state.first === null) state.first = cb;
    const w = meta.width || video.videoWidth, h = meta.height || video.videoHeight;
    const cell = cellOf(w, h);
    if (cell >= 2 && sink.recording) {
      const cw = 26 * cell, ch = 6 * cell;
      if (canvas.width !== cw || canvas.height !== ch) { canvas.width = cw; canvas.height = ch; }
      // Source rectangle in the video's own pixels: the code area, unscaled.
      ctx.drawImage(video, 0, 0, cw, ch, 0, 0, cw, ch);
      const code = readCode(ctx.getImageData(0, 0, cw, ch).data, cw, cell);
      if (code) {
        sink.frames.push({
          n: code.frameNumber, cap: code.captureUnixMs, cb,
          edt: performance.timeOrigin + meta.expectedDisplayTime,
          recv: meta.receiveTime ? performance.timeOrigin + meta.receiveTime : null,
          w, h,
        });
      } else state.unread++;
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  return state;
}

function newVideo(track) {
  const video = document.createElement('video');
  video.muted = true; video.autoplay = true; video.playsInline = true;
  video.style.width = '320px';
  video.srcObject = new MediaStream([track]);
  document.body.appendChild(video);
  video.play().catch(() => {});
  return video;
}

// ---- the viewer: a TRTC client in the room, subscribing to the doorbell ---------------------
// Every stream it sees gets an entry in bench.viewer.streams: {addedAt, subscribedAt, firstFrame}.
bench.startViewer = async (cfg) => {
  const v = (bench.viewer = { frames: [], recording: false, streams: [], current: null });
  const client = TRTC.createClient({ mode: 'rtc', sdkAppId: cfg.sdkAppId, userId: cfg.userId, userSig: cfg.userSig });
  v.client = client;
  client.on('stream-added', (event) => {
    if (event.stream.getUserId() !== cfg.publisher) return;
    const entry = { addedAt: unixNow(), subscribedAt: null, firstFrame: null };
    v.streams.push(entry);
    client.subscribe(event.stream, { audio: !v.videoOnly, video: true }).catch((e) => bench.log.push('subscribe: ' + e));
  });
  client.on('stream-subscribed', (event) => {
    const entry = v.streams[v.streams.length - 1];
    if (!entry) return;
    entry.subscribedAt = unixNow();
    const attach = () => {
      const track = event.stream.getVideoTrack();
      if (!track) return setTimeout(attach, 10);
      if (v.current) { v.current.watch.stopped = true; v.current.video.remove(); }
      const video = newVideo(track);
      const watch = watchVideo(video, v);
      v.current = { video, watch, entry };
      const poll = () => {
        if (watch.first !== null) entry.firstFrame = watch.first;
        else if (!watch.stopped) setTimeout(poll, 5);
      };
      poll();
      // Let the SDK play the audio as an answer page would (the video element is ours).
      if (!v.videoOnly) event.stream.play('player', { muted: false }).catch(() => {});
    };
    attach();
  });
  client.on('stream-removed', () => {
    if (v.current) { v.current.watch.stopped = true; v.current.video.remove(); v.current = null; }
  });
  await client.join({ roomId: cfg.roomId });
  return true;
};

// ---- the floor: the browser's own encode → decode of a canvas painting the same code ---------
bench.floor = async ({ width, height, fps, seconds }) => {
  const canvas = document.createElement('canvas');
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext('2d');
  const stream = canvas.captureStream(0);
  const track = stream.getVideoTracks()[0];
  let n = 0;
  const paint = () => {
    // Colour bars with a moving box, like the test source, then the code.
    const bars = ['#c0c0c0', '#c0c000', '#00c0c0', '#00c000', '#c000c0', '#c00000', '#0000c0'];
    for (let i = 0; i < bars.length; i++) {
      ctx.fillStyle = bars[i];
      ctx.fillRect(Math.floor((i * width) / bars.length), 0, Math.ceil(width / bars.length), height);
    }
    ctx.fillStyle = '#fff';
    const box = Math.floor(height / 6);
    ctx.fillRect((n * 8) % (width - box), Math.floor(height / 2), box, box);
    paintCode(ctx, width, height, n, unixNow());
    track.requestFrame();
    n++;
  };
  const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
  pc1.onicecandidate = (e) => e.candidate && pc2.addIceCandidate(e.candidate);
  pc2.onicecandidate = (e) => e.candidate && pc1.addIceCandidate(e.candidate);
  const transceiver = pc1.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  const caps = RTCRtpSender.getCapabilities('video').codecs;
  const h264 = caps.filter((c) => c.mimeType === 'video/H264');
  const cb = h264.filter((c) => /profile-level-id=42e01f/.test(c.sdpFmtpLine || '') && /packetization-mode=1/.test(c.sdpFmtpLine || ''));
  transceiver.setCodecPreferences([...cb, ...h264.filter((c) => !cb.includes(c))]);
  const got = new Promise((resolve) => (pc2.ontrack = (e) => resolve(e)));
  await pc1.setLocalDescription();
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription();
  await pc1.setRemoteDescription(pc2.localDescription);
  const timer = setInterval(paint, 1000 / fps);
  const event = await got;
  // The same receiver setting the SDK applies (web-sdk.md, "Low latency").
  if ('jitterBufferTarget' in event.receiver) event.receiver.jitterBufferTarget = 0;
  const sink = { frames: [], recording: false };
  const video = newVideo(event.track);
  const watch = watchVideo(video, sink);
  await new Promise((r) => setTimeout(r, 3000)); // warm-up: bitrate ramp, first keyframe
  sink.recording = true;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  sink.recording = false;
  clearInterval(timer);
  watch.stopped = true;
  const stats = await pc2.getStats();
  let codec = null;
  stats.forEach((s) => { if (s.type === 'codec' && /video/.test(s.mimeType)) codec = s.mimeType + ' ' + (s.sdpFmtpLine || ''); });
  pc1.close(); pc2.close(); video.remove();
  return { frames: sink.frames, unread: watch.unread, codec, painted: n };
};

// ---- the talker: tone bursts published to the room (mouth-to-ear) ---------------------------
bench.startTalker = async (cfg) => {
  const ctx = new AudioContext({ sampleRate: 48000 });
  await ctx.resume();
  const osc = ctx.createOscillator();
  osc.frequency.value = cfg.hz;
  const gain = ctx.createGain();
  gain.gain.value = 0;
  const dest = ctx.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  // autoSubscribe off: the talker only talks (the viewer is the one subscriber of the doorbell).
  const client = TRTC.createClient({ mode: 'rtc', sdkAppId: cfg.sdkAppId, userId: cfg.userId, userSig: cfg.userSig, autoSubscribe: false });
  await client.join({ roomId: cfg.roomId });
  const local = TRTC.createStream({ userId: cfg.userId, audioSource: dest.stream.getAudioTracks()[0] });
  await local.initialize();
  await client.publish(local);
  bench.talker = { ctx, gain, client, local, bursts: [] };
  return { baseLatency: ctx.baseLatency, outputLatency: ctx.outputLatency, sampleRate: ctx.sampleRate };
};
// Gates the tone on now for `ms`; returns the Unix ms of the call (the onset is rendered in the
// audio thread's next callback, at most one callback period later).
bench.burst = (ms, level) => {
  const t = bench.talker;
  const at = unixNow();
  t.gain.gain.setValueAtTime(level, t.ctx.currentTime);
  t.gain.gain.setValueAtTime(0, t.ctx.currentTime + ms / 1000);
  t.bursts.push(at);
  return at;
};
bench.stopTalker = async () => {
  const t = bench.talker;
  await t.client.unpublish(t.local).catch(() => {});
  await t.client.leave().catch(() => {});
  await t.ctx.close();
};
