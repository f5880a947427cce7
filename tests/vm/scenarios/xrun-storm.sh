# The speaker in an underrun storm: `roombell play` sends a 1 kHz tone through the call's playout
# path (Opus encoder, jitter buffer, decoder, mixer, speaker loop) into snd-aloop's
# hw:Loopback,0,0 for 20 s; arecord captures hw:Loopback,1,0. From 3 s on, the whole roombell
# process is frozen 15 times (SIGSTOP for 0.3 s, then SIGCONT and 0.4 s of play), as a starved
# board freezes it: the sound card keeps running on its own clock, finds its buffer empty and
# stops the stream with an underrun each time. roombell must recover every one (snd_pcm_recover),
# count them (log and report), and play on: the tone must be back after the storm.

STORM_START=3
STORM_FREEZES=15

guest() {
  arecord -q -D hw:Loopback,1,0 -f S16_LE -r 48000 -c 1 -d 22 played.wav 2> arecord.err &
  rec=$!
  sleep 0.3
  NO_COLOR=1 RUST_LOG=info roombell play --seconds 20 --tone-hz 1000 \
    --speaker alsa --speaker-device hw:Loopback,0,0 > play.txt 2>&1 &
  player=$!
  sleep $STORM_START
  i=0
  while [ $i -lt $STORM_FREEZES ]; do
    kill -STOP $player; sleep 0.3; kill -CONT $player; sleep 0.4
    i=$((i + 1))
  done
  echo "storm over after $i freezes"
  wait $player; rc=$?
  echo "$rc" > play.rc
  wait $rec
  grep -v 'ALSA playback underrun' play.txt
  echo "underrun lines: $(grep -c 'ALSA playback underrun' play.txt)"
  cat arecord.err
  echo "play exit $rc"
  return 0
}

host() {
  f="$OUT/play.txt"
  strip_ansi "$f"
  expect_no_grep 'panicked' "$f" "no panic"
  rc="$(cat "$OUT/play.rc")"
  [ "$rc" = 0 ] && ok "roombell play exited 0 after the storm" || fail "roombell play exited $rc"
  expect_grep 'playing.*alsa playback "hw:Loopback,0,0"' "$f" "plays into snd-aloop's hw:Loopback,0,0"
  logged="$(grep -c 'ALSA playback underrun; recovering' "$f")"
  reported="$(sed -n 's/.* \([0-9]*\) xruns recovered.*/\1/p' "$f")"
  stalls="$(sed -n 's/.* \([0-9]*\) stalls over 100 ms.*/\1/p' "$f")"
  echo "underruns: $logged logged, ${reported:-none} in the report; $stalls speaker stalls; $STORM_FREEZES freezes of 0.3 s"
  # Each 0.3 s freeze outlasts the sound card's buffer: all but a freeze that happened to start
  # just after a long write must end in an underrun.
  if [ "${reported:-0}" -ge $((STORM_FREEZES - 3)) ] 2>/dev/null; then ok "$reported underruns recovered and counted (>= $((STORM_FREEZES - 3)))"
  else fail "${reported:-no} underruns counted for $STORM_FREEZES freezes"; fi
  [ "$logged" = "${reported:-x}" ] && ok "each underrun logged with its count" || fail "$logged underrun lines but ${reported:-no} in the report"
  expect_grep '[0-9]+ Opus packets sent, [0-9]+ decoded' "$f" "the report counts packets"
  # After the storm (it ends about 14 s into the recording) the tone must be back, without gaps.
  ffmpeg -v error -y -i "$OUT/played.wav" -ss 15.5 -t 4.5 -c:a pcm_s16le "$OUT/after-storm.wav"
  MIN_SECONDS=3 check_tone "$OUT/after-storm.wav" 1000
  # And before it: the first seconds, so a tone after the storm is not the only one checked.
  ffmpeg -v error -y -i "$OUT/played.wav" -ss 0.5 -t 2.5 -c:a pcm_s16le "$OUT/before-storm.wav"
  MIN_SECONDS=1.5 check_tone "$OUT/before-storm.wav" 1000
  return $failed
}
