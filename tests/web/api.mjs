// The TRTC API surface of web/trtc.js in Chromium against the room server: the TRTC object's
// shape, system checks and devices, createClient / createStream / join validation
// (INVALID_PARAMETER), a forged UserSig (JOIN_ROOM_FAILED with the server's extra code), the
// concurrency guard, publish / subscribe preconditions, mute-* events, stats, network-quality,
// audio-volume, setVideoProfile, DEVICE_NOT_FOUND, switchDevice while published, play options,
// switchRole in rtc mode, reconnect after the signaling socket drops, subscribing to a stream
// that is gone (API_CALL_ABORTED), off('*'), leave → peer-leave, and client-banned when the same
// userId joins from another page.
//
// Each check is {name, ok, detail}; the result has them all under `checks`.
// Users: a, b, c (valid UserSigs), forged (a UserSig signed with the wrong key, userId "mallory").

import { config, deadline, finish, launch, note, openTestPage, waitInPage } from './lib.mjs';

const cfg = config();
deadline(cfg.timeoutMs || 80000);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>api</title></head>
<body>
<div id="a_local" style="width:160px;height:120px"></div>
<div id="a_remote" style="width:160px;height:120px"></div>
<div id="b_remote" style="width:160px;height:120px"></div>
<script>
// Test hook: remember every WebSocket the SDK opens, so a check can drop one.
window.sockets = [];
window.WebSocket = class extends WebSocket {
  constructor(...args) {
    super(...args);
    window.sockets.push(this);
  }
};
</script>
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

function hex(n) {
  return '0x' + Number(n).toString(16);
}

/** The error must be TRTC's RtcError with this code (and extra code, when given). */
function expectRtcError(e, code, extra) {
  if (!e) throw new Error('expected an RtcError, got nothing');
  if (e.name !== 'RtcError' && code !== 0x1004) throw new Error('name is ' + e.name + ': ' + e.message);
  if (typeof e.getCode !== 'function') throw new Error('no getCode(): ' + e);
  if (e.getCode() !== code) throw new Error('code ' + hex(e.getCode()) + ', expected ' + hex(code) + ': ' + e.message);
  if (!/<[A-Z_0-9]+ 0x[0-9a-f]+>$/.test(e.message)) throw new Error('message does not end with <NAME 0xhex>: ' + e.message);
  if (extra !== undefined && e.getExtraCode() !== extra) throw new Error('extra code ' + e.getExtraCode() + ', expected ' + extra + ': ' + e.message);
  return e.message;
}
async function rejects(promise, code, extra) {
  try {
    await promise;
  } catch (e) {
    return expectRtcError(e, code, extra);
  }
  throw new Error('resolved; expected a rejection with ' + hex(code));
}
function throws(fn, code) {
  try {
    fn();
  } catch (e) {
    return expectRtcError(e, code);
  }
  throw new Error('did not throw; expected ' + hex(code));
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

const EVENTS = ['stream-added', 'stream-removed', 'stream-updated', 'stream-subscribed', 'connection-state-changed', 'peer-join', 'peer-leave',
  'mute-audio', 'unmute-audio', 'mute-video', 'unmute-video', 'client-banned', 'network-quality', 'audio-volume', 'error'];
/** Records every client event as [name, payload]. */
function recorder(client) {
  const seen = [];
  for (const ev of EVENTS) client.on(ev, (p) => seen.push([ev, p]));
  seen.find = (ev, pred = () => true) => Array.prototype.find.call(seen, ([n, p]) => n === ev && pred(p));
  seen.after = (i, ev, pred = () => true) => seen.slice(i).find(([n, p]) => n === ev && pred(p));
  return seen;
}
const INVALID_PARAMETER = 0x1000, INVALID_OPERATION = 0x1001, JOIN_ROOM_FAILED = 0x4004, API_CALL_ABORTED = 0x404d;

async function run() {
  const A = users.a.userId, B = users.b.userId;

  await check('trtc-object-shape', () => {
    const own = Object.keys(TRTC).sort().join(',');
    if (own !== 'Logger,VERSION,name_') throw new Error('own properties: ' + own);
    const fns = Object.getOwnPropertyNames(Object.getPrototypeOf(TRTC)).filter((n) => n !== 'constructor');
    if (fns.length !== 9) throw new Error('prototype functions: ' + fns.join(','));
    if (TRTC.VERSION !== '4.15.22') throw new Error('VERSION ' + TRTC.VERSION);
    const L = TRTC.Logger.LogLevel;
    if (L.TRACE !== 0 || L.INFO !== 2 || L.NONE !== 5) throw new Error('LogLevel ' + JSON.stringify(L));
    TRTC.Logger.setLogLevel(L.INFO);
    TRTC.Logger.enableUploadLog();
    TRTC.Logger.disableUploadLog();
    if (TRTC.ErrorCode !== undefined) throw new Error('TRTC has no runtime ErrorCode');
    return fns.join(',');
  });

  await check('check-system-requirements', async () => {
    const r = await TRTC.checkSystemRequirements();
    const d = r.detail;
    if (!r.result || !d.isWebRTCSupported || !d.isH264EncodeSupported || !d.isH264DecodeSupported || !d.isMediaDevicesSupported) throw new Error(JSON.stringify(r));
    if (TRTC.isSmallStreamSupported() !== false) throw new Error('small streams are not supported');
    if (typeof TRTC.isScreenShareSupported() !== 'boolean') throw new Error('isScreenShareSupported');
    return r;
  });

  await check('devices', async () => {
    const cams = await TRTC.getCameras();
    const mics = await TRTC.getMicrophones();
    const speakers = await TRTC.getSpeakers();
    const all = await TRTC.getDevices();
    if (cams.length < 1 || !cams[0].deviceId || !cams[0].label) throw new Error('cameras ' + JSON.stringify(cams));
    if (mics.length < 1 || mics[0].kind !== 'audioinput') throw new Error('microphones ' + JSON.stringify(mics));
    if (!Array.isArray(speakers) || all.length < cams.length + mics.length) throw new Error('devices');
    return { cameras: cams.map((c) => c.label), microphones: mics.length, speakers: speakers.length };
  });

  await check('create-client-validation', () => {
    const good = { mode: 'rtc', sdkAppId, userId: A, userSig: users.a.userSig };
    const bad = [
      undefined,
      'rtc',
      { ...good, sdkAppId: undefined },
      { ...good, sdkAppId: 0 },
      { ...good, sdkAppId: String(sdkAppId) },
      { ...good, userId: '' },
      { ...good, userId: '   ' },
      { ...good, userId: 42 },
      { ...good, userSig: '' },
      { ...good, mode: undefined },
      { ...good, mode: 'meeting' },
      { ...good, autoSubscribe: 'yes' },
      { ...good, useStringRoomId: 1 },
      { ...good, streamId: 'x'.repeat(65) },
      { ...good, userDefineRecordId: 'bad id' },
      { ...good, pureAudioPushMode: 3 },
    ];
    const messages = bad.map((c) => throws(() => TRTC.createClient(c), INVALID_PARAMETER));
    TRTC.createClient(good);
    TRTC.createClient({ ...good, mode: 'live', useStringRoomId: true, autoSubscribe: false });
    return messages.length + ' refused, e.g. ' + messages[3];
  });

  await check('create-stream-validation', () => {
    const bad = [
      undefined,
      {},
      { audio: false, video: false },
      { screen: true, video: true },
      { audio: true, screenAudio: true },
      { screenAudio: true },
      { audio: 'yes' },
      { video: true, facingMode: 'side' },
      { audio: true, microphoneId: 7 },
      { audioSource: 'not a track' },
    ];
    const messages = bad.map((c) => throws(() => TRTC.createStream(c), INVALID_PARAMETER));
    const s = TRTC.createStream({ userId: A, audio: true, video: true });
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(s.getId())) throw new Error('getId is not a uuid v4: ' + s.getId());
    if (s.getUserId() !== A) throw new Error('getUserId');
    TRTC.createStream({ screen: true });
    return messages.length + ' refused';
  });

  await check('join-room-id-validation', async () => {
    const numeric = TRTC.createClient({ mode: 'rtc', sdkAppId, userId: users.c.userId, userSig: users.c.userSig });
    const stringy = TRTC.createClient({ mode: 'rtc', sdkAppId, userId: users.c.userId, userSig: users.c.userSig, useStringRoomId: true });
    const out = [];
    for (const roomId of [0, -1, 1.5, 4294967295, 4294967296, '1234', null, undefined, NaN]) out.push(await rejects(numeric.join({ roomId }), INVALID_PARAMETER));
    for (const roomId of ['', 'a/b', 'x'.repeat(65), 'caf\\u00e9', 1234]) out.push(await rejects(stringy.join({ roomId }), INVALID_PARAMETER));
    out.push(await rejects(numeric.join({ roomId, role: 'king' }), INVALID_PARAMETER));
    out.push(await rejects(numeric.join(), INVALID_PARAMETER));
    if (numeric.getIsJoined()) throw new Error('a refused join left the client joined');
    return out.length + ' refused';
  });

  await check('forged-usersig-join-room-failed', async () => {
    const c = TRTC.createClient({ mode: 'rtc', sdkAppId, userId: users.forged.userId, userSig: users.forged.userSig });
    const states = [];
    c.on('connection-state-changed', (e) => states.push(e.state));
    let err;
    try {
      await c.join({ roomId });
    } catch (e) {
      err = e;
    }
    const message = expectRtcError(err, JOIN_ROOM_FAILED, cfg.forgedExtraCode);
    if (states[states.length - 1] !== 'DISCONNECTED') throw new Error('state after a refused join: ' + states.join(' → '));
    return { code: hex(err.getCode()), extraCode: err.getExtraCode(), message, states };
  });

  // a and b: two members with cameras.
  const a = TRTC.createClient({ mode: 'rtc', sdkAppId, userId: A, userSig: users.a.userSig });
  const b = TRTC.createClient({ mode: 'rtc', sdkAppId, userId: B, userSig: users.b.userSig, autoSubscribe: false });
  const seenA = recorder(a);
  const seenB = recorder(b);
  window.clients = { a, b };
  window.seen = { a: seenA, b: seenB };

  await check('concurrency-guard-join', async () => {
    const first = a.join({ roomId });
    const second = rejects(a.join({ roomId }), INVALID_OPERATION);
    const leaveDuring = rejects(a.leave(), INVALID_OPERATION);
    const m = await second;
    await leaveDuring;
    await first;
    await rejects(a.join({ roomId }), INVALID_OPERATION); // already joined
    return m;
  });

  const aStream = TRTC.createStream({ userId: A, audio: true, video: true });
  const bStream = TRTC.createStream({ userId: B, audio: true, video: true });

  await check('publish-preconditions', async () => {
    const out = [];
    out.push(await rejects(b.publish(bStream), INVALID_OPERATION)); // not joined
    await b.join({ roomId });
    out.push(await rejects(b.publish(bStream), INVALID_OPERATION)); // not initialized
    out.push(await rejects(b.publish({}), INVALID_PARAMETER));
    await rejects(a.switchRole('audience'), INVALID_PARAMETER); // rtc mode
    throws(() => a.destroy(), INVALID_OPERATION); // still joined
    return out;
  });

  await check('peer-join', () => waitFor(() => seenA.find('peer-join', (p) => p.userId === B), 3000, 'a never saw b join').then(() => 'ok'));

  await check('concurrency-guard-publish', async () => {
    await aStream.initialize();
    const first = a.publish(aStream);
    const m = await rejects(a.publish(aStream), INVALID_OPERATION);
    await rejects(a.unpublish(aStream), INVALID_OPERATION);
    await first;
    await rejects(a.publish(aStream), INVALID_OPERATION); // already publishing
    if (!a.isPublished()) throw new Error('not published');
    return m;
  });

  let bView; // b's RemoteStream of a
  await check('stream-added-then-subscribe-options', async () => {
    const added = await waitFor(() => seenB.find('stream-added', (p) => p.stream.getUserId() === A), 5000, 'b got no stream-added');
    bView = added[1].stream;
    if (bView.getType() !== 'main' || !bView.hasAudio() || !bView.hasVideo()) throw new Error('remote stream ' + bView.getType() + ' ' + bView.hasAudio() + ' ' + bView.hasVideo());
    await rejects(b.subscribe(bView, { audio: false, video: false }), INVALID_OPERATION);
    // autoSubscribe is off for b: nothing flows until b subscribes.
    if (Object.keys(await b.getRemoteVideoStats()).length !== 0) throw new Error('media before subscribe');
    await b.subscribe(bView, { audio: true, video: false });
    if (!seenB.find('stream-subscribed', (p) => p.stream === bView)) throw new Error('no stream-subscribed');
    await bView.play('b_remote');
    await waitFor(async () => { const s = (await b.getRemoteAudioStats())[A]; return s && s.packetsReceived > 10; }, 5000, 'no audio after an audio-only subscribe');
    const videoStats = (await b.getRemoteVideoStats())[A];
    if (videoStats && videoStats.framesDecoded > 0) throw new Error('video decoded on an audio-only subscription');
    await b.subscribe(bView); // now both
    const v = await waitFor(async () => { const s = (await b.getRemoteVideoStats())[A]; return s && s.framesDecoded > 10 && s; }, 8000, 'no video after subscribing to it');
    return v;
  });

  await check('mute-events', async () => {
    const out = [];
    for (const [act, ev, flag, value] of [
      ['muteAudio', 'mute-audio', 'audioMuted', true],
      ['unmuteAudio', 'unmute-audio', 'audioMuted', false],
      ['muteVideo', 'mute-video', 'videoMuted', true],
      ['unmuteVideo', 'unmute-video', 'videoMuted', false],
    ]) {
      const from = seenB.length;
      const t0 = performance.now();
      if (aStream[act]() !== true) throw new Error(act + ' returned false');
      await waitFor(() => seenB.after(from, ev, (p) => p.userId === A), 3000, 'b never got ' + ev);
      const state = b.getRemoteMutedState().find((s) => s.userId === A);
      if (!state || state[flag] !== value || !state.hasAudio || !state.hasVideo || state.hasSmall !== false) throw new Error('getRemoteMutedState ' + JSON.stringify(state));
      out.push(ev + ' in ' + Math.round(performance.now() - t0) + ' ms');
    }
    return out;
  });

  await check('stats', async () => {
    const lv = (await a.getLocalVideoStats())[A];
    const la = (await a.getLocalAudioStats())[A];
    const t = await a.getTransportStats();
    const ra = (await b.getRemoteAudioStats())[A];
    const rv = (await b.getRemoteVideoStats('main'))[A];
    const bt = await b.getTransportStats();
    if (!lv || !(lv.framesEncoded > 0) || !(lv.framesSent > 0) || !(lv.frameWidth > 0) || !(lv.bytesSent > 0)) throw new Error('local video ' + JSON.stringify(lv));
    if (!la || !(la.packetsSent > 0)) throw new Error('local audio ' + JSON.stringify(la));
    if (typeof t.rtt !== 'number' || typeof t.downlinksRTT !== 'object') throw new Error('transport ' + JSON.stringify(t));
    if (!ra || !(ra.bytesReceived > 0) || typeof ra.packetsLost !== 'number') throw new Error('remote audio ' + JSON.stringify(ra));
    if (!rv || !(rv.framesDecoded > 0) || !(rv.frameHeight > 0)) throw new Error('remote video ' + JSON.stringify(rv));
    if (!(A in bt.downlinksRTT)) throw new Error('downlinksRTT ' + JSON.stringify(bt));
    return { localVideo: lv, transport: t, remoteVideo: rv, bTransport: bt };
  });

  await check('network-quality', async () => {
    const from = seenB.length;
    const [, q] = await waitFor(() => seenB.after(from, 'network-quality'), 5000, 'no network-quality event');
    const [, qa] = await waitFor(() => seenA.find('network-quality', (p) => p.uplinkNetworkQuality > 0), 5000, 'a: no uplink quality');
    for (const k of ['uplinkNetworkQuality', 'downlinkNetworkQuality', 'uplinkRTT', 'uplinkLoss', 'downlinkRTT', 'downlinkLoss']) if (typeof q[k] !== 'number') throw new Error('missing ' + k);
    if (q.downlinkNetworkQuality < 1 || q.downlinkNetworkQuality > 2) throw new Error('loopback downlink quality ' + JSON.stringify(q));
    if (qa.uplinkNetworkQuality < 1 || qa.uplinkNetworkQuality > 2) throw new Error('loopback uplink quality ' + JSON.stringify(qa));
    return { b: q, a: qa };
  });

  await check('audio-volume', async () => {
    b.enableAudioVolumeEvaluation(100);
    const from = seenB.length;
    const [, v] = await waitFor(() => seenB.after(from, 'audio-volume', (p) => p.result.some((r) => r.userId === A)), 3000, 'no audio-volume with a');
    // The fake microphone beeps: some event within a few seconds carries a level above 0.
    const loud = await waitFor(() => seenB.slice(from).find(([n, p]) => n === 'audio-volume' && p.result.some((r) => r.userId === A && r.audioVolume > 0)), 4000, 'a was never heard above 0');
    b.enableAudioVolumeEvaluation(-1);
    await sleep(250);
    const count = seenB.filter(([n]) => n === 'audio-volume').length;
    await sleep(400);
    if (seenB.filter(([n]) => n === 'audio-volume').length !== count) throw new Error('interval -1 did not stop audio-volume');
    const r = loud[1].result.find((x) => x.userId === A);
    if (r.stream !== bView) throw new Error('audio-volume stream is not the RemoteStream');
    return { audioVolume: r.audioVolume };
  });

  await check('set-video-profile', async () => {
    await aStream.setVideoProfile('360p');
    const s360 = aStream.getVideoTrack().getSettings();
    const pc = a.publication_.pc; // white-box: the sender's bitrate cap
    const enc = pc.getSenders().find((x) => x.track && x.track.kind === 'video').getParameters().encodings[0];
    if (s360.width !== 640 || s360.height !== 360) throw new Error('360p gave ' + s360.width + 'x' + s360.height);
    if (enc.maxBitrate !== 800000) throw new Error('360p maxBitrate ' + enc.maxBitrate);
    await aStream.setVideoProfile({ width: 320, height: 240, frameRate: 15, bitrate: 300 });
    const s240 = aStream.getVideoTrack().getSettings();
    if (s240.width !== 320 || s240.height !== 240) throw new Error('custom profile gave ' + s240.width + 'x' + s240.height);
    await aStream.setVideoProfile('no-such-profile'); // → 480p_2
    const s480 = aStream.getVideoTrack().getSettings();
    const enc2 = pc.getSenders().find((x) => x.track && x.track.kind === 'video').getParameters().encodings[0];
    if (s480.width !== 640 || s480.height !== 480 || enc2.maxBitrate !== 500000) throw new Error('unknown profile gave ' + s480.width + 'x' + s480.height + ' ' + enc2.maxBitrate);
    aStream.setAudioProfile('high');
    return { s360, s240, s480 };
  });

  await check('initialize-device-not-found', async () => {
    const missing = TRTC.createStream({ userId: A, video: true, cameraId: 'no-such-camera' });
    return rejects(missing.initialize(), 0x1003);
  });

  await check('switch-device-while-published', async () => {
    const before = aStream.getAudioTrack();
    const current = before.getSettings().deviceId;
    const other = (await TRTC.getMicrophones()).find((m) => m.deviceId !== current && m.deviceId !== 'default');
    if (!other) throw new Error('only one microphone');
    await aStream.switchDevice('audio', other.deviceId);
    const after = aStream.getAudioTrack();
    if (after === before || after.readyState !== 'live' || before.readyState !== 'ended') throw new Error('the track was not replaced');
    const sender = a.publication_.pc.getSenders().find((x) => x.track && x.track.kind === 'audio'); // white-box
    if (sender.track !== after) throw new Error('the sender still sends the old track');
    await rejects(aStream.switchDevice('screen', other.deviceId), INVALID_PARAMETER);
    return after.label;
  });

  await check('play-options', async () => {
    await rejects(aStream.play('no-such-element'), INVALID_PARAMETER);
    await rejects(aStream.play('a_local', { objectFit: 'none' }), INVALID_PARAMETER);
    await aStream.play('a_local', { objectFit: 'contain' });
    const div = document.getElementById('player_' + aStream.getId());
    const video = div && div.querySelector('video');
    if (!video || video.style.objectFit !== 'contain' || !/rotateY/.test(video.style.transform)) throw new Error('player ' + (div && div.innerHTML));
    if (div.querySelector('audio')) throw new Error('a local stream plays no audio by default');
    if (!aStream.isPlaying()) throw new Error('isPlaying');
    aStream.stop();
    if (document.getElementById('player_' + aStream.getId())) throw new Error('stop() left the player');
    return 'ok';
  });

  await check('reconnect-after-socket-drop', async () => {
    // b publishes too, and a watches b, so that a has both directions to restore.
    await bStream.initialize();
    await b.publish(bStream);
    const [, added] = await waitFor(() => seenA.find('stream-added', (p) => p.stream.getUserId() === B), 5000, 'a got no stream-added for b');
    const aView = added.stream;
    await a.subscribe(aView);
    await aView.play('a_remote');
    await waitFor(async () => { const s = (await a.getRemoteVideoStats())[B]; return s && s.framesDecoded > 5; }, 8000, 'a decodes no video of b');
    const fromA = seenA.length;
    const fromB = seenB.length;
    const socket = window.sockets.filter((s) => s.readyState === WebSocket.OPEN).find((s) => s === a.ws_);
    if (!socket) throw new Error("cannot find a's socket");
    const t0 = performance.now();
    socket.close(); // as if the network dropped it
    await waitFor(() => seenA.after(fromA, 'connection-state-changed', (p) => p.state === 'RECONNECTING'), 2000, 'no RECONNECTING');
    await waitFor(() => seenA.after(fromA, 'connection-state-changed', (p) => p.state === 'CONNECTED'), 10000, 'no CONNECTED again');
    const rejoinMs = Math.round(performance.now() - t0);
    // a keeps its RemoteStream of b (no stream-removed / stream-added for it) and it plays again.
    if (seenA.after(fromA, 'stream-removed') || seenA.after(fromA, 'stream-added')) throw new Error('a lost its view of b: ' + JSON.stringify(seenA.slice(fromA).map(([n]) => n)));
    await waitFor(async () => { const s = (await a.getRemoteVideoStats())[B]; return s && s.framesDecoded > 5; }, 8000, 'a decodes no video of b after the rejoin');
    // b saw a go and come back, with a new stream; b subscribes to it and decodes it.
    const [, again] = await waitFor(() => seenB.after(fromB, 'stream-added', (p) => p.stream.getUserId() === A), 10000, 'b got no new stream-added for a');
    if (!seenB.after(fromB, 'stream-removed', (p) => p.stream.getUserId() === A)) throw new Error('b got no stream-removed for the old stream');
    if (!seenB.after(fromB, 'peer-join', (p) => p.userId === A)) throw new Error('b got no peer-join for a');
    bView = again.stream;
    await b.subscribe(bView);
    await bView.play('b_remote');
    const v = await waitFor(async () => { const s = (await b.getRemoteVideoStats())[A]; return s && s.framesDecoded > 5 && s; }, 8000, 'b decodes no video of a after the rejoin');
    return { rejoinMs, restoredMs: Math.round(performance.now() - t0), bFrames: v.framesDecoded };
  });

  await check('subscribe-to-a-gone-stream', async () => {
    const old = bView;
    const from = seenB.length;
    await a.unpublish(aStream);
    await waitFor(() => seenB.after(from, 'stream-removed', (p) => p.stream === old), 3000, 'b got no stream-removed');
    return rejects(b.subscribe(old), API_CALL_ABORTED);
  });

  await check('off-star', async () => {
    const c = TRTC.createClient({ mode: 'rtc', sdkAppId, userId: users.c.userId, userSig: users.c.userSig });
    let called = 0;
    c.on('peer-join', () => called++);
    c.on('connection-state-changed', () => called++);
    c.off('*');
    await c.join({ roomId });
    await sleep(300);
    await c.leave();
    c.destroy();
    if (called !== 0) throw new Error(called + ' handlers ran after off("*")');
    return 'ok';
  });

  await check('leave-peer-leave', async () => {
    const from = seenB.length;
    await a.leave();
    await waitFor(() => seenB.after(from, 'peer-leave', (p) => p.userId === A), 3000, 'b got no peer-leave');
    if (a.getIsJoined()) throw new Error('still joined');
    a.destroy();
    aStream.close();
    return 'ok';
  });
  window.done = true;
}
run().catch((e) => { checks.push({ name: 'run', ok: false, detail: String(e.stack || e) }); window.done = true; });
</script>
</body></html>`;

const context = await launch();
const page = await openTestPage(context, cfg.baseUrl, 'api', PAGE);
try {
  await waitInPage(page, () => window.done, null, cfg.checksMs || 70000, 'the checks did not finish');
  // client-banned: the same userId as b joins from another page; b is put out with reason kick.
  const other = await openTestPage(
    context,
    cfg.baseUrl,
    'api-kick',
    `<!doctype html><script src="/trtc.js"></script><script>
      const cfg = ${JSON.stringify(cfg)};
      const c = TRTC.createClient({ mode: 'rtc', sdkAppId: cfg.sdkAppId, userId: cfg.users.b.userId, userSig: cfg.users.b.userSig });
      c.join({ roomId: cfg.roomId }).then(() => (window.joined = true), (e) => (window.joined = String(e)));
    </script>`,
    'kick'
  );
  await waitInPage(other, () => window.joined, null, 5000, 'the second b did not join');
  const kick = await waitInPage(
    page,
    () => {
      const e = window.seen.b.find('client-banned');
      const b = window.clients.b;
      return e ? { reason: e[1].reason, message: e[1].message, joined: b.getIsJoined(), state: b.connectionState_ } : null;
    },
    null,
    5000,
    'b got no client-banned'
  ).catch((e) => ({ error: e.message }));
  const checks = await page.evaluate(() => window.checks);
  checks.push({ name: 'client-banned-on-kick', ok: kick.reason === 'kick' && !kick.joined && kick.state === 'DISCONNECTED', detail: kick });
  for (const c of checks) note(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name} (${c.ms ?? '-'} ms): ${typeof c.detail === 'string' ? c.detail : JSON.stringify(c.detail)}`);
  await finish({ ok: checks.length > 0 && checks.every((c) => c.ok), checks });
} catch (e) {
  const checks = await page.evaluate(() => window.checks).catch(() => null);
  await finish({ ok: false, error: e.message, checks });
}
