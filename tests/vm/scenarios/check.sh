# `roombell check` lists vivid's capture node with its formats and sizes and the Loopback card's
# PCMs, and opens the configured camera, microphone and speaker. Nothing listens at the room
# server's address inside the VM: that FAIL is expected and the only one.

guest() {
  NO_COLOR=1 roombell check --config /etc/roombell.toml > check.txt 2>check.err
  echo $? > check.rc
  cat check.txt
  # a panic is the only thing that fails here; the host judges the listing
  [ "$(cat check.rc)" != 101 ]
}

host() {
  f="$OUT/check.txt"
  strip_ansi "$f"
  [ "$(cat "$OUT/check.rc")" = 1 ] && ok "exit status 1 (the unreachable room server)" || fail "exit status $(cat "$OUT/check.rc"), expected 1"
  expect_grep '^\[FAIL\] room server' "$f" "the room server is reported unreachable"
  n="$(grep -c '^\[FAIL\]' "$f")"
  [ "$n" = 1 ] && ok "no other FAIL" || fail "$n FAIL lines, expected only the room server's"
  expect_grep '^\[    \] camera: /dev/video0 +"vivid-000-vid-cap"' "$f" "vivid's capture node /dev/video0 is listed"
  # vivid's output, VBI, SDR and metadata nodes are no cameras
  n="$(grep -cE '^\[    \] camera: ' "$f")"
  [ "$n" = 1 ] && ok "only the capture node is listed as a camera" || fail "$n nodes listed as cameras"
  expect_grep '^ +NV12 640x480 @ [0-9/]*25' "$f" "NV12 640x480 with 25 fps"
  expect_grep '^ +YUYV 640x480 @ [0-9/]*25' "$f" "YUYV 640x480 with 25 fps"
  expect_grep '^ +YUYV 1280x720' "$f" "other sizes (1280x720)"
  expect_grep '^ +(RGB3|BGR3|GREY|UYVY) 640x480.*not supported by roombell' "$f" "formats roombell does not convert are marked"
  expect_grep 'hw:CARD=Loopback,DEV=0 ' "$f" "the Loopback card's device 0 PCM"
  expect_grep 'hw:CARD=Loopback,DEV=1 ' "$f" "the Loopback card's device 1 PCM"
  expect_grep '^\[ok  \] video source' "$f" "the configured camera opens"
  expect_grep '^\[ok  \] microphone' "$f" "the configured microphone opens"
  expect_grep '^\[ok  \] speaker' "$f" "the configured speaker opens"
  return $failed
}
