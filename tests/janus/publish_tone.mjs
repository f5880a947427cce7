// Chromium publishes its microphone (a WAV of a 1 kHz tone, through Chromium's fake capture)
// into a Janus VideoRoom, speaking the Janus WebSocket API itself from the page: create,
// attach, join as publisher, publish with an offer, trickle. Run by tests/janus.rs.
//
// ROOMBELL_WEB_TEST (JSON): {janusUrl, room, userId, fakeAudioFile, timeoutMs?}
// stdout: `PUBLISHED` once audio flows, then (after `done` on stdin) `RESULT {json}`.

import http from 'node:http';
import {
  config, deadline, finish, launch, mirrorConsole, note, signal, waitForStdin, waitInPage,
} from '../web/lib.mjs';

const cfg = config();
deadline(cfg.timeoutMs || 90000);

// Runs in the page: the smallest Janus publisher, with no library in between.
const PAGE_SCRIPT = `
window.publishToJanus = async ({ janusUrl, room, userId }) => {
  const ws = new WebSocket(janusUrl, 'janus-protocol');
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = () => fail(new Error('WebSocket to ' + janusUrl + ' failed'));
  });
  let next = 0;
  const waiting = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    const resolve = waiting.get(msg.transaction);
    if (!resolve) return;
    // A plugin message ('m…') is answered by its event; its ack only says "queued".
    if (msg.janus === 'ack' && msg.transaction.startsWith('m')) return;
    waiting.delete(msg.transaction);
    resolve(msg);
  };
  const send = (msg, prefix = 'c') => new Promise((resolve) => {
    const transaction = prefix + (++next);
    waiting.set(transaction, resolve);
    ws.send(JSON.stringify({ ...msg, transaction }));
  });
  const created = await send({ janus: 'create' });
  if (created.janus !== 'success') throw new Error('create: ' + JSON.stringify(created));
  const session = created.data.id;
  window.keepalive = setInterval(() => send({ janus: 'keepalive', session_id: session }), 20000);
  const attached = await send({ janus: 'attach', session_id: session, plugin: 'janus.plugin.videoroom' });
  const handle = attached.data.id;
  const message = (body, jsep) =>
    send({ janus: 'message', session_id: session, handle_id: handle, body, jsep }, 'm');
  const joined = await message({ request: 'join', ptype: 'publisher', room, display: userId });
  const joinedData = joined.plugindata && joined.plugindata.data;
  if (!joinedData || joinedData.videoroom !== 'joined') throw new Error('join: ' + JSON.stringify(joined));
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  const pc = new RTCPeerConnection();
  window.pc = pc;
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  pc.onicecandidate = (e) => {
    ws.send(JSON.stringify({
      janus: 'trickle', session_id: session, handle_id: handle, transaction: 't' + (++next),
      candidate: e.candidate ? e.candidate.toJSON() : { completed: true },
    }));
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const configured = await message({ request: 'publish', audio: true, video: false },
    { type: offer.type, sdp: offer.sdp });
  if (!configured.jsep) throw new Error('publish: ' + JSON.stringify(configured));
  await pc.setRemoteDescription(configured.jsep);
  return { feed: joinedData.id };
};
window.audioSent = async () => {
  if (!window.pc) return 0;
  const stats = await window.pc.getStats();
  let sent = 0;
  stats.forEach((s) => { if (s.type === 'outbound-rtp' && s.kind === 'audio') sent = s.packetsSent; });
  return sent;
};
`;
const PAGE = `<!doctype html><meta charset="utf-8"><title>Janus publisher</title><script>${PAGE_SCRIPT}</script>`;

// The page comes from 127.0.0.1 so that Chromium lets it reach Janus's private address.
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end(PAGE);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
server.unref();
const pageUrl = `http://127.0.0.1:${server.address().port}/`;

const context = await launch({ fakeAudioFile: cfg.fakeAudioFile });
const page = await context.newPage();
mirrorConsole(page, 'janus-publisher');
await page.goto(pageUrl);
try {
  const published = await page.evaluate((c) => window.publishToJanus(c), cfg);
  note(`joined as feed ${published.feed}, publishing`);
  await waitInPage(page, () => window.pc && window.pc.connectionState === 'connected', null, 20000,
    'the publishing connection never connected');
  await waitInPage(page, async () => (await window.audioSent()) > 25, null, 10000,
    'no audio packets went out');
  signal('PUBLISHED');
  await waitForStdin('done');
  const audio = await page.evaluate(() => window.audioSent());
  await finish({ ok: true, audio, feed: published.feed });
} catch (e) {
  await finish({ ok: false, error: String(e && e.message ? e.message : e) });
}
