# As record-nv12, but YUYV. roombell has no setting for the pixel format and picks NV12 over YUYV
# on vivid, so tests/vm/hide_fourcc.c (LD_PRELOAD) hides NV12 from VIDIOC_ENUM_FMT; the
# negotiation then picks YUYV, and S_FMT, REQBUFS, mmap streaming and the conversion are the
# real driver's and roombell's.
FORMAT=YUYV
HIDE=NV12

guest() {
  record_with_tone "$FORMAT" "$HIDE"
}

host() {
  record_checks "$FORMAT"
}
