// Shared by the Chromium test scripts: start Debian's chromium through playwright-core (never a
// downloaded browser), serve a test page from the room server's origin, bound the run in time,
// and report one `RESULT {json}` line on stdout for tests/web_chromium.rs to parse.
//
// Configuration comes from the environment variable ROOMBELL_WEB_TEST, JSON:
//   {baseUrl: "http://127.0.0.1:PORT/", sdkAppId, roomId, users: {name: {userId, userSig}},
//    artifactDir?, fakeAudioFile?, timeoutMs?}

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const started = Date.now();

/** Milliseconds since the script started, for the log and for the figures in the result. */
export function elapsed() {
  return Date.now() - started;
}

/** A progress line on stderr (stdout carries only READY-style markers and the RESULT line). */
export function note(...parts) {
  process.stderr.write(`[${(elapsed() / 1000).toFixed(2)}s] ${parts.join(' ')}\n`);
}

export function config() {
  const raw = process.env.ROOMBELL_WEB_TEST;
  if (!raw) {
    process.stderr.write('ROOMBELL_WEB_TEST is not set: run these scripts through `cargo test --test web_chromium`\n');
    process.exit(2);
  }
  return JSON.parse(raw);
}

let browserContext = null;
let userDataDir = null;
let finished = false;

/** Prints the one result line and exits (0 when ok). Closes the browser first. */
export async function finish(result) {
  if (finished) return;
  finished = true;
  result.elapsedMs = elapsed();
  await closeBrowser();
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(result.ok ? 0 : 1);
}

async function closeBrowser() {
  const ctx = browserContext;
  browserContext = null;
  if (ctx) {
    await Promise.race([ctx.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  }
  if (userDataDir) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    userDataDir = null;
  }
}

/** Ends the run with ok:false after `ms`, whatever is pending. */
export function deadline(ms) {
  const timer = setTimeout(() => {
    note(`deadline of ${ms} ms reached`);
    finish({ ok: false, error: `the script's own deadline of ${ms} ms passed` });
  }, ms);
  timer.unref();
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => finish({ ok: false, error: `killed by ${signal}` }));
}
process.on('unhandledRejection', (e) => {
  note('unhandled rejection:', e && e.stack ? e.stack : e);
  finish({ ok: false, error: `unhandled rejection: ${e && e.message}` });
});

/**
 * Starts chromium with a fresh profile: fake camera (test pattern) and microphone (a beep, or
 * `fakeAudioFile`, a WAV), permissions granted, no network services, autoplay with sound.
 */
export async function launch({ fakeAudioFile } = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh`);
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'roombell-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
  ];
  // Remote sound plays without a click. (Headless Chromium 156 played a WebRTC <audio> without
  // one even under --autoplay-policy=user-gesture-required, so the PLAY_NOT_ALLOWED path cannot
  // be exercised here.)
  args.push('--autoplay-policy=no-user-gesture-required');
  if (fakeAudioFile) args.push(`--use-file-for-fake-audio-capture=${fakeAudioFile}`);
  const t0 = Date.now();
  browserContext = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 412, height: 860 },
    timeout: 30000,
  });
  note(`chromium up in ${Date.now() - t0} ms`);
  return browserContext;
}

/** Copies the page's console and errors to stderr, tagged. */
export function mirrorConsole(page, tag) {
  page.on('console', (m) => note(`${tag} console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => note(`${tag} page error: ${e.message}`));
}

/**
 * Opens `html` as a page of the room server's origin, so that `/trtc.js` and the default
 * signaling URL are the server's, without adding test files to web/: it loads a real (404)
 * page of the server first, so Chromium files the document under the loopback address space
 * (a page fulfilled by an interceptor would be "public" and Local Network Access would block
 * its WebSocket to 127.0.0.1), then writes `html` into it.
 */
export async function openTestPage(context, baseUrl, name, html, tag = name) {
  const page = await context.newPage();
  mirrorConsole(page, tag);
  await page.goto(new URL(`__test/${name}.html`, baseUrl).href);
  await page.setContent(html, { waitUntil: 'load' });
  return page;
}

/** Polls `fn` (in the page, may be async) until it returns a truthy value; throws `what` after `ms`. */
export async function waitInPage(page, fn, arg, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await page.evaluate(fn, arg);
    if (value) return value;
    if (Date.now() > end) throw new Error(`${what} (not within ${ms} ms)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves with the next line on stdin that equals `word` (the Rust side's go-ahead), or on EOF. */
export function waitForStdin(word) {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.on('line', (line) => {
      if (line.trim() === word) {
        resolve(true); // before close(), whose 'close' event would resolve false
        rl.close();
      }
    });
    rl.on('close', () => resolve(false));
  });
}

/** A marker line the Rust side waits for. */
export function signal(word, data) {
  process.stdout.write(`${word}${data === undefined ? '' : ' ' + JSON.stringify(data)}\n`);
}

/**
 * Page-side helper source: the strongest frequency of an audio track, via an AnalyserNode FFT.
 * Injected into test pages (it is test code, not part of the SDK).
 */
export const TONE_PROBE = `
window.dominantFrequency = async function (track, ms) {
  const ctx = new AudioContext();
  await ctx.resume();
  const source = ctx.createMediaStreamSource(new MediaStream([track]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  source.connect(analyser);
  const bins = new Float32Array(analyser.frequencyBinCount);
  const sum = new Float32Array(analyser.frequencyBinCount);
  const end = performance.now() + ms;
  let frames = 0;
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    analyser.getFloatFrequencyData(bins);
    for (let i = 0; i < bins.length; i++) sum[i] += Math.pow(10, bins[i] / 10);
    frames++;
  }
  let best = 1;
  for (let i = 2; i < sum.length; i++) if (sum[i] > sum[best]) best = i;
  const hz = (best * ctx.sampleRate) / analyser.fftSize;
  const peakDb = 10 * Math.log10(sum[best] / Math.max(frames, 1));
  source.disconnect();
  await ctx.close();
  return { hz, peakDb, frames };
};
`;
