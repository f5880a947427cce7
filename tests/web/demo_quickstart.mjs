// The TRTC v4 quick-start flow against a running `roombell demo` (tests/web_demo.rs starts it):
// one client, written in the order the TRTC tutorial writes it — createClient → join →
// on('stream-added') → subscribe → on('stream-subscribed') → play — watching the demo's doorbell.
// Then the doorbell's video must decode (≥ minFrames by getRemoteVideoStats and by
// requestVideoFrameCallback on the played <video>, at width×height) and its audio, played by the
// SDK's unmuted <audio> element, must carry the device's tone (WebAudio analyser FFT on the
// remote track: Chromium decodes remote audio only while an unmuted element holds it).
//
// Extra config: doorbell (its userId), minFrames, width, height, toneHz.

import { TONE_PROBE, config, deadline, finish, launch, note, openTestPage, waitInPage } from './lib.mjs';

const cfg = config();
deadline(cfg.timeoutMs || 60000);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>quick start (demo)</title></head>
<body>
<div id="remote_stream" style="width:320px;height:240px"></div>
<script src="/sdk/trtc.js"></script>
<script>${TONE_PROBE}</script>
<script>
const cfg = ${JSON.stringify(cfg)};
const probe = { events: [], t0: performance.now(), rvfcFrames: 0 };
const mark = (what) => probe.events.push([what, Math.round(performance.now() - probe.t0)]);
window.probe = probe;

// ── the quick start, as an SDK user writes it ──
const { sdkAppId, roomId } = cfg;
const { userId, userSig } = cfg.users.phone;
const client = TRTC.createClient({ mode: 'rtc', sdkAppId, userId, userSig });
probe.client = client;
client.join({ roomId }).then(() => {
  console.log('join room success');
  mark('joined');
}).catch(error => {
  console.error('join room failed ' + error);
  probe.error = String(error);
});
client.on('stream-added', event => {
  const remoteStream = event.stream;
  console.log('remote stream added: ' + remoteStream.getId() + ' of ' + remoteStream.getUserId());
  mark('stream-added:' + remoteStream.getUserId());
  client.subscribe(remoteStream).catch(error => {
    console.error('failed to subscribe ' + error);
    probe.error = String(error);
  });
});
client.on('stream-subscribed', event => {
  const remoteStream = event.stream;
  console.log('remote stream subscribed: ' + remoteStream.getId());
  mark('stream-subscribed:' + remoteStream.getUserId());
  probe.remoteStream = remoteStream;
  remoteStream.play('remote_stream').then(() => {
    mark('play');
    // Count decoded frames on the element play() made, as a second opinion to getStats.
    const video = document.querySelector('#remote_stream video');
    const onFrame = (now, meta) => {
      probe.rvfcFrames++;
      probe.rvfcSize = meta.width + 'x' + meta.height;
      video.requestVideoFrameCallback(onFrame);
    };
    if (video) video.requestVideoFrameCallback(onFrame);
  }).catch(error => {
    console.error('failed to play ' + error);
    probe.error = String(error);
  });
});
</script>
</body></html>`;

const context = await launch();
const page = await openTestPage(context, cfg.baseUrl, 'demo-quickstart', PAGE);

try {
  const t0 = Date.now();
  await waitInPage(page, () => (window.probe.remoteStream && window.probe.events.some(([e]) => e === 'play')) || window.probe.error, null, 20000, 'stream-subscribed → play never came');
  const error = await page.evaluate(() => window.probe.error);
  if (error) throw new Error(error);
  const subscribedMs = Date.now() - t0;
  const who = await page.evaluate(() => window.probe.remoteStream.getUserId());
  if (who !== cfg.doorbell) throw new Error(`subscribed to ${who}, not the doorbell ${cfg.doorbell}`);
  note(`subscribed to ${who} and playing after ${subscribedMs} ms; waiting for ${cfg.minFrames} decoded frames`);
  const video = await waitInPage(
    page,
    async (min) => {
      const stats = await window.probe.client.getRemoteVideoStats();
      const s = stats[window.probe.remoteStream.getUserId()];
      return s && s.framesDecoded >= min && window.probe.rvfcFrames >= min ? { ...s, rvfcFrames: window.probe.rvfcFrames, rvfcSize: window.probe.rvfcSize } : null;
    },
    cfg.minFrames,
    25000,
    `the doorbell's video did not decode ${cfg.minFrames} frames`
  );
  const framesMs = Date.now() - t0;
  note(`video: ${JSON.stringify(video)} after ${framesMs} ms`);
  const element = await page.evaluate(() => {
    const v = document.querySelector('#remote_stream video');
    const a = document.querySelector('#remote_stream audio');
    return {
      video: v ? { width: v.videoWidth, height: v.videoHeight, paused: v.paused } : null,
      audio: a ? { muted: a.muted, paused: a.paused, volume: a.volume } : null,
    };
  });
  // The SDK's <audio> element holds the remote audio unmuted; analyse the same track.
  const tone = await page.evaluate(() => window.dominantFrequency(window.probe.remoteStream.getAudioTrack(), 2500));
  note(`tone: ${JSON.stringify(tone)}; elements ${JSON.stringify(element)}`);
  const audioStats = (await page.evaluate(() => window.probe.client.getRemoteAudioStats()))[cfg.doorbell];
  await page.evaluate(() => window.probe.client.leave());
  const events = await page.evaluate(() => window.probe.events);
  const size = `${cfg.width}x${cfg.height}`;
  const sizeOk = video.frameWidth === cfg.width && video.frameHeight === cfg.height && video.rvfcSize === size;
  const toneOk = Math.abs(tone.hz - cfg.toneHz) <= 12 && tone.peakDb > -90;
  const elementOk = !!element.audio && !element.audio.muted && !element.audio.paused && !!element.video && !element.video.paused;
  // The calls happened in the quick start's order.
  const order = ['stream-added:' + cfg.doorbell, 'stream-subscribed:' + cfg.doorbell, 'play'].map((e) => events.findIndex(([n]) => n === e));
  const orderOk = order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]));
  const ok = sizeOk && toneOk && elementOk && orderOk;
  await finish({
    ok,
    subscribedMs,
    framesMs,
    video,
    element,
    tone,
    audioStats,
    events,
    error: ok ? undefined : `size ${sizeOk}, tone ${toneOk}, elements ${elementOk}, order ${orderOk}`,
  });
} catch (e) {
  const events = await page.evaluate(() => window.probe && window.probe.events).catch(() => null);
  await finish({ ok: false, error: e.message, events });
}
