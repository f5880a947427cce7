// Events and errors against a running `roombell demo`, briefly: in the demo's room (where its
// doorbell publishes), "b" watches while "a" publishes its microphone; a's muteAudio /
// unmuteAudio reach b as mute-audio / unmute-audio (and getRemoteMutedState follows); a's leave
// reaches b as peer-leave; a UserSig signed with the wrong key makes join reject with an
// RtcError whose getCode() is 0x4004 (JOIN_ROOM_FAILED), extra code = the server's.
//
// Each check is {name, ok, ms, detail}; the result has them all under `checks`.
// Extra config: doorbell (its userId), forgedExtraCode; users a, b, forged.

import { config, deadline, finish, launch, note, openTestPage, waitInPage } from './lib.mjs';

const cfg = config();
deadline(cfg.timeoutMs || 60000);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>events (demo)</title></head>
<body>
<div id="b_remote" style="width:160px;height:120px"></div>
<script src="/trtc.js"></script>
<script>
const cfg = ${JSON.stringify(cfg)};
const { sdkAppId, roomId, users } = cfg;
const checks = [];
window.checks = checks;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function check(name, fn) {
  const t0 = performance.now();
  try {
    const detail = await fn();
    checks.push({ name, ok: true, ms: Math.round(performance.now() - t0), detail });
  } catch (e) {
    checks.push({ name, ok: false, ms: Math.round(performance.now() - t0), detail: String((e && e.stack) || e) });
  }
}
async function waitFor(pred, ms, what) {
  const end = performance.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (performance.now() > end) throw new Error(what + ' (not within ' + ms + ' ms)');
    await sleep(50);
  }
}
const EVENTS = ['stream-added', 'stream-removed', 'stream-subscribed', 'peer-join', 'peer-leave', 'mute-audio', 'unmute-audio', 'error'];
function recorder(client) {
  const seen = [];
  for (const ev of EVENTS) client.on(ev, (p) => seen.push([ev, p]));
  seen.after = (i, ev, pred = () => true) => seen.slice(i).find(([n, p]) => n === ev && pred(p));
  return seen;
}

async function run() {
  const A = users.a.userId;
  const b = TRTC.createClient({ mode: 'rtc', sdkAppId, userId: users.b.userId, userSig: users.b.userSig, autoSubscribe: false });
  const seenB = recorder(b);
  let a, aStream;

  await check('join-the-demo-room-and-see-the-doorbell', async () => {
    await b.join({ roomId });
    const [, added] = await waitFor(() => seenB.after(0, 'stream-added', (p) => p.stream.getUserId() === cfg.doorbell), 5000, 'no stream-added for the doorbell');
    return { doorbell: added.stream.getUserId(), audio: added.stream.hasAudio(), video: added.stream.hasVideo() };
  });

  await check('publish-and-subscribe', async () => {
    a = TRTC.createClient({ mode: 'rtc', sdkAppId, userId: A, userSig: users.a.userSig, autoSubscribe: false });
    await a.join({ roomId });
    aStream = TRTC.createStream({ userId: A, audio: true, video: false });
    await aStream.initialize();
    await a.publish(aStream);
    const [, added] = await waitFor(() => seenB.after(0, 'stream-added', (p) => p.stream.getUserId() === A), 5000, 'b got no stream-added for a');
    await b.subscribe(added.stream, { audio: true, video: false });
    await waitFor(() => seenB.after(0, 'stream-subscribed', (p) => p.stream.getUserId() === A), 5000, 'b got no stream-subscribed for a');
    return 'ok';
  });

  await check('mute-unmute-audio-reach-the-other-side', async () => {
    const out = [];
    for (const [act, ev, value] of [['muteAudio', 'mute-audio', true], ['unmuteAudio', 'unmute-audio', false]]) {
      const from = seenB.length;
      const t0 = performance.now();
      if (aStream[act]() !== true) throw new Error(act + ' returned false');
      await waitFor(() => seenB.after(from, ev, (p) => p.userId === A), 3000, 'b never got ' + ev);
      const state = b.getRemoteMutedState().find((s) => s.userId === A);
      if (!state || state.audioMuted !== value || !state.hasAudio) throw new Error('getRemoteMutedState ' + JSON.stringify(state));
      out.push(ev + ' in ' + Math.round(performance.now() - t0) + ' ms');
    }
    return out;
  });

  await check('leave-peer-leave', async () => {
    const from = seenB.length;
    const t0 = performance.now();
    await a.leave();
    await waitFor(() => seenB.after(from, 'peer-leave', (p) => p.userId === A), 3000, 'b got no peer-leave');
    aStream.close();
    return 'peer-leave in ' + Math.round(performance.now() - t0) + ' ms';
  });

  await check('forged-usersig-join-room-failed', async () => {
    const c = TRTC.createClient({ mode: 'rtc', sdkAppId, userId: users.forged.userId, userSig: users.forged.userSig });
    let err;
    try {
      await c.join({ roomId });
    } catch (e) {
      err = e;
    }
    if (!err) throw new Error('join with a forged UserSig resolved');
    if (err.name !== 'RtcError' || typeof err.getCode !== 'function') throw new Error('not an RtcError: ' + err);
    if (err.getCode() !== 0x4004) throw new Error('code 0x' + err.getCode().toString(16) + ': ' + err.message);
    if (cfg.forgedExtraCode !== undefined && err.getExtraCode() !== cfg.forgedExtraCode) throw new Error('extra code ' + err.getExtraCode() + ': ' + err.message);
    if (c.getIsJoined && c.getIsJoined()) throw new Error('joined anyway');
    return { code: '0x' + err.getCode().toString(16), extraCode: err.getExtraCode(), message: err.message };
  });

  await b.leave();
  window.done = true;
}
run().catch((e) => { checks.push({ name: 'run', ok: false, detail: String(e.stack || e) }); window.done = true; });
</script>
</body></html>`;

const context = await launch();
const page = await openTestPage(context, cfg.baseUrl, 'demo-events', PAGE);
try {
  await waitInPage(page, () => window.done, null, 40000, 'the checks did not finish');
  const checks = await page.evaluate(() => window.checks);
  for (const c of checks) note(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name} (${c.ms ?? '-'} ms): ${typeof c.detail === 'string' ? c.detail : JSON.stringify(c.detail)}`);
  await finish({ ok: checks.length > 0 && checks.every((c) => c.ok), checks });
} catch (e) {
  const checks = await page.evaluate(() => window.checks).catch(() => null);
  await finish({ ok: false, error: e.message, checks });
}
