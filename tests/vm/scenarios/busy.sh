# A device opened twice: while one roombell records from /dev/video0 and hw:Loopback,1,0, a
# second one must fail with the "busy" error for each, and the first must be unaffected.

guest() {
  NO_COLOR=1 RUST_LOG=info roombell record --seconds 8 --video first.h264 --audio first.ogg \
    --video-source v4l2 --video-device /dev/video0 --size 640x480 --fps 10 \
    --audio-source alsa --audio-device hw:Loopback,1,0 > first.txt 2>&1 &
  pid=$!
  i=0
  while [ $i -lt 300 ] && ! grep -q 'camera negotiated' first.txt; do sleep 0.1; i=$((i + 1)); done
  NO_COLOR=1 roombell record --seconds 2 --video second.h264 --video-source v4l2 \
    --video-device /dev/video0 --size 640x480 --fps 10 --audio-source tone > camera.txt 2>&1
  echo $? > camera.rc
  NO_COLOR=1 roombell record --seconds 2 --audio second.ogg --video-source test \
    --audio-source alsa --audio-device hw:Loopback,1,0 > mic.txt 2>&1
  echo $? > mic.rc
  kill -0 $pid 2>/dev/null && echo alive > first.alive
  wait $pid
  for f in camera mic; do echo "== second roombell, $f busy: exit $(cat $f.rc)"; cat $f.txt; done
  return 0
}

host() {
  for what in camera mic; do
    f="$OUT/$what.txt"
    strip_ansi "$f"
    rc="$(cat "$OUT/$what.rc")"
    case "$rc" in
      0) fail "$what: the second roombell record succeeded on a busy device" ;;
      101) fail "$what: the second roombell record panicked" ;;
      *) ok "$what: the second roombell record exited $rc" ;;
    esac
    expect_no_grep 'panicked' "$f" "$what: no panic"
  done
  expect_grep '/dev/video0 is busy: another program is using it' "$OUT/camera.txt" "camera: the busy error"
  expect_grep 'ALSA PCM "hw:Loopback,1,0" is busy: another program is using it' "$OUT/mic.txt" "microphone: the busy error"
  [ -f "$OUT/first.alive" ] && ok "the first roombell kept recording" || fail "the first roombell died"
  strip_ansi "$OUT/first.txt"
  audio_eio "$OUT/first.txt" "the first roombell"
  return $failed
}
