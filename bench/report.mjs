// Turns bench/out/results.json into docs/benchmarks.md and prints the table and one
// `RESULT <name> <value> <unit>` line per figure. Usage: node bench/report.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execSync } from 'node:child_process';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const R = JSON.parse(fs.readFileSync(path.join(ROOT, 'bench/out/results.json'), 'utf8'));
const sh = (c) => { try { return execSync(c, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch { return '?'; } };
const cpuModel = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || '?';
const machine = { nproc: sh('nproc'), cpu: cpuModel, kernel: os.release(), load: R.loadStart ? `${R.loadStart.map((l) => l.toFixed(2)).join(' ')} at the start, ${(R.loadEnd || os.loadavg()).map((l) => l.toFixed(2)).join(' ')} at the end` : os.loadavg().map((l) => l.toFixed(2)).join(' '), chromium: (R.chromium || '').match(/Chrome\/[\d.]+/)?.[0] || '?', rustc: sh('rustc --version') };

const r1 = (v) => (v === null || v === undefined || Number.isNaN(v) ? null : Math.round(v * 10) / 10);
const r2 = (v) => (v === null || v === undefined || Number.isNaN(v) ? null : Math.round(v * 100) / 100);
const pct = (vals, p) => { const v = [...vals].sort((a, b) => a - b); if (!v.length) return null; const i = (v.length - 1) * p, lo = Math.floor(i), hi = Math.ceil(i); return v[lo] + (v[hi] - v[lo]) * (i - lo); };
const figures = [];
const fig = (name, value, unit, what, ref = '') => figures.push({ name, value, unit, what, ref });

if (R.g2g640) {
  fig('g2g_640x480_p50', r1(R.g2g640.display.p50), 'ms', `glass-to-glass 640x480@30, device → room → Chromium (${R.g2g640.frames} frames, ${R.g2g640.missing} missing)`, R.floor640 && `floor ${r1(R.floor640.display.p50)} ms`);
  fig('g2g_640x480_p95', r1(R.g2g640.display.p95), 'ms', 'glass-to-glass 640x480, p95', R.floor640 && `floor ${r1(R.floor640.display.p95)} ms`);
  fig('g2g_640x480_max', r1(R.g2g640.display.max), 'ms', 'glass-to-glass 640x480, max', R.floor640 && `floor ${r1(R.floor640.display.max)} ms`);
  fig('g2g_640x480_callback_p50', r1(R.g2g640.callback.p50), 'ms', 'the same frames at the frame callback (not at expected display time)', R.floor640 && `floor ${r1(R.floor640.callback.p50)} ms`);
  fig('g2g_640x480_receive_p50', r1(R.g2g640.receive.p50), 'ms', 'capture → last packet received (rVFC receiveTime): sender + network + SFU', R.floor640 && `floor ${r1(R.floor640.receive.p50)} ms`);
}
if (R.g2g720) {
  fig('g2g_1280x720_p50', r1(R.g2g720.display.p50), 'ms', `glass-to-glass 1280x720@30 (${R.g2g720.frames} frames, ${R.g2g720.missing} missing)`, R.floor720 && `floor ${r1(R.floor720.display.p50)} ms`);
  fig('g2g_1280x720_p95', r1(R.g2g720.display.p95), 'ms', 'glass-to-glass 1280x720, p95', R.floor720 && `floor ${r1(R.floor720.display.p95)} ms`);
  fig('g2g_1280x720_max', r1(R.g2g720.display.max), 'ms', 'glass-to-glass 1280x720, max', R.floor720 && `floor ${r1(R.floor720.display.max)} ms`);
}
if (R.g2g640video) fig('g2g_640x480_video_only_p50', r1(R.g2g640video.display.p50), 'ms', `diagnostic: 640x480 with the page subscribed to video only (${R.g2g640video.frames} frames)`, R.g2g640 && `with audio ${r1(R.g2g640.display.p50)} ms`);
if (R.floor640) {
  fig('g2g_floor_p50', r1(R.floor640.display.p50), 'ms', `Chromium's own floor: in-page loopback, canvas 640x480@30 → ${R.floor640.codec || 'H.264'} → decode (${R.floor640.frames} frames)`);
  fig('g2g_floor_p95', r1(R.floor640.display.p95), 'ms', 'floor 640x480, p95');
}
if (R.floor720) fig('g2g_floor_1280x720_p50', r1(R.floor720.display.p50), 'ms', `floor 1280x720 (${R.floor720.frames} frames)`);
if (R.g2g640 && R.floor640) fig('g2g_640x480_to_floor_ratio', r2(R.g2g640.display.p50 / R.floor640.display.p50), 'x', 'g2g p50 / floor p50 at 640x480');
if (R.g2g720 && R.floor720) fig('g2g_1280x720_to_floor_ratio', r2(R.g2g720.display.p50 / R.floor720.display.p50), 'x', 'g2g p50 / floor p50 at 1280x720');
if (R.m2e) {
  fig('m2e_p50', r1(R.m2e.p50), 'ms', `mouth-to-ear, Chromium tone burst → room → device wav speaker (${R.m2e.n} of ${R.m2e.bursts} bursts)`);
  fig('m2e_p95', r1(R.m2e.p95), 'ms', 'mouth-to-ear, p95');
}
if (R.device && R.reference) {
  fig('cpu_ratio', r2(R.device.cpuPerSec / R.reference.cpuPerSec), 'x', 'device CPU / bare pipeline CPU (paced `roombell record`, same source and encoder settings)');
  fig('cpu_core_pct', r1(R.device.cpuPerSec * 100), '%', `device CPU, 640x480@30 + Opus, 1 subscriber, over ${r1(R.device.seconds)} s`, `bare ${r1(R.reference.cpuPerSec * 100)} %`);
  fig('cpu_bare_core_pct', r1(R.reference.cpuPerSec * 100), '%', `bare pipeline (paced record), over ${r1(R.reference.seconds)} s`);
}
const runs = (R.startup || []).filter((s) => !s.warmup);
if (runs.length) {
  fig('first_rtp_p50', r1(pct(runs.map((s) => s.firstRtpMs), 0.5)), 'ms', `process start → first RTP sent (the device's first_rtp_ms), ${runs.length} runs`);
  fig('first_rtp_p95', r1(pct(runs.map((s) => s.firstRtpMs), 0.95)), 'ms', 'process start → first RTP, p95');
  fig('ttff_p50', r1(pct(runs.map((s) => s.ttffMs), 0.5)), 'ms', `spawn → first frame decoded in a page already in the room, ${runs.length} runs`);
  fig('ttff_p95', r1(pct(runs.map((s) => s.ttffMs), 0.95)), 'ms', 'spawn → first decoded frame, p95');
}
if (R.memory) {
  fig('rss_steady_mb', r1(R.memory.steadyMb), 'MB', `device RSS at ${Math.round(R.memory.steadyAtSec)} s into the call`);
  fig('rss_growth_mb', r1(R.memory.growthMb), 'MB', `device RSS growth from then to the end of a ${Math.round(R.memory.callSec)} s call`);
}
if (R.room && R.room.length > 1) {
  const pts = R.room.filter((e) => e.subscribers > 0);
  const n = pts.length, sx = pts.reduce((a, e) => a + e.subscribers, 0), sy = pts.reduce((a, e) => a + e.cpuPerSec * 100, 0);
  const sxx = pts.reduce((a, e) => a + e.subscribers ** 2, 0), sxy = pts.reduce((a, e) => a + e.subscribers * e.cpuPerSec * 100, 0);
  const slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  const m = pts.reduce((a, e) => a + e.subscribers * e.rssMb, 0);
  const rssSlope = (n * m - sx * pts.reduce((a, e) => a + e.rssMb, 0)) / (n * sxx - sx * sx);
  fig('room_cpu_per_stream_pct', r2(slope), '%', 'room server CPU per forwarded A/V stream (least-squares slope over 1/5/20 subscribers)');
  for (const e of R.room) fig(`room_cpu_${e.subscribers}sub_pct`, r1(e.cpuPerSec * 100), '%', `room server CPU, 1 publisher + ${e.subscribers} subscribers`, `RSS ${r1(e.rssMb)} MB`);
  fig('room_rss_per_stream_mb', r2(rssSlope), 'MB', 'room server RSS per forwarded stream (slope)');
}

// ---- output --------------------------------------------------------------------------------
const table = ['| figure | value | what | same-run reference |', '|---|---:|---|---|', ...figures.map((f) => `| \`${f.name}\` | ${f.value ?? 'n/a'} ${f.unit} | ${f.what} | ${f.ref || ''} |`)].join('\n');
const detail = (name, s) => s ? `| ${name} | ${s.frames} | ${s.missing} | ${r1(s.display.p50)} / ${r1(s.display.p95)} / ${r1(s.display.max)} | ${r1(s.callback.p50)} | ${r1(s.receive.p50)} |` : '';
const startupRows = (R.startup || []).map((s, i) => `| ${i}${s.warmup ? ' (warm-up)' : ''} | ${s.firstRtpMs} | ${r1(s.firstRtpSinceSpawnMs)} | ${s.readyMs ?? ''} | ${r1(s.streamAddedMs)} | ${r1(s.ttffMs)} |`).join('\n');
const roomRows = (R.room || []).map((e) => `| ${e.subscribers} | ${r1(e.cpuPerSec * 100)} | ${r1(e.rssMb)} | ${e.packets ?? ''} |`).join('\n');
const rssRows = (R.memory?.samples || []).map(([t, mb]) => `${Math.round(t)} s: ${r1(mb)} MB`).join(', ');
const profilePath = path.join(ROOT, 'bench/profile.md');
const profile = fs.existsSync(profilePath) ? fs.readFileSync(profilePath, 'utf8') : '_Not run: `bench/profile.sh`._\n';
const methodPath = path.join(ROOT, 'bench/method.md');
const method = fs.existsSync(methodPath) ? fs.readFileSync(methodPath, 'utf8') : '';

const md = `# Benchmarks

Generated by \`scripts/bench.sh${R.quick ? ' --quick' : ''}\` on ${R.finishedAt || new Date().toISOString()}${R.quick ? ' — **quick run: short windows, read the figures as a smoke check**' : ''}.

Machine: ${machine.nproc} CPUs (\`nproc\`), ${machine.cpu}, Linux ${machine.kernel}; load average (1/5/15 min) ${machine.load};
${machine.chromium} (Debian, headless, software decode); ${machine.rustc}. The machine is shared with other builds, so
absolute times are noisy: every figure stands next to its reference measured in the same run, and the ratios are what
to compare across runs. Device, room server and browser all run on this machine and share one clock.

## Figures

${table}

## Details

Glass-to-glass (ms; \`display\` = \`performance.timeOrigin + expectedDisplayTime\` − capture time painted in the frame):

| run | frames read | missing | display p50 / p95 / max | at callback p50 | at receive p50 |
|---|---:|---:|---|---:|---:|
${[detail('device 640x480', R.g2g640), detail('device 1280x720', R.g2g720), detail('device 640x480, video only', R.g2g640video), detail('floor 640x480', R.floor640), detail('floor 1280x720', R.floor720)].filter(Boolean).join('\n')}

Mouth-to-ear: ${R.m2e ? `${R.m2e.n} of ${R.m2e.bursts} bursts matched (${R.m2e.onsetsFound} onsets in the WAV), p50 ${r1(R.m2e.p50)} ms, p95 ${r1(R.m2e.p95)} ms, min ${r1(R.m2e.min)}, max ${r1(R.m2e.max)}; ${R.m2e.flushes} WAV flushes observed, clock slips detected: ${R.m2e.slips}; median flush lag behind its deadline ${r1(R.m2e.anchorSpreadMs)} ms; \`speaker starting\` log line − file-derived anchor: ${r1(R.m2e.logAnchorMinusFileAnchorMs)} ms; AudioContext baseLatency ${R.m2e.audioContext?.baseLatency} s.` : 'not run'}

CPU: device ${R.device ? `${r1(R.device.cpu)} CPU-s over ${r1(R.device.seconds)} s` : 'n/a'}; bare pipeline ${R.reference ? `${r1(R.reference.cpu)} CPU-s over ${r1(R.reference.seconds)} s, RSS ${r1(R.reference.rssMb)} MB` : 'n/a'}.

Start-up (ms from spawn unless noted):

| run | first_rtp_ms (from process start, device's own figure) | first RTP (log time − spawn) | ready_ms | stream-added in page | first frame in page (ttff) |
|---|---:|---:|---:|---:|---:|
${startupRows}

Device RSS during the call, every 10 s: ${rssRows || 'n/a'}.

Room server (\`roombell room\`, own process), 1 publisher (\`roombell run\`, 640x480@30 + Opus) and N Rust subscribers (\`examples/bench_subscribers.rs\`):

| subscribers | room CPU % of one core | room RSS MB | packets received by the clients |
|---:|---:|---:|---:|
${roomRows}

${method}
## Profile

${profile}
## Reproduce

\`\`\`sh
scripts/setup.sh                      # once: Rust, chromium, node, ffmpeg (see README)
(cd tests/web && npm ci)              # once: playwright-core for the browser scripts
scripts/bench.sh --quick              # every figure briefly, < 5 minutes
scripts/bench.sh                      # the full run, ≈ 17 minutes (10-minute call)
bench/profile.sh                      # callgrind profile of the pipeline (optional)
\`\`\`

Raw numbers of the last run: \`bench/out/results.json\` (not committed).
`;
fs.writeFileSync(path.join(ROOT, 'docs/benchmarks.md'), md);
process.stdout.write(table + '\n\n');
for (const f of figures) process.stdout.write(`RESULT ${f.name} ${f.value ?? 'nan'} ${f.unit}\n`);
