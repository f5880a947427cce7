// Chromium as the receiving end of a stream someone else publishes (the Rust client, in
// tests/web_chromium.rs): join, stream-added → subscribe → stream-subscribed → play, then
// report what decoded: frames and size (getRemoteVideoStats), the first frame's delay, and
// the strongest audio frequency heard. ok = frames ≥ minFrames at the expected size and the
// tone within 3 % of toneHz.
//
// Extra config: publisher (the userId to expect), minFrames, width, height, toneHz.

import { TONE_PROBE, config, deadline, finish, launch, note, openTestPage, waitInPage } from './lib.mjs';

const cfg = config();
deadline(cfg.timeoutMs || 60000);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>subscribe</title></head>
<body>
<div id="remote" style="width:640px;height:480px"></div>
<script src="/trtc.js"></script>
<script>${TONE_PROBE}</script>
<script>
const cfg = ${JSON.stringify(cfg)};
const probe = { t0: performance.now(), events: [] };
window.probe = probe;
const mark = (what) => probe.events.push([what, Math.round(performance.now() - probe.t0)]);
const { userId, userSig } = cfg.users.viewer;
const client = TRTC.createClient({ mode: 'rtc', sdkAppId: cfg.sdkAppId, userId, userSig });
probe.client = client;
client.on('stream-added', (event) => {
  mark('stream-added:' + event.stream.getUserId());
  client.subscribe(event.stream).catch((e) => (probe.error = String(e)));
});
client.on('stream-subscribed', (event) => {
  mark('stream-subscribed');
  probe.stream = event.stream;
  event.stream.play('remote').catch((e) => (probe.error = String(e)));
});
client.join({ roomId: cfg.roomId }).then(() => mark('joined'), (e) => (probe.error = String(e)));
</script>
</body></html>`;

const context = await launch();
const page = await openTestPage(context, cfg.baseUrl, 'subscribe', PAGE);
try {
  await waitInPage(page, () => window.probe.stream || window.probe.error, null, 20000, 'no stream-subscribed');
  const error = await page.evaluate(() => window.probe.error);
  if (error) throw new Error(error);
  const publisher = cfg.publisher;
  // The first decoded frame, from the video element.
  const firstFrameMs = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const video = document.querySelector('#remote video');
        const at = () => resolve(Math.round(performance.now() - window.probe.t0));
        if (video && video.requestVideoFrameCallback) video.requestVideoFrameCallback(at);
        else if (video) video.addEventListener('loadeddata', at, { once: true });
        else resolve(null);
      })
  );
  note(`first frame at ${firstFrameMs} ms after the page started`);
  const minFrames = cfg.minFrames || 60;
  const video = await waitInPage(
    page,
    async ([user, min]) => {
      const s = (await window.probe.client.getRemoteVideoStats())[user];
      return s && s.framesDecoded >= min ? s : null;
    },
    [publisher, minFrames],
    25000,
    `fewer than ${minFrames} frames decoded`
  );
  note(`video: ${JSON.stringify(video)}`);
  const tone = await page.evaluate(() => window.dominantFrequency(window.probe.stream.getAudioTrack(), 1500));
  const audio = (await page.evaluate((u) => window.probe.client.getRemoteAudioStats(), publisher))[publisher];
  note(`tone: ${JSON.stringify(tone)}; audio: ${JSON.stringify(audio)}`);
  const events = await page.evaluate(() => window.probe.events);
  const sizeOk = video.frameWidth === (cfg.width || 640) && video.frameHeight === (cfg.height || 480);
  const toneOk = !cfg.toneHz || Math.abs(tone.hz - cfg.toneHz) <= cfg.toneHz * 0.03;
  const ok = video.framesDecoded >= minFrames && sizeOk && toneOk;
  await finish({ ok, video, firstFrameMs, tone, audio, events, error: ok ? undefined : `size ok: ${sizeOk}, tone ok: ${toneOk}` });
} catch (e) {
  const events = await page.evaluate(() => window.probe && window.probe.events).catch(() => null);
  await finish({ ok: false, error: e.message, events });
}
