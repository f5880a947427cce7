// The TRTC v4 quick-start flow, written as the TRTC tutorial writes it, against roombell's room
// server: one page, two clients. "door" runs createClient → join → createStream → initialize →
// publish; "phone" gets stream-added → subscribe → stream-subscribed → play. Then the remote
// video must decode (framesDecoded > 30), the remote audio must carry sound (getAudioLevel > 0
// while the <audio> element plays it), and door's leave must reach phone as peer-leave. The SDK
// comes from /sdk/trtc.js, the path the issue names (web/sdk/trtc.js links to web/trtc.js), so
// this also checks that the signaling URL defaults to the script's origin.

import { config, deadline, finish, launch, note, openTestPage, waitInPage } from './lib.mjs';

const cfg = config();
deadline(cfg.timeoutMs || 60000);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>quick start</title></head>
<body>
<div id="local_stream" style="width:320px;height:240px"></div>
<div id="remote_stream" style="width:320px;height:240px"></div>
<script src="/sdk/trtc.js"></script>
<script>
const cfg = ${JSON.stringify(cfg)};
const { sdkAppId, roomId } = cfg;
const probe = { events: [], t0: performance.now() };
const mark = (what) => probe.events.push([what, Math.round(performance.now() - probe.t0)]);
window.probe = probe;

// ── phone: the receiving end, as the quick start writes it ──
{
  const { userId, userSig } = cfg.users.phone;
  const client = TRTC.createClient({ mode: 'rtc', sdkAppId, userId, userSig });
  client.on('stream-added', event => {
    const remoteStream = event.stream;
    console.log('remote stream added: ' + remoteStream.getId());
    mark('stream-added');
    client.subscribe(remoteStream).catch(error => {
      console.error('failed to subscribe ' + error);
      probe.error = String(error);
    });
  });
  client.on('stream-subscribed', event => {
    const remoteStream = event.stream;
    console.log('remote stream subscribed: ' + remoteStream.getId());
    mark('stream-subscribed');
    probe.remoteStream = remoteStream;
    remoteStream.play('remote_stream').then(() => mark('play'));
  });
  client.on('peer-leave', event => {
    mark('peer-leave:' + event.userId);
  });
  client.join({ roomId }).catch(error => {
    console.error('failed to join ' + error);
    probe.error = String(error);
  }).then(() => {
    console.log('phone joined');
    mark('phone-joined');
    probe.phone = client;
    startDoor();
  });
}

// ── door: the publishing end, as the quick start writes it ──
function startDoor() {
  const { userId, userSig } = cfg.users.door;
  const client = TRTC.createClient({ mode: 'rtc', sdkAppId, userId, userSig });
  probe.door = client;
  client.join({ roomId }).catch(error => {
    console.error('failed to join ' + error);
    probe.error = String(error);
  }).then(() => {
    console.log('door joined');
    mark('door-joined');
    const localStream = TRTC.createStream({ userId, audio: true, video: true });
    probe.localStream = localStream;
    localStream.initialize().catch(error => {
      console.error('failed to initialize localStream ' + error);
      probe.error = String(error);
    }).then(() => {
      console.log('localStream initialized');
      mark('initialized');
      localStream.play('local_stream');
      client.publish(localStream).catch(error => {
        console.error('failed to publish localStream ' + error);
        probe.error = String(error);
      }).then(() => {
        console.log('localStream published');
        mark('published');
      });
    });
  });
}
</script>
</body></html>`;

const context = await launch();
const page = await openTestPage(context, cfg.baseUrl, 'quickstart', PAGE);

try {
  await waitInPage(page, () => window.probe.remoteStream || window.probe.error, null, 20000, 'stream-subscribed never came');
  const error = await page.evaluate(() => window.probe.error);
  if (error) throw new Error(error);
  note('subscribed; waiting for decoded frames');
  const video = await waitInPage(
    page,
    async () => {
      const stats = await window.probe.phone.getRemoteVideoStats();
      const s = stats[window.probe.remoteStream.getUserId()];
      return s && s.framesDecoded > 30 ? s : null;
    },
    null,
    20000,
    'the remote video did not decode 30 frames'
  );
  note(`video: ${JSON.stringify(video)}`);
  const firstFrameMs = await page.evaluate(async () => {
    const el = document.querySelector('#remote_stream video');
    return el ? { width: el.videoWidth, height: el.videoHeight, playing: !el.paused } : null;
  });
  // Chromium's fake microphone beeps now and then: sample the level for a while, keep the max.
  const audio = await page.evaluate(async () => {
    const s = window.probe.remoteStream;
    let max = 0;
    const end = performance.now() + 4000;
    while (performance.now() < end && max < 0.05) {
      max = Math.max(max, s.getAudioLevel());
      await new Promise((r) => setTimeout(r, 20));
    }
    const el = document.querySelector('#remote_stream audio');
    const stats = await window.probe.phone.getRemoteAudioStats();
    return { maxLevel: max, element: !!el, elementMuted: el ? el.muted : null, stats: stats[s.getUserId()] };
  });
  note(`audio: ${JSON.stringify(audio)}`);
  // Leave: the other client hears of it.
  await page.evaluate(() => window.probe.door.leave());
  await waitInPage(page, () => window.probe.events.some(([e]) => e === 'peer-leave:' + window.probe.door.getUserId()), null, 5000, 'peer-leave never reached phone');
  const events = await page.evaluate(() => window.probe.events);
  const ok = video.framesDecoded > 30 && audio.maxLevel > 0 && audio.element && !audio.elementMuted;
  await finish({ ok, video, element: firstFrameMs, audio, events, error: ok ? undefined : 'remote media did not decode' });
} catch (e) {
  const events = await page.evaluate(() => window.probe && window.probe.events).catch(() => null);
  await finish({ ok: false, error: e.message, events });
}
