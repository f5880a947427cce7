// Chromium talks to the demo's doorbell: its fake microphone plays fakeAudioFile (a WAV the Rust
// side wrote), the page joins the demo's room and publishes audio only (no echo cancellation,
// noise suppression or gain control, so the tone arrives as captured), prints `PUBLISHED`, and
// keeps publishing until the Rust side writes `done` on stdin (it watches the device's WAV
// speaker meanwhile); then it leaves and reports the sender's audio stats.

import { config, deadline, finish, launch, note, openTestPage, signal, waitForStdin, waitInPage } from './lib.mjs';

const cfg = config();
deadline(cfg.timeoutMs || 60000);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>talk to the door</title></head>
<body>
<script src="/trtc.js"></script>
<script>
const cfg = ${JSON.stringify(cfg)};
const probe = {};
window.probe = probe;
const { userId, userSig } = cfg.users.visitor;
const client = TRTC.createClient({ mode: 'rtc', sdkAppId: cfg.sdkAppId, userId, userSig, autoSubscribe: false });
const localStream = TRTC.createStream({ userId, audio: true, video: false, echoCancellation: false, noiseSuppression: false, autoGainControl: false });
probe.client = client;
(async () => {
  await client.join({ roomId: cfg.roomId });
  await localStream.initialize();
  await client.publish(localStream);
  probe.published = performance.now();
})().catch((e) => (probe.error = String(e)));
</script>
</body></html>`;

const context = await launch({ fakeAudioFile: cfg.fakeAudioFile });
const page = await openTestPage(context, cfg.baseUrl, 'demo-talk', PAGE);
try {
  await waitInPage(page, () => window.probe.published || window.probe.error, null, 20000, 'publish did not complete');
  const error = await page.evaluate(() => window.probe.error);
  if (error) throw new Error(error);
  note('published the microphone');
  signal('PUBLISHED');
  const told = await waitForStdin('done');
  const audio = (await page.evaluate(() => window.probe.client.getLocalAudioStats()))[cfg.users.visitor.userId];
  await page.evaluate(() => window.probe.client.leave());
  note(`sent: audio ${JSON.stringify(audio)}`);
  await finish({ ok: told && !!audio && audio.packetsSent > 0, audio, error: told ? undefined : 'stdin closed before done' });
} catch (e) {
  await finish({ ok: false, error: e.message });
}
