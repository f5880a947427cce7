// The answer page (web/index.html) as a person uses it, with a doorbell publishing in the room
// (the Rust client, in tests/web_chromium.rs): open it with credentials in the query string,
// see the visitor (data-visitor=present, data-frames ≥ minFrames at width×height), save a
// screenshot, click Answer (data-state=talking, data-audio=playing), print `ANSWERED`, wait for
// the Rust side's `done` on stdin (it checks it hears the page), toggle Mute, then Hang up
// (data-state=ended).
//
// Extra config: minFrames, width, height, screenshot (a path for the PNG).

import { config, deadline, finish, launch, mirrorConsole, note, signal, waitForStdin } from './lib.mjs';

const cfg = config();
deadline(cfg.timeoutMs || 60000);

const context = await launch({ fakeAudioFile: cfg.fakeAudioFile });
const page = await context.newPage();
mirrorConsole(page, 'answer');
const resident = cfg.users.resident;
const url = new URL(cfg.baseUrl);
url.search = new URLSearchParams({ sdkAppId: String(cfg.sdkAppId), roomId: String(cfg.roomId), userId: resident.userId, userSig: resident.userSig }).toString();

const data = () => page.evaluate(() => ({ ...document.getElementById('app').dataset }));

try {
  const t0 = Date.now();
  await page.goto(url.href);
  const minFrames = cfg.minFrames || 60;
  await page.waitForFunction(
    (min) => {
      const d = document.getElementById('app').dataset;
      return d.visitor === 'present' && Number(d.frames) >= min;
    },
    minFrames,
    { timeout: 25000, polling: 100 }
  );
  const seen = await data();
  const seenMs = Date.now() - t0;
  note(`visitor seen: ${JSON.stringify(seen)} after ${seenMs} ms`);
  const message = await page.locator('#door-message').textContent();
  if (cfg.screenshot) {
    await page.screenshot({ path: cfg.screenshot, fullPage: true });
    note(`screenshot: ${cfg.screenshot}`);
  }
  const answerButton = page.locator('#answer');
  if (!(await answerButton.isEnabled())) throw new Error('the Answer button is disabled');
  await answerButton.click();
  await page.waitForFunction(
    () => {
      const d = document.getElementById('app').dataset;
      return d.state === 'talking' && d.audio === 'playing';
    },
    null,
    { timeout: 15000 }
  );
  const talking = await data();
  note(`answered: ${JSON.stringify(talking)}`);
  signal('ANSWERED');
  const told = await waitForStdin('done');
  // Mute and push-to-talk drive the published microphone.
  await page.locator('#mute').click();
  const muted = (await data()).mic;
  await page.locator('#mute').click();
  const live = (await data()).mic;
  await page.locator('#hangup').click();
  await page.waitForFunction(() => document.getElementById('app').dataset.state === 'ended', null, { timeout: 10000 });
  const ended = await data();
  const size = `${cfg.width || 640}x${cfg.height || 480}`;
  const ok =
    told &&
    seen.frameSize === size &&
    seen.state === 'ringing' &&
    talking.audio === 'playing' &&
    muted === 'muted' &&
    live === 'live' &&
    ended.visitor === 'absent';
  await finish({
    ok,
    seenMs,
    frames: Number(seen.frames),
    frameSize: seen.frameSize,
    message,
    states: { seen: seen.state, talking: talking.state, ended: ended.state },
    mic: { muted, live },
    audio: { beforeAnswer: seen.audio, afterAnswer: talking.audio },
    connection: talking.connection,
    networkQuality: Number(talking.networkQuality),
    error: ok ? undefined : `seen ${JSON.stringify(seen)}, mic ${muted}/${live}, ended ${JSON.stringify(ended)}, told ${told}`,
  });
} catch (e) {
  const state = await data().catch(() => null);
  if (cfg.screenshot) await page.screenshot({ path: cfg.screenshot.replace(/\.png$/, '-failed.png') }).catch(() => {});
  await finish({ ok: false, error: e.message, state });
}
