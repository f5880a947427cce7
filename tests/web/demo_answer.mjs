// The answer page of a running `roombell demo`, opened at `/` with no query string, as a person
// opens it: it must fetch its credentials from /config.json, join, and show the doorbell's video
// (data-visitor=present, data-frames ≥ minFrames at width×height); then a screenshot is saved
// (for a person to look at) and the page hangs up.
//
// Extra config: minFrames, width, height, screenshot (a path for the PNG).

import { config, deadline, finish, launch, mirrorConsole, note } from './lib.mjs';

const cfg = config();
deadline(cfg.timeoutMs || 60000);

const context = await launch();
const page = await context.newPage();
mirrorConsole(page, 'answer');
const configFetches = [];
page.on('response', async (r) => {
  if (new URL(r.url()).pathname === '/config.json') {
    const body = await r.json().catch(() => null);
    configFetches.push({ status: r.status(), userId: body && body.userId, roomId: body && body.roomId });
  }
});
const data = () => page.evaluate(() => ({ ...document.getElementById('app').dataset }));

try {
  const t0 = Date.now();
  const url = new URL(cfg.baseUrl);
  if (url.search) throw new Error('the answer page must be opened without a query string');
  await page.goto(url.href);
  const minFrames = cfg.minFrames || 60;
  await page.waitForFunction(
    (min) => {
      const d = document.getElementById('app').dataset;
      return d.visitor === 'present' && Number(d.frames) >= min;
    },
    minFrames,
    { timeout: 30000, polling: 100 }
  );
  const seen = await data();
  const seenMs = Date.now() - t0;
  note(`visitor seen: ${JSON.stringify(seen)} after ${seenMs} ms; /config.json: ${JSON.stringify(configFetches)}`);
  // Let a few more frames paint so the screenshot shows a settled picture.
  await page.waitForTimeout(500);
  const message = await page.locator('#door-message').textContent();
  const videoBox = await page.evaluate(() => {
    const v = document.querySelector('#visitor-video video') || document.querySelector('video');
    if (!v) return null;
    const r = v.getBoundingClientRect();
    return { width: Math.round(r.width), height: Math.round(r.height), videoWidth: v.videoWidth, videoHeight: v.videoHeight, paused: v.paused };
  });
  await page.screenshot({ path: cfg.screenshot, fullPage: true });
  note(`screenshot: ${cfg.screenshot}`);
  await page.locator('#hangup').click().catch(() => {});
  const size = `${cfg.width || 640}x${cfg.height || 480}`;
  const ok = seen.frameSize === size && configFetches.some((f) => f.status === 200 && f.userId) && !!videoBox && !videoBox.paused;
  await finish({
    ok,
    seenMs,
    frames: Number(seen.frames),
    frameSize: seen.frameSize,
    state: seen.state,
    connection: seen.connection,
    message,
    videoBox,
    configFetches,
    screenshot: cfg.screenshot,
    error: ok ? undefined : `seen ${JSON.stringify(seen)}, /config.json ${JSON.stringify(configFetches)}, video ${JSON.stringify(videoBox)}`,
  });
} catch (e) {
  const state = await data().catch(() => null);
  if (cfg.screenshot) await page.screenshot({ path: cfg.screenshot.replace(/\.png$/, '-failed.png') }).catch(() => {});
  await finish({ ok: false, error: e.message, state, configFetches });
}
