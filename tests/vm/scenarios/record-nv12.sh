# `roombell record` from vivid at 640x480 with what negotiation picks on its own: NV12 (preferred
# over YUYV at an equal rate). Meanwhile a 1 kHz tone is played into hw:Loopback,0,0 (aplay) and
# roombell records it from hw:Loopback,1,0.
# 5 fps for 8 s (lib.sh; see README.md for why): ROOMBELL_VM_FPS overrides.
FORMAT=NV12
HIDE=

guest() {
  record_with_tone "$FORMAT" "$HIDE"
}

host() {
  record_checks "$FORMAT"
}
