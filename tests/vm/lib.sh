# Helpers for scenarios, sourced both inside the VM (busybox sh) and on the host (bash).
# POSIX sh only.

# fail MESSAGE: print and count; scenarios return $failed at the end.
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
ok() { echo "ok: $*"; }

# expect_grep PATTERN FILE WHAT: PATTERN (grep -E) must occur in FILE.
expect_grep() {
  if grep -qE -- "$1" "$2"; then ok "$3"; else fail "$3: no line matching /$1/ in $(basename "$2"):"; sed 's/^/    | /' "$2" | head -n 60; fi
}
# expect_no_grep PATTERN FILE WHAT
expect_no_grep() {
  if grep -qE -- "$1" "$2"; then fail "$3: found /$1/ in $(basename "$2"):"; grep -E -- "$1" "$2" | sed 's/^/    | /' | head -n 20; else ok "$3"; fi
}

# --- host side only -------------------------------------------------------------------------
# strip_ansi FILE: drop terminal colour codes in place.
strip_ansi() { sed -i 's/\x1b\[[0-9;]*m//g' "$1"; }

# check_h264 FILE WIDTH HEIGHT MIN_FRAMES: decodes FILE with ffprobe.
check_h264() {
  if [ ! -s "$1" ]; then fail "$(basename "$1") is missing or empty"; return; fi
  info="$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,width,height,nb_read_frames -of default=nw=1 "$1" 2>&1)"
  echo "ffprobe $(basename "$1"): $(echo "$info" | tr '\n' ' ')"
  codec="$(echo "$info" | sed -n 's/^codec_name=//p')"
  w="$(echo "$info" | sed -n 's/^width=//p')"; h="$(echo "$info" | sed -n 's/^height=//p')"
  n="$(echo "$info" | sed -n 's/^nb_read_frames=//p')"
  [ "$codec" = h264 ] && ok "H.264 stream" || fail "codec is '$codec', not h264"
  [ "$w"x"$h" = "$2x$3" ] && ok "size ${w}x$h" || fail "size is ${w}x$h, not $2x$3"
  if [ "${n:-0}" -ge "$4" ] 2>/dev/null; then ok "$n frames decoded (>= $4)"; else fail "$n frames decoded, expected >= $4"; fi
  errors="$(ffmpeg -v error -i "$1" -f null - 2>&1 | head -n 5)"
  [ -z "$errors" ] && ok "decodes without errors" || fail "ffmpeg decode errors: $errors"
}

# check_tone FILE HZ: FILE (any format ffmpeg reads) holds a tone of HZ (+-2 %)
# after the first 0.3 s, for at least $MIN_SECONDS s (default 1) not counting gaps of silence.
check_tone() {
  if [ ! -s "$1" ]; then fail "$(basename "$1") is missing or empty"; return; fi
  result="$(ffmpeg -v error -i "$1" -f s16le -ac 1 -ar 48000 - | python3 -c '
import sys, struct, math
data = sys.stdin.buffer.read()
s = struct.unpack("<%dh" % (len(data) // 2), data[: len(data) // 2 * 2])
s = s[int(0.3 * 48000):]
if len(s) < 48000 // 2:
    print("short %d" % len(s)); sys.exit()
rms = math.sqrt(sum(x * x for x in s) / len(s))
# Gaps: runs of digital silence of 1 ms or more (underruns, lost packets). Frequency: rising zero
# crossings per second of non-gap audio in each loud 100 ms block; the median block is the tone.
gap = [False] * len(s)
run = 0
for i, x in enumerate(s):
    if -2 <= x <= 2:
        run += 1
        if run == 48:
            for k in range(i - 47, i + 1): gap[k] = True
        elif run > 48:
            gap[i] = True
    else:
        run = 0
rates = []; sound = 0
for i in range(0, len(s) - 4800, 4800):
    block = s[i:i + 4800]
    if max(abs(x) for x in block) < 1000:
        continue
    live = 4800 - sum(gap[i:i + 4800])
    if live < 2400:
        continue
    sound += live
    crossings = sum(1 for j in range(i + 1, i + 4800) if not gap[j] and not gap[j - 1] and s[j - 1] < 0 <= s[j])
    rates.append(crossings * 48000.0 / live)
if not rates:
    print("silent %.0f" % rms); sys.exit()
rates.sort()
print("%.1f %.0f %.1f" % (rates[len(rates) // 2], rms, sound / 48000.0))
')"
  echo "tone analysis $(basename "$1"): $result (Hz, rms, seconds of tone without gaps)"
  set -- "$1" "$2" $result
  case "$3" in short|silent|"") fail "$(basename "$1"): no tone ($3 $4)"; return ;; esac
  if awk -v f="$3" -v want="$2" 'BEGIN { exit !(f > want * 0.98 && f < want * 1.02) }'; then
    ok "tone at $3 Hz (want $2)"
  else
    fail "tone at $3 Hz, want $2"
  fi
  if awk -v d="$5" -v min="${MIN_SECONDS:-1}" 'BEGIN { exit !(d >= min) }'; then
    ok "$5 s of tone"
  else
    fail "only $5 s of tone, want >= ${MIN_SECONDS:-1}"
  fi
}

# audio_eio FILE WHAT: explains a roombell death by EIO from snd_pcm_readi (README.md: "ALSA
# capture EIO"), which record reports only when the video side did not fail first.
audio_eio() {
  if grep -q "reading: ALSA function 'snd_pcm_readi' failed with error 'I/O error" "$1"; then
    fail "$2: roombell's ALSA capture died with EIO from snd_pcm_readi (kernel capture read timeout after a stall; roombell treats it as fatal: see tests/vm/README.md)"
  fi
}

# --- the record scenarios (record-nv12, record-yuyv) ----------------------------------------
REC_SECONDS=8
REC_FPS="${ROOMBELL_VM_FPS:-5}"

# record_with_tone FORMAT HIDE (guest): tone into hw:Loopback,0,0, roombell record from vivid
# and hw:Loopback,1,0 into rec.h264 / rec.ogg.
record_with_tone() {
  aplay -q -D hw:Loopback,0,0 /tone1k.wav 2> aplay.err &
  player=$!
  sleep 0.3
  if [ -n "$2" ]; then
    [ -f /lib/hide_fourcc.so ] || { echo "no /lib/hide_fourcc.so (see run.sh's warning)"; return 1; }
    export LD_PRELOAD=/lib/hide_fourcc.so ROOMBELL_VM_HIDE_FOURCC="$2"
  fi
  for attempt in 1 2; do
    NO_COLOR=1 RUST_LOG=info roombell record --seconds $REC_SECONDS --video rec.h264 --audio rec.ogg \
      --video-source v4l2 --video-device /dev/video0 --size 640x480 --fps "$REC_FPS" \
      --audio-source alsa --audio-device hw:Loopback,1,0 > record.txt 2>&1
    rc=$?
    # roombell treats EIO from snd_pcm_readi (the kernel's 100 ms "capture read timeout", which
    # a starved emulated guest trips) as fatal: one retry, reported by the host as a warning.
    if [ $rc != 0 ] && [ $attempt = 1 ] && grep -q "reading: ALSA function 'snd_pcm_readi' failed with error 'I/O error" record.txt; then
      cp record.txt record-attempt1.txt
      continue
    fi
    break
  done
  unset LD_PRELOAD
  kill $player 2>/dev/null; wait $player 2>/dev/null
  cat record.txt aplay.err
  echo "record exit $rc"
  echo "$REC_FPS" > fps
  return $rc
}

# record_checks FORMAT (host)
record_checks() {
  fps="$(cat "$OUT/fps")"
  expected=$((REC_SECONDS * fps))
  min=$(( (expected * 9 + 9) / 10 ))
  f="$OUT/record.txt"
  strip_ansi "$f"
  if [ -f "$OUT/record-attempt1.txt" ]; then
    echo "WARNING: the first attempt failed with EIO from snd_pcm_readi (ALSA capture read timeout) and was retried:"
    grep -v overrun "$OUT/record-attempt1.txt" | sed 's/^/    | /'
  fi
  expect_grep "camera negotiated.*format=$1 width=640 height=480 fps=$fps" "$f" "negotiated $1 640x480 at $fps fps"
  expect_grep "video: v4l2 /dev/video0 \"vivid-000-vid-cap\" $1 640x480@$fps" "$f" "record describes the vivid source"
  expect_no_grep 'panicked' "$f" "no panic"
  captured="$(sed -n 's/^ *frames: \([0-9]*\) captured.*/\1/p' "$f")"
  if [ "${captured:-0}" -ge "$min" ]; then ok "$captured frames captured from vivid (>= $min of $expected)"
  else fail "${captured:-no} frames captured from vivid, expected >= $min of $expected"; fi
  check_h264 "$OUT/rec.h264" 640 480 "$min"
  MIN_SECONDS=4 check_tone "$OUT/rec.ogg" 1000
  overruns="$(sed -n 's/.*frames captured (\([0-9]*\) overruns).*/\1/p' "$f")"
  echo "note: ${overruns:-?} ALSA capture overruns (the VM is emulated: overruns measure the host's load)"
  return $failed
}
