# The speaker path: a room server and two doorbells in the VM (over 127.0.0.1). The "talker"
# publishes a 1 kHz tone; the doorbell under test (speaker: alsa hw:Loopback,0,0) plays whoever
# talks; arecord captures hw:Loopback,1,0, which must hold the tone (>= 0.5 s without gaps: under
# TCG the WebRTC audio reaches the speaker with many underruns, which are reported, not failed).

guest() {
  mkdir -p web state-a state-b
  cat > room.toml <<EOT
[room]
listen = "127.0.0.1:8080"
sdk_app_id = 1400000000
secret_key = "vm-test-secret"
media_ip = "127.0.0.1"
web_root = "$PWD/web"
EOT
  for who in talker doorbell; do
    if [ $who = talker ]; then audio='backend = "tone"
tone_hz = 1000.0'; speaker='backend = "null"'
    else audio='backend = "tone"
tone_hz = 300.0'; speaker='backend = "alsa"
device = "hw:Loopback,0,0"'; fi
    cat > $who.toml <<EOT
[device]
server = "ws://127.0.0.1:8080/ws"
sdk_app_id = 1400000000
user_id = "$who"
room_id = 1234
secret_key = "vm-test-secret"
publish_video = false
media_ip = "127.0.0.1"
state_dir = "$PWD/state-$who"

[video]
backend = "test"
width = 320
height = 180
fps = 5

[audio]
$audio

[speaker]
$speaker
EOT
  done
  export NO_COLOR=1 RUST_LOG=info
  roombell room --config room.toml > room.txt 2>&1 &
  room=$!
  i=0; while [ $i -lt 100 ] && ! nc -z 127.0.0.1 8080 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
  arecord -q -D hw:Loopback,1,0 -f S16_LE -r 48000 -c 1 -d 18 played.wav 2> arecord.err &
  rec=$!
  sleep 0.3
  roombell run --config doorbell.toml > doorbell.txt 2>&1 &
  doorbell=$!
  roombell run --config talker.toml > talker.txt 2>&1 &
  talker=$!
  wait $rec
  kill -TERM $talker $doorbell 2>/dev/null
  wait $talker $doorbell
  kill -TERM $room; wait $room
  for f in room doorbell talker; do echo "== $f"; grep -v 'overrun\|underrun' $f.txt | tail -n 25; done
  cat arecord.err
  return 0
}

host() {
  for f in room doorbell talker; do strip_ansi "$OUT/$f.txt"; expect_no_grep 'panicked' "$OUT/$f.txt" "$f: no panic"; done
  expect_grep 'speaker starting.*hw:Loopback,0,0' "$OUT/doorbell.txt" "the doorbell's ALSA speaker starts"
  MIN_SECONDS=0.5 check_tone "$OUT/played.wav" 1000
  echo "note: $(grep -c "playback underrun" "$OUT/doorbell.txt") ALSA playback underruns on the doorbell (emulated VM)"
  return $failed
}
