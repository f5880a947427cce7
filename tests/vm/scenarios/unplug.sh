# The camera disappears mid-recording: vivid's platform device is unbound from its driver through
# sysfs, which runs the driver's remove() with the device open, as a USB camera being unplugged
# does (`rmmod vivid` is refused while roombell holds the node: "in use"). roombell record must stop
# with a typed error naming the camera, not a panic or a hang. `record` keeps capturing audio to
# the end of --seconds (the audio thread is independent) and reports the camera's error then, so
# the Ogg must hold the whole duration. vivid is bound again afterwards for the scenarios that
# follow.

guest() {
  NO_COLOR=1 RUST_LOG=info roombell record --seconds 20 --video rec.h264 --audio rec.ogg \
    --video-source v4l2 --video-device /dev/video0 --size 640x480 --fps 10 \
    --audio-source alsa --audio-device hw:Loopback,1,0 > record.txt 2>&1 &
  pid=$!
  i=0
  # streaming, and the first frames encoded
  while [ $i -lt 300 ] && ! [ -s rec.h264 ]; do sleep 0.1; i=$((i + 1)); done
  sleep 1
  echo "unplugging vivid while recording"
  echo vivid.0 > /sys/bus/platform/drivers/vivid/unbind; echo "unbind exit $?" | tee unbind.rc
  start=$(cut -d' ' -f1 /proc/uptime)
  wait $pid; rc=$?
  end=$(cut -d' ' -f1 /proc/uptime)
  echo "$rc" > record.rc
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }' > stop-secs
  cat record.txt
  echo "record exit $rc, $(cat stop-secs) s after the unplug"
  echo vivid.0 > /sys/bus/platform/drivers/vivid/bind || echo "cannot bind vivid again"
  i=0; while [ $i -lt 50 ] && [ ! -c /dev/video0 ]; do sleep 0.1; i=$((i + 1)); done
  return 0
}

host() {
  f="$OUT/record.txt"
  strip_ansi "$f"
  expect_grep 'unbind exit 0' "$OUT/unbind.rc" "vivid.0 is unbound while roombell streams"
  rc="$(cat "$OUT/record.rc")"
  case "$rc" in
    0) fail "roombell record exited 0 although the camera went away" ;;
    101) fail "roombell record panicked (exit 101)" ;;
    124|137|143) fail "roombell record was killed (exit $rc)" ;;
    *) ok "roombell record exited $rc" ;;
  esac
  expect_no_grep 'panicked' "$f" "no panic"
  expect_grep '/dev/video0: (the camera went away|no frame for [0-9]+ s)' "$f" "a typed error naming the camera"
  secs="$(cat "$OUT/stop-secs")"
  # at most the rest of the 20 s recording plus a margin for the emulator: no hang
  if awk -v s="$secs" 'BEGIN { exit !(s < 30) }'; then ok "exited ${secs} s after the unplug (the 20 s recording's end)"; else fail "took ${secs} s to exit after the unplug"; fi
  dur="$(ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$OUT/rec.ogg" 2>&1)"
  if awk -v d="$dur" 'BEGIN { exit !(d >= 18) }'; then ok "audio kept flowing: rec.ogg holds ${dur} s"
  else
    fail "rec.ogg holds ${dur} s, expected the whole 20 s"
    grep -q 'overrun' "$f" && echo "    (the audio thread stopped early after $(grep -c overrun "$f") overrun(s); record only reports the video error: most likely EIO from snd_pcm_readi, see tests/vm/README.md)"
  fi
  n="$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of default=nw=1:nk=1 "$OUT/rec.h264" 2>&1)"
  if [ "${n:-0}" -ge 1 ] 2>/dev/null; then ok "rec.h264 decodes up to the unplug ($n frames)"; else fail "rec.h264: $n frames before the unplug"; fi
  return $failed
}
