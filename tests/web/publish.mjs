// Chromium as the publishing end (its fake camera, and its fake microphone or a WAV given as
// fakeAudioFile): join, createStream → initialize → publish, print `PUBLISHED`, then keep
// publishing until the Rust side writes `done` on stdin; leave; report the sender's stats.

import { config, deadline, finish, launch, note, openTestPage, signal, waitForStdin, waitInPage } from './lib.mjs';

const cfg = config();
deadline(cfg.timeoutMs || 60000);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>publish</title></head>
<body>
<div id="local" style="width:320px;height:240px"></div>
<script src="/trtc.js"></script>
<script>
const cfg = ${JSON.stringify(cfg)};
const probe = {};
window.probe = probe;
const { userId, userSig } = cfg.users.browser;
const client = TRTC.createClient({ mode: 'rtc', sdkAppId: cfg.sdkAppId, userId, userSig });
// rawAudio: no echo cancellation, noise suppression or gain control, so a test tone arrives as
// it was captured (these are TRTC's runtime createStream options).
const localStream = TRTC.createStream(
  cfg.rawAudio
    ? { userId, audio: true, video: true, echoCancellation: false, noiseSuppression: false, autoGainControl: false }
    : { userId, audio: true, video: true }
);
probe.client = client;
probe.localStream = localStream;
(async () => {
  await client.join({ roomId: cfg.roomId });
  await localStream.initialize();
  await localStream.setVideoProfile('480p');
  localStream.play('local');
  await client.publish(localStream);
  probe.published = true;
})().catch((e) => (probe.error = String(e)));
</script>
</body></html>`;

const context = await launch({ fakeAudioFile: cfg.fakeAudioFile });
const page = await openTestPage(context, cfg.baseUrl, 'publish', PAGE);
try {
  await waitInPage(page, () => window.probe.published || window.probe.error, null, 20000, 'publish did not complete');
  const error = await page.evaluate(() => window.probe.error);
  if (error) throw new Error(error);
  const settings = await page.evaluate(() => window.probe.localStream.getVideoTrack().getSettings());
  note(`published; camera ${settings.width}x${settings.height}@${settings.frameRate}`);
  signal('PUBLISHED');
  const told = await waitForStdin('done');
  const video = (await page.evaluate(() => window.probe.client.getLocalVideoStats()))[cfg.users.browser.userId];
  const audio = (await page.evaluate(() => window.probe.client.getLocalAudioStats()))[cfg.users.browser.userId];
  await page.evaluate(() => window.probe.client.leave());
  note(`sent: video ${JSON.stringify(video)}, audio ${JSON.stringify(audio)}`);
  await finish({ ok: told && !!video && video.framesSent > 0, video, audio, settings, error: told ? undefined : 'stdin closed before done' });
} catch (e) {
  await finish({ ok: false, error: e.message });
}
