// Glass-to-glass latency of a running `roombell demo` (a benchmark, not an assertion), in
// Debian's Chromium: a page of the demo's origin joins the room with /trtc.js (credentials from
// the demo's /config.json), subscribes to the doorbell, and on every requestVideoFrameCallback
// reads the frame number and capture time that the `test` video source paints into each frame
// (docs/test-pattern.md) out of the decoded pixels (canvas); latency = the frame's expected
// display time (performance.timeOrigin + expectedDisplayTime, Unix ms) − its capture time.
// Device and browser share this machine's clock.
//
// The page code is scripts/bench.sh's (bench/page.js: the reader of docs/test-pattern.md with its
// CRC self-test, and the viewer); this script only drives it against a demo.
//
//   node tests/web/g2g.mjs http://127.0.0.1:PORT/ [--frames 300] [--publisher doorbell-01]
//                                                  [--warmup-ms 2000] [--timeout-ms 60000]
//
// Prints p50 / p95 / max on stderr, and one `RESULT {json}` line on stdout.

import fs from 'node:fs';
import path from 'node:path';
import { finish, launch, note } from './lib.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const baseUrl = args.find((a) => /^https?:\/\//.test(a));
if (!baseUrl) {
  process.stderr.write('usage: node tests/web/g2g.mjs http://127.0.0.1:PORT/ [--frames 300] [--publisher doorbell-01]\n');
  process.exit(2);
}
const wantFrames = Number(opt('frames', 300));
const publisher = opt('publisher', 'doorbell-01');
const warmupMs = Number(opt('warmup-ms', 2000));
const timeoutMs = Number(opt('timeout-ms', 60000));
const PAGE_JS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../bench/page.js');

setTimeout(() => finish({ ok: false, error: `the script's own deadline of ${timeoutMs} ms passed` }), timeoutMs).unref();

function pct(values, p) {
  const v = [...values].sort((a, b) => a - b);
  if (!v.length) return null;
  const i = (v.length - 1) * p;
  const lo = Math.floor(i), hi = Math.ceil(i);
  return v[lo] + (v[hi] - v[lo]) * (i - lo);
}
const round = (x) => (x === null ? null : Math.round(x * 10) / 10);
function summary(values) {
  return { n: values.length, p50: round(pct(values, 0.5)), p95: round(pct(values, 0.95)), max: values.length ? round(Math.max(...values)) : null };
}

try {
  if (!fs.existsSync(PAGE_JS)) throw new Error(`${PAGE_JS} is missing (the benchmark's page code)`);
  const creds = await (await fetch(new URL('config.json', baseUrl))).json();
  note(`credentials from /config.json: ${creds.userId} in room ${creds.roomId}`);
  const context = await launch();
  const page = await context.newPage();
  page.on('pageerror', (e) => note('page error:', e.message));
  // A real page of the server's origin first (loopback address space), then our content.
  await page.goto(new URL('__test/g2g.html', baseUrl).href);
  await page.setContent(
    `<!doctype html><html><head><meta charset="utf-8"><title>g2g</title></head><body>
<div id="player" style="width:160px;height:120px"></div>
<script src="/trtc.js"></script><script>${fs.readFileSync(PAGE_JS, 'utf8')}</script></body></html>`,
    { waitUntil: 'load' }
  );
  if (!(await page.evaluate(() => window.bench.selfTest()))) throw new Error('frame-code CRC self-test failed');
  await page.evaluate((cfg) => window.bench.startViewer(cfg), { ...creds, publisher });
  const t0 = Date.now();
  const firstFrame = async () => page.evaluate(() => (window.bench.viewer.streams.find((s) => s.firstFrame) || {}).firstFrame || null);
  while (!(await firstFrame())) {
    if (Date.now() - t0 > 30000) throw new Error(`no frame of ${publisher} within 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  note(`first frame after ${Date.now() - t0} ms; warming up ${warmupMs} ms`);
  await new Promise((r) => setTimeout(r, warmupMs));
  await page.evaluate(() => { const v = window.bench.viewer; v.frames = []; v.recording = true; });
  const r0 = Date.now();
  for (;;) {
    const n = await page.evaluate(() => window.bench.viewer.frames.length);
    if (n >= wantFrames) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const frames = await page.evaluate(() => { const v = window.bench.viewer; v.recording = false; return v.frames; });
  const unread = await page.evaluate(() => (window.bench.viewer.current ? window.bench.viewer.current.watch.unread : null));
  const recordMs = Date.now() - r0;
  const display = summary(frames.map((f) => f.edt - f.cap));
  const callback = summary(frames.map((f) => f.cb - f.cap));
  const receive = summary(frames.filter((f) => f.recv).map((f) => f.recv - f.cap));
  let missing = 0;
  for (let i = 1; i < frames.length; i++) if (frames[i].n > frames[i - 1].n + 1) missing += frames[i].n - frames[i - 1].n - 1;
  const size = frames.length ? `${frames[0].w}x${frames[0].h}` : null;
  note(`glass-to-glass over ${frames.length} frames (${size}, ${(frames.length / (recordMs / 1000)).toFixed(1)} fps read, ${missing} frame numbers missing, ${unread} unreadable):`);
  note(`  display  p50 ${display.p50} ms  p95 ${display.p95} ms  max ${display.max} ms`);
  note(`  callback p50 ${callback.p50} ms  p95 ${callback.p95} ms  max ${callback.max} ms`);
  note(`  receive  p50 ${receive.p50} ms  p95 ${receive.p95} ms  max ${receive.max} ms (last packet in, before decode)`);
  await finish({ ok: frames.length >= wantFrames, frames: frames.length, size, missing, unread, recordMs, display, callback, receive, clock: 'one machine' });
} catch (e) {
  await finish({ ok: false, error: e.message });
}
