// scripts/bench.sh's driver: runs every figure of docs/benchmarks.md against a release build and
// writes bench/out/results.json. Usage: node bench/run.mjs [--quick] (from the repository root).
//
// Processes: `roombell room` (its own process, so its CPU is its own), `roombell run` devices
// with temporary configs, paced `roombell record` (the bare-pipeline reference), the
// bench_subscribers example (Rust clients), and Debian's Chromium via playwright-core with
// the launch flags of tests/web/lib.mjs. One clock: everything runs on this machine.

import { spawn, execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch } from '../tests/web/lib.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BIN = process.env.ROOMBELL_BIN || path.join(ROOT, 'target/release/roombell');
const SUBS_BIN = process.env.ROOMBELL_SUBS_BIN || path.join(ROOT, 'target/release/examples/bench_subscribers');
const QUICK = process.argv.includes('--quick');
// BENCH_ONLY=startup,room … runs only those parts (for experiments; the report then has gaps).
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : null;
const want = (part) => !ONLY || ONLY.includes(part);
const OUT = path.join(ROOT, 'bench/out');
fs.mkdirSync(OUT, { recursive: true });
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'roombell-bench-'));
const SDK_APP_ID = 1400000000;
const KEY = '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e';
const ROOM = 1234;
const ROOM_SFU = 5678;
const DEVICE = 'doorbell-01';

// Durations (seconds / counts): full, quick.
const P = QUICK
  ? { g2gSec: 12, g2g720Sec: 8, cpuSec: 12, refSec: 12, bursts: 12, callSec: 60, floorSec: 8, startups: 5, roomSec: 8 }
  : { g2gSec: 25, g2g720Sec: 15, cpuSec: 30, refSec: 30, bursts: 40, callSec: 600, floorSec: 20, startups: 20, roomSec: 20 };

const unixNow = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const note = (...a) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1)}s] ${a.join(' ')}\n`);
const children = new Set();
process.on('exit', () => {
  for (const c of children) try { c.kill('SIGKILL'); } catch {}
  if (!process.env.BENCH_KEEP_TMP) fs.rmSync(TMP, { recursive: true, force: true });
});

// ---- /proc ---------------------------------------------------------------------------------
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14, 15)
}
function rssMb(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : null;
}
/** CPU seconds per second of `pid` over `sec` seconds (wall clock from the same reads). */
async function cpuWindow(pid, sec) {
  const c0 = cpuSeconds(pid), w0 = performance.now();
  await sleep(sec * 1000);
  const c1 = cpuSeconds(pid), w1 = performance.now();
  return { cpuPerSec: (c1 - c0) / ((w1 - w0) / 1000), seconds: (w1 - w0) / 1000, cpu: c1 - c0 };
}

// ---- processes -----------------------------------------------------------------------------
function userSig(userId) {
  return execFileSync(BIN, ['usersig', 'gen', '--sdk-app-id', String(SDK_APP_ID), '--key', KEY, '--user-id', userId, '--expire', '86400']).toString().trim();
}
const LOG_ENV = { ...process.env, NO_COLOR: '1', RUST_LOG: 'info,webrtc=warn,rtc=warn,rtc_ice=error,rtc_dtls=error' };
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

function startRoom() {
  const config = path.join(TMP, 'room.toml');
  fs.writeFileSync(config, `[room]\nlisten = "127.0.0.1:0"\nsdk_app_id = ${SDK_APP_ID}\nsecret_key = "${KEY}"\nweb_root = "${path.join(ROOT, 'web')}"\nmedia_ip = "127.0.0.1"\nmax_members_per_room = 64\n`);
  const child = spawn(BIN, ['room', '--config', config], { env: LOG_ENV, stdio: ['ignore', 'pipe', fs.openSync(path.join(OUT, 'room.log'), 'w')] });
  children.add(child);
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/listening on http:\/\/([^/\s]+)\//);
      if (m) resolve({ child, addr: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`room server exited (${code})`)));
  });
}

let deviceCount = 0;
function deviceConfig({ room, width, height, speakerFile }) {
  const dir = path.join(TMP, `device-${++deviceCount}`);
  fs.mkdirSync(dir, { recursive: true });
  const config = path.join(dir, 'roombell.toml');
  const speaker = speakerFile ? `backend = "wav"\nfile = "${speakerFile}"` : 'backend = "null"';
  fs.writeFileSync(config, `[device]
server = "ws://${roomAddr}/ws"
sdk_app_id = ${SDK_APP_ID}
secret_key = "${KEY}"
user_id = "${DEVICE}"
room_id = ${room}
media_ip = "127.0.0.1"
state_dir = "${path.join(TMP, 'state')}"
max_retry_ms = 1000

[video]
backend = "test"
width = ${width}
height = ${height}
fps = 30

[audio]
backend = "tone"
tone_hz = 440.0

[speaker]
${speaker}
`);
  return { dir, config };
}

function startDevice(opts) {
  const { dir, config } = deviceConfig(opts);
  const log = path.join(dir, 'device.log');
  const fd = fs.openSync(log, 'w');
  const spawnUnixMs = unixNow();
  const child = spawn(BIN, ['run', '--config', config], { env: LOG_ENV, stdio: ['ignore', 'ignore', fd] });
  fs.closeSync(fd);
  children.add(child);
  const exited = new Promise((r) => child.on('exit', (code, sig) => { children.delete(child); r({ code, sig }); }));
  return { child, pid: child.pid, log, config, spawnUnixMs, exited, text: () => stripAnsi(fs.readFileSync(log, 'utf8')) };
}
async function stopProcess(p, ms = 5000) {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const done = await Promise.race([p.exited, sleep(ms).then(() => null)]);
  if (!done) { p.child.kill('SIGKILL'); await p.exited; }
}
async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}
const logUnixMs = (line) => {
  const m = line.match(/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)/);
  if (!m) return null;
  const frac = (m[1].match(/\.(\d+)Z/) || [null, '0'])[1];
  return Date.parse(m[1].replace(/\.\d+Z/, 'Z')) + Number('0.' + frac) * 1000;
};

// ---- statistics ----------------------------------------------------------------------------
function pct(values, p) {
  const v = [...values].sort((a, b) => a - b);
  if (!v.length) return null;
  const i = (v.length - 1) * p;
  const lo = Math.floor(i), hi = Math.ceil(i);
  return v[lo] + (v[hi] - v[lo]) * (i - lo);
}
function summary(values) {
  return { n: values.length, p50: pct(values, 0.5), p95: pct(values, 0.95), max: values.length ? Math.max(...values) : null, min: values.length ? Math.min(...values) : null };
}
function framesSummary(frames, extra = {}) {
  const edt = frames.map((f) => f.edt - f.cap), cb = frames.map((f) => f.cb - f.cap);
  const recv = frames.filter((f) => f.recv).map((f) => f.recv - f.cap);
  const ns = frames.map((f) => f.n);
  let gaps = 0;
  for (let i = 1; i < ns.length; i++) if (ns[i] > ns[i - 1] + 1) gaps += ns[i] - ns[i - 1] - 1;
  const size = frames.length ? `${frames[0].w}x${frames[0].h}` : null;
  return { display: summary(edt), callback: summary(cb), receive: summary(recv), frames: frames.length, missing: gaps, size, ...extra };
}

// ---- the WAV sink's clock (mouth-to-ear) ---------------------------------------------------
// The device's wav speaker is paced by a drift-free deadline clock: 20 ms frame f is written at
// anchor + 20·f ms. Its BufWriter (8 KiB) flushes whole frames; each flush is one write(2) that
// inotify reports. A worker thread stamps every size change; from those, anchor estimates.
const WATCHER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const events = [];
let last = 0;
const look = () => {
  const t = performance.timeOrigin + performance.now();
  let size = 0;
  try { size = fs.statSync(workerData.file).size; } catch { return; }
  if (size > last) { events.push([t, size]); last = size; }
};
const watcher = fs.watch(workerData.file, look);
const poll = setInterval(look, 5);
parentPort.on('message', () => { watcher.close(); clearInterval(poll); parentPort.postMessage(events); });
`;
function watchWav(file) {
  const worker = new Worker(WATCHER, { eval: true, workerData: { file } });
  return { stop: () => new Promise((r) => { worker.once('message', (ev) => { worker.terminate(); r(ev); }); worker.postMessage('stop'); }) };
}
const HEADER = 44, FRAME_BYTES = 1920, FRAMES_PER_HEADER_UPDATE = 50;
/** [unixMs, frameIndex] of each observed flush: the frame being written when it happened. */
function flushDeadlines(events) {
  const out = [];
  for (const [t, size] of events) {
    const d = size - HEADER;
    if (d <= 0 || d % FRAME_BYTES) continue;
    const frames = d / FRAME_BYTES;
    // A header update (every 50 frames) flushes after appending frame f; a full buffer flushes
    // before appending it.
    const f = frames % FRAMES_PER_HEADER_UPDATE === 0 ? frames - 1 : frames;
    out.push([t, f]);
  }
  return out;
}
function wavSamples(file) {
  const b = fs.readFileSync(file);
  const pos = b.indexOf('data');
  const start = pos + 8;
  const n = Math.floor((b.length - start) / 2);
  const s = new Int16Array(n);
  for (let i = 0; i < n; i++) s[i] = b.readInt16LE(start + 2 * i);
  return s;
}
/** Sample indices where a burst starts: 1 ms blocks, peak > threshold after ≥ 150 ms quiet. */
function onsets(samples, threshold) {
  const out = [];
  let quiet = 0;
  for (let i = 0; i + 48 <= samples.length; i += 48) {
    let peak = 0;
    for (let k = i; k < i + 48; k++) peak = Math.max(peak, Math.abs(samples[k]));
    if (peak > threshold) {
      if (quiet >= 150) {
        let k = i;
        while (Math.abs(samples[k]) <= threshold) k++;
        out.push(k);
      }
      quiet = 0;
    } else quiet++;
  }
  return out;
}

// ---- main ----------------------------------------------------------------------------------
let roomAddr;
const R = { quick: QUICK, params: P, startedAt: new Date().toISOString(), loadStart: os.loadavg() };
const save = () => fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(R, null, 1));

async function main() {
  const room = await startRoom();
  roomAddr = room.addr;
  note(`room server at ${roomAddr}, pid ${room.child.pid}`);
  const baseUrl = `http://${roomAddr}/`;
  const context = await launch();
  const page = await context.newPage();
  page.on('pageerror', (e) => note('page error:', e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/404/.test(m.text())) note('page console:', m.text()); });
  await page.goto(new URL('__test/bench.html', baseUrl).href);
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>bench</title></head><body>
<div id="player" style="width:160px;height:120px"></div>
<script src="/trtc.js"></script><script>${fs.readFileSync(path.join(ROOT, 'bench/page.js'), 'utf8')}</script></body></html>`;
  await page.setContent(html, { waitUntil: 'load' });
  if (!(await page.evaluate(() => window.bench.selfTest()))) throw new Error('frame-code CRC self-test failed');
  R.chromium = await page.evaluate(() => navigator.userAgent);
  await page.evaluate((cfg) => window.bench.startViewer(cfg), { sdkAppId: SDK_APP_ID, userId: 'home', userSig: userSig('home'), roomId: ROOM, publisher: DEVICE });
  const streams = () => page.evaluate(() => window.bench.viewer.streams.map((s) => ({ ...s })));
  const setRecording = (on) => page.evaluate((on) => { const v = window.bench.viewer; v.recording = on; if (on) v.frames = []; }, on);
  const takeFrames = () => page.evaluate(() => window.bench.viewer.frames);

if (want('reference')) {
  // 3 (reference): paced `roombell record`, same config as the device, no network.
  const refCfg = deviceConfig({ room: ROOM, width: 640, height: 480 });
  note(`reference: paced roombell record, ${P.refSec} s`);
  {
    const child = spawn(BIN, ['record', '--config', refCfg.config, '--seconds', String(P.refSec + 4), '--video', '/dev/null', '--audio', '/dev/null'], { env: LOG_ENV, stdio: 'ignore' });
    children.add(child);
    await sleep(2000);
    R.reference = { ...(await cpuWindow(child.pid, P.refSec)), rssMb: rssMb(child.pid) };
    await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
    children.delete(child);
  }
  save(); note(`reference: ${(R.reference.cpuPerSec * 100).toFixed(1)} % of a core`);

}
  if (want('call')) {
  // The call: 640x480@30 + Opus to the room, the page subscribed.
  const speakerFile = path.join(TMP, 'speaker.wav');
  const streamsBefore = (await streams()).length;
  const call = startDevice({ room: ROOM, width: 640, height: 480, speakerFile });
  note(`call: device pid ${call.pid}, ${P.callSec} s`);
  const rss = [];
  const sampler = setInterval(() => { try { rss.push([(unixNow() - call.spawnUnixMs) / 1000, rssMb(call.pid)]); } catch {} }, 10000);
  await waitFor(async () => { const s = await streams(); return s.length > streamsBefore && s[s.length - 1].firstFrame; }, 30000, 'first frame of the call');
  await sleep(3000);
  // 1 + 3: glass-to-glass at 640x480 and the device's CPU, in the same window.
  await setRecording(true);
  const cpuP = cpuWindow(call.pid, P.cpuSec);
  await sleep(P.g2gSec * 1000);
  await setRecording(false);
  R.g2g640 = framesSummary(await takeFrames());
  R.device = await cpuP;
  save(); note(`g2g 640x480 p50 ${R.g2g640.display.p50} ms over ${R.g2g640.frames} frames; device ${(R.device.cpuPerSec * 100).toFixed(1)} %`);

  // 2: mouth-to-ear, tone bursts from the page into the device's wav speaker.
  const watch = watchWav(speakerFile);
  const talk = await page.evaluate((cfg) => window.bench.startTalker(cfg), { sdkAppId: SDK_APP_ID, userId: 'talker', userSig: userSig('talker'), roomId: ROOM, hz: 1000 });
  await sleep(2000);
  const bursts = [];
  for (let i = 0; i < P.bursts; i++) {
    bursts.push(await page.evaluate(() => window.bench.burst(150, 0.5)));
    await sleep(600 + Math.random() * 60);
  }
  await sleep(1000);
  await page.evaluate(() => window.bench.stopTalker());
  const events = await watch.stop();
  R.m2e = analyseM2e(speakerFile, events, bursts, call.text());
  R.m2e.audioContext = talk;
  save(); note(`m2e p50 ${R.m2e.p50} ms over ${R.m2e.n} bursts`);

  // 5: the rest of the call, RSS every 10 s.
  const left = P.callSec * 1000 - (unixNow() - call.spawnUnixMs);
  if (left > 0) await sleep(left);
  clearInterval(sampler);
  rss.push([(unixNow() - call.spawnUnixMs) / 1000, rssMb(call.pid)]);
  await stopProcess(call);
  R.memory = analyseRss(rss);
  save(); note(`rss steady ${R.memory.steadyMb} MB, growth ${R.memory.growthMb} MB`);

}
  if (want('g2g720')) {
  // 1: glass-to-glass at 1280x720.
  {
    const before = (await streams()).length;
    const dev = startDevice({ room: ROOM, width: 1280, height: 720 });
    await waitFor(async () => { const s = await streams(); return s.length > before && s[s.length - 1].firstFrame; }, 30000, 'first frame at 720p');
    await sleep(3000);
    await setRecording(true);
    await sleep(P.g2g720Sec * 1000);
    await setRecording(false);
    R.g2g720 = framesSummary(await takeFrames());
    await stopProcess(dev);
    save(); note(`g2g 1280x720 p50 ${R.g2g720.display.p50} ms over ${R.g2g720.frames} frames`);
  }

}
  if (want('videoonly')) {
  // 1 (diagnostic): 640x480 again, the page subscribing to video only — no audio stream for
  // Chromium to synchronise the video with.
  {
    await page.evaluate(() => { window.bench.viewer.videoOnly = true; });
    const before = (await streams()).length;
    const dev = startDevice({ room: ROOM, width: 640, height: 480 });
    await waitFor(async () => { const s = await streams(); return s.length > before && s[s.length - 1].firstFrame; }, 30000, 'first frame, video only');
    await sleep(3000);
    await setRecording(true);
    await sleep(P.g2g720Sec * 1000);
    await setRecording(false);
    R.g2g640video = framesSummary(await takeFrames());
    await stopProcess(dev);
    await page.evaluate(() => { window.bench.viewer.videoOnly = false; });
    save(); note(`g2g 640x480 video-only p50 ${R.g2g640video.display.p50} ms over ${R.g2g640video.frames} frames`);
  }

}
  if (want('floor')) {
  // 1: the browser's floor, in-page loopback, same sizes.
  for (const [key, width, height] of [['floor640', 640, 480], ['floor720', 1280, 720]]) {
    const r = await page.evaluate((a) => window.bench.floor(a), { width, height, fps: 30, seconds: P.floorSec });
    R[key] = framesSummary(r.frames, { unread: r.unread, codec: r.codec, painted: r.painted });
    save(); note(`floor ${width}x${height} p50 ${R[key].display.p50} ms over ${R[key].frames} frames (${r.codec})`);
  }

}
  if (want('startup')) {
  // 4: start-up, with the page waiting in the room. Run 0 is a warm-up (not counted).
  R.startup = [];
  for (let i = 0; i <= P.startups; i++) {
    await sleep(500);
    const before = (await streams()).length;
    const dev = startDevice({ room: ROOM, width: 640, height: 480 });
    const s = await waitFor(async () => { const s = await streams(); return s.length > before && s[s.length - 1].firstFrame && s[s.length - 1]; }, 30000, 'first frame in start-up run');
    const line = await waitFor(() => dev.text().split('\n').find((l) => /first video frame sent/.test(l)), 10000, 'first_rtp_ms in the log');
    const ready = await waitFor(() => dev.text().split('\n').find((l) => /ready_ms=/.test(l)), 3000, 'ready_ms').catch(() => null);
    const run = {
      firstRtpMs: Number(line.match(/first_rtp_ms=(\d+)/)[1]),
      firstRtpSinceSpawnMs: logUnixMs(line) - dev.spawnUnixMs,
      readyMs: ready ? Number(ready.match(/ready_ms=(\d+)/)[1]) : null,
      ttffMs: s.firstFrame - dev.spawnUnixMs,
      streamAddedMs: s.addedAt - dev.spawnUnixMs,
      warmup: i === 0,
    };
    R.startup.push(run);
    save(); note(`start-up ${i}: ${JSON.stringify(run)}`);
    await stopProcess(dev);
    await waitFor(() => page.evaluate(() => window.bench.viewer.current === null), 10000, 'stream removed').catch(() => {});
  }

}
  if (want('room')) {
  // 6: the room server with 1 publisher and 1 / 5 / 20 Rust subscribers, in another room.
  {
    const dev = startDevice({ room: ROOM_SFU, width: 640, height: 480 });
    await waitFor(() => /first video frame sent|ready_ms/.test(dev.text()), 30000, 'device in the SFU room');
    await sleep(2000);
    R.room = [{ subscribers: 0, ...(await cpuWindow(room.child.pid, Math.min(P.roomSec, 10))), rssMb: rssMb(room.child.pid) }];
    for (const n of [1, 5, 20]) {
      const child = spawn(SUBS_BIN, [`ws://${roomAddr}/ws`, String(SDK_APP_ID), KEY, String(ROOM_SFU), DEVICE, String(n), String(P.roomSec + 4)], { env: { ...process.env, RUST_LOG: 'error' }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let out = '', err = '';
      child.on('error', (e) => { err += String(e); });
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const exited = new Promise((r) => child.on('exit', r));
      await waitFor(() => /READY/.test(out) || child.exitCode !== null, 90000, `${n} subscribers ready`);
      if (!/READY/.test(out)) throw new Error(`bench_subscribers ${n}: ${err.slice(-500)}`);
      await sleep(2000);
      const w = await cpuWindow(room.child.pid, P.roomSec);
      const entry = { subscribers: n, ...w, rssMb: rssMb(room.child.pid), clientCpuPerSec: null };
      await exited;
      children.delete(child);
      const done = out.match(/DONE (\d+) (\d+)/);
      if (done) { entry.packets = Number(done[1]); entry.clientDropped = Number(done[2]); }
      R.room.push(entry);
      save(); note(`room with ${n} subscribers: ${(w.cpuPerSec * 100).toFixed(1)} %, ${entry.rssMb} MB`);
      await sleep(1500);
    }
    await stopProcess(dev);
  }

}
    await context.close().catch(() => {});
  await stopProcess({ child: room.child, exited: new Promise((r) => room.child.on('exit', r)) });
  R.finishedAt = new Date().toISOString();
  R.loadEnd = os.loadavg();
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(R, null, 1));
  note(`wrote ${path.join(OUT, 'results.json')}`);
}

function analyseM2e(file, events, bursts, log) {
  const samples = wavSamples(file);
  const flushes = flushDeadlines(events);
  // Anchor estimates: every flush happened at or after its frame's deadline, so each gives an
  // upper bound of the anchor; the smallest nearby one is the estimate.
  const anchors = flushes.map(([t, f]) => [f, t - 20 * f]);
  const anchorNear = (frame) => {
    let best = Infinity;
    for (const [f, a] of anchors) if (Math.abs(f - frame) <= 150) best = Math.min(best, a);
    return best;
  };
  // Slips: the clock re-anchors if the speaker thread falls 200 ms behind.
  let slips = 0;
  const sorted = anchors.map(([, a]) => a);
  for (let i = 25; i < sorted.length; i++) {
    const prev = Math.min(...sorted.slice(i - 25, i));
    if (sorted[i] - prev > 30 && Math.min(...sorted.slice(i, i + 25)) - prev > 15) { slips++; i += 25; }
  }
  const speakerLine = log.split('\n').find((l) => /speaker starting/.test(l));
  const logAnchor = speakerLine ? logUnixMs(speakerLine) : null;
  const found = onsets(samples, 2000);
  const ears = found.map((n) => anchorNear(Math.floor(n / 960)) + n / 48);
  const lat = [];
  for (const b of bursts) {
    const ear = ears.find((e) => e > b && e < b + 600);
    if (ear !== undefined) lat.push(ear - b);
  }
  const s = summary(lat);
  const first = anchors.length ? anchorNear(anchors[0][0]) : null;
  return {
    ...s,
    latencies: lat.map((v) => Math.round(v * 10) / 10),
    bursts: bursts.length,
    onsetsFound: found.length,
    flushes: flushes.length,
    slips,
    anchorSpreadMs: anchors.length ? pct(anchors.map(([f, a]) => a - anchorNear(f)), 0.5) : null,
    logAnchorMinusFileAnchorMs: logAnchor && first ? logAnchor - first : null,
  };
}

function analyseRss(rss) {
  // Steady state: the first sample at least 20 s into the call (10 s in --quick).
  const from = QUICK ? 10 : 20;
  const steady = rss.find(([t]) => t >= from) || rss[0];
  const last = rss[rss.length - 1];
  return { samples: rss, steadyMb: steady ? steady[1] : null, steadyAtSec: steady ? steady[0] : null, lastMb: last[1], growthMb: last[1] - steady[1], callSec: last[0] };
}

main().then(() => process.exit(0), (e) => {
  note('FAILED:', e.stack || e);
  try { fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify({ ...R, error: String(e.stack || e) }, null, 1)); } catch {}
  process.exit(1);
});
