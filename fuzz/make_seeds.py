#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/ from real examples:
the JSON examples of docs/protocol.md, the UserSig vectors in shared/reference, config/*.toml,
small Y4M/WAV files, H.264 RTP packets, RTCP packets, jitter-buffer schedules and the JPEG
test images (plus 4:4:4, 4:2:2 and odd-sized ones if ffmpeg is installed).
The committed corpus is these seeds grown by fuzzing and minimized with `cargo fuzz cmin`;
run this again only to add seeds."""

import base64, json, os, pathlib, struct, sys, zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"
VECTORS = [ROOT.parent / "shared" / "reference" / "usersig-vectors.json",
           pathlib.Path("/work/shared/reference/usersig-vectors.json")]


def write(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def protocol_examples():
    doc = (ROOT / "docs" / "protocol.md").read_text()
    out, rest = [], doc
    while "```json\n" in rest:
        body = rest[rest.index("```json\n") + 8:]
        end = body.index("```")
        out.append(body[:end].strip())
        rest = body[end:]
    return out


CLIENT_TYPES = {"join", "publish", "unpublish", "subscribe", "unsubscribe", "mute",
                "switch-role", "candidate", "leave", "heartbeat"}


def signaling():
    server_lines = []
    for i, example in enumerate(protocol_examples()):
        kind = json.loads(example)["type"]
        if kind in CLIENT_TYPES:
            write("signaling_client", f"doc_{i:02}_{kind}", example)
        else:
            write("signaling_server", f"doc_{i:02}_{kind}", example)
            server_lines.append(json.dumps(json.loads(example), separators=(",", ":")))
    write("signaling_server", "all_documented", "\n".join(server_lines) + "\n")
    # Malformed messages the server must refuse with a typed error.
    bad = {
        "not_json": "hello",
        "no_type": '{"id":1}',
        "type_number": '{"type":5,"id":1}',
        "unknown_type": '{"type":"dance","id":3}',
        "join_missing_fields": '{"type":"join","id":1}',
        "join_bad_room": '{"type":"join","id":1,"sdkAppId":1400000000,"userId":"x","userSig":"s","roomId":0,"mode":"rtc"}',
        "join_string_room": '{"type":"join","id":1,"sdkAppId":1400000000,"userId":"x","userSig":"s","roomId":"front door!","mode":"rtc"}',
        "id_negative": '{"type":"heartbeat","id":-1}',
        "id_float": '{"type":"heartbeat","id":1.5}',
        "id_huge": '{"type":"heartbeat","id":184467440737095516160}',
        "nested_deep": '{"type":"publish","id":1,"audio":true,"video":true,"sdp":' + "[" * 200 + "]" * 200 + "}",
        "publish_bad_sdp": '{"type":"publish","id":9,"audio":true,"video":true,"sdp":"v=0\\r\\nthis is not sdp\\r\\n"}',
        "candidate_bad_peer": '{"type":"candidate","peer":{"subscriber":5},"candidate":{"candidate":"x"}}',
        "duplicate_keys": '{"type":"leave","id":1,"id":2}',
        "unicode_escape": '{"type":"unsubscribe","id":4,"userId":"\\ud800"}',
        "truncated": '{"type":"join","id":1,"sdkAppId":14000',
    }
    for name, text in bad.items():
        write("signaling_client", f"bad_{name}", text)


def load_vectors():
    for path in VECTORS:
        if path.exists():
            return json.loads(path.read_text())["vectors"]
    sys.exit("usersig-vectors.json not found (shared/reference)")


def usersig():
    for v in load_vectors():
        for signer in ("python_tls_sig_api_v2_1_1", "npm_tls_sig_api_v2_1_0_2"):
            write("usersig", f"{v['name']}_{signer.split('_')[0]}", v[signer]["usersig"])
        if v.get("userbuf_hex"):
            write("usersig", f"{v['name']}_userbuf", bytes.fromhex(v["userbuf_hex"]))


def config():
    for name, which in (("room.toml", 0), ("roombell.toml", 1), ("demo.toml", 1)):
        path = ROOT / "config" / name
        if path.exists():
            write("config", name, bytes([which]) + path.read_bytes())
    write("config", "room_minimal", b"\x00[room]\nlisten = \"127.0.0.1:0\"\nsdk_app_id = 1400000000\nsecret_key = \"k\"\n")


def y4m():
    def frame(w, h, fill):
        cw, ch = (w + 1) // 2, (h + 1) // 2
        return b"FRAME\n" + bytes([fill]) * (w * h) + bytes([128]) * (2 * cw * ch)
    write("y4m", "4x4_2frames", b"YUV4MPEG2 W4 H4 F30:1 Ip A1:1 C420jpeg\n" + frame(4, 4, 16) + frame(4, 4, 235))
    write("y4m", "3x3_odd", b"YUV4MPEG2 W3 H3 F25:1 C420mpeg2 XYSCSS=420MPEG2\n" + frame(3, 3, 100))
    write("y4m", "2x2_minimal", b"YUV4MPEG2 W2 H2 F1:1\n" + frame(2, 2, 50))
    write("y4m", "frame_params", b"YUV4MPEG2 W2 H2 F30000:1001 C420paldv\nFRAME Ixyz\n" + b"\x10" * 6)
    write("y4m", "truncated", b"YUV4MPEG2 W8 H8 F30:1\nFRAME\n\x10\x10")


def wav():
    def riff(chunks):
        body = b"WAVE" + b"".join(chunks)
        return b"RIFF" + struct.pack("<I", len(body)) + body

    def fmt(rate, channels, bits=16, tag=1):
        block = channels * bits // 8
        return b"fmt " + struct.pack("<IHHIIHH", 16, tag, channels, rate, rate * block, block, bits)

    def data(samples, size=None):
        raw = struct.pack(f"<{len(samples)}h", *samples)
        return b"data" + struct.pack("<I", len(raw) if size is None else size) + raw

    tone = [int(8000 * ((i % 48) - 24) / 24) for i in range(960)]
    write("wav", "mono_48k_20ms", riff([fmt(48000, 1), data(tone)]))
    write("wav", "stereo_44k", riff([fmt(44100, 2), data(tone[:200])]))
    write("wav", "list_chunk_odd", riff([fmt(48000, 1), b"LIST\x03\x00\x00\x00abc\x00", data(tone[:30])]))
    write("wav", "streaming_size", riff([fmt(48000, 1), data(tone[:100], 0xFFFFFFFF)]))
    write("wav", "float_format", riff([fmt(48000, 1, 32, 3), data(tone[:20])]))


def rtp(seq, ts, marker, payload, pt=102, ssrc=0x1234):
    return struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, ssrc) + payload


def framed(packets):
    return b"".join(struct.pack(">H", len(p)) + p for p in packets)


def rtp_h264():
    sps = bytes.fromhex("6742c01e95a0500c")
    pps = bytes.fromhex("68ce3c80")
    idr = b"\x65" + bytes(range(1, 200))
    slice_ = b"\x41" + bytes(range(1, 60))
    stap = b"\x18" + struct.pack(">H", len(sps)) + sps + struct.pack(">H", len(pps)) + pps
    fu_ind = bytes([(idr[0] & 0xE0) | 28])
    fu = [fu_ind + bytes([0x80 | (idr[0] & 0x1F)]) + idr[1:70],
          fu_ind + bytes([idr[0] & 0x1F]) + idr[70:140],
          fu_ind + bytes([0x40 | (idr[0] & 0x1F)]) + idr[140:]]
    ts = 90000
    write("rtp_h264", "stapa_fua_keyframe_then_p", framed(
        [rtp(1, ts, False, stap)] + [rtp(2 + i, ts, i == 2, p) for i, p in enumerate(fu)]
        + [rtp(5, ts + 3000, True, slice_), rtp(6, ts + 6000, True, slice_)]))
    write("rtp_h264", "single_nals", framed(
        [rtp(10, ts, False, sps), rtp(11, ts, False, pps), rtp(12, ts, True, idr),
         rtp(13, ts + 3000, True, slice_)]))
    write("rtp_h264", "reordered_lost", framed(
        [rtp(21, ts, False, fu[0]), rtp(23, ts, True, fu[2]), rtp(22, ts, False, fu[1]),
         rtp(25, ts + 6000, True, slice_), rtp(24, ts + 3000, True, slice_)]))
    write("rtp_h264", "padding_extension", framed(
        [struct.pack(">BBHII", 0x90, 0x80 | 102, 30, ts, 1) + b"\xbe\xde\x00\x01\x10\xaa\x00\x00" + slice_,
         struct.pack(">BBHII", 0xA0, 0x80 | 102, 31, ts + 3000, 1) + slice_ + b"\x00\x00\x03"]))


def rtcp():
    def hdr(count, pt, words):
        return struct.pack(">BBH", 0x80 | count, pt, words)
    pli = hdr(1, 206, 2) + struct.pack(">II", 1, 2)
    fir = hdr(4, 206, 4) + struct.pack(">IIIBBH", 1, 0, 2, 7, 0, 0)
    block = struct.pack(">IB3sIIII", 2, 64, b"\x00\x00\x05", 1000, 20, 0, 0)
    rr = hdr(1, 201, 7) + struct.pack(">I", 1) + block
    sr = hdr(1, 200, 12) + struct.pack(">IIIII", 1, 0, 0, 90000, 10) + struct.pack(">I", 1000) + block
    sdes = hdr(1, 202, 3) + struct.pack(">I", 1) + b"\x01\x02ab\x00\x00\x00\x00"
    bye = hdr(1, 203, 1) + struct.pack(">I", 1)
    nack = hdr(1, 205, 3) + struct.pack(">IIHH", 1, 2, 100, 0x0005)
    remb = hdr(15, 206, 5) + struct.pack(">II4sBBHI", 1, 0, b"REMB", 1, 0x0A, 0x1234, 2)
    for name, data in {"pli": pli, "fir": fir, "rr": rr, "sr": sr, "rr_sdes": rr + sdes,
                       "sr_pli_bye": sr + pli + bye, "nack": nack, "remb": remb}.items():
        write("rtcp_keyframe", name, data)


def jitter():
    def rec(push, delta=1, jit=0, advance=20, payload_len=10):
        op = (payload_len << 1 | 1) if push else 0
        return bytes([op & 0xFF, delta & 0xFF, jit & 0xFF, advance])
    steady = b"".join(rec(True, advance=0) + rec(False) for _ in range(30))
    write("jitter", "steady", steady)
    reorder = b"".join([rec(True, 1), rec(True, 2), rec(True, -1 & 0xFF), rec(False), rec(False),
                        rec(False), rec(True, 3), rec(False), rec(False)] * 5)
    write("jitter", "reorder_loss", reorder)
    burst = b"".join(rec(True, advance=0) for _ in range(20)) + b"".join(rec(False) for _ in range(25))
    write("jitter", "burst_then_drain", burst)
    jump = b"".join(rec(True) + rec(False) for _ in range(5)) + rec(True, 127) + rec(False) \
        + rec(True, 1) + rec(False) + b"".join(rec(True) + rec(False) for _ in range(5))
    write("jitter", "sequence_jump", jump)
    write("jitter", "stray", b"".join(rec(True) + rec(False) for _ in range(4)) + rec(True, 100)
          + rec(True, -99 & 0xFF) + b"".join(rec(True) + rec(False) for _ in range(4)))


def mjpeg():
    for path in sorted((ROOT / "src" / "media" / "testdata").glob("*.jpg")):
        data = path.read_bytes()
        i, w, h = 2, 0, 0
        while i + 9 < len(data):
            marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                break
            i += 2 + length
        # The fuzz target maps these two u16 to (v % 1024) + 1.
        write("mjpeg", path.stem, struct.pack("<HH", w - 1, h - 1) + data)


def mjpeg_generated():
    import shutil, subprocess, tempfile
    if not shutil.which("ffmpeg"):
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name, (w, h, pix) in {"ffmpeg_444_24x16": (24, 16, "yuvj444p"),
                                  "ffmpeg_422_30x10": (30, 10, "yuvj422p"),
                                  "ffmpeg_420_odd_13x7": (13, 7, "yuvj420p")}.items():
            out = pathlib.Path(tmp) / "x.jpg"
            subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                            "-i", f"testsrc=size={w}x{h}", "-frames:v", "1", "-pix_fmt", pix,
                            str(out)], check=True)
            write("mjpeg", name, struct.pack("<HH", w - 1, h - 1) + out.read_bytes())


def main():
    signaling()
    usersig()
    config()
    y4m()
    wav()
    rtp_h264()
    rtcp()
    jitter()
    mjpeg()
    mjpeg_generated()


if __name__ == "__main__":
    main()
