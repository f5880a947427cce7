/*
 * roombell's browser SDK: the TRTC Web SDK v4 API (trtc-js-sdk 4.15.22) over roombell's room
 * server. A plain script: `<script src="/trtc.js"></script>` gives the global `TRTC`; as a
 * CommonJS module it exports the same object.
 *
 * What is implemented and what is not: docs/web-sdk.md. The wire protocol: docs/protocol.md.
 * The signaling URL defaults to `ws(s)://<the origin this script came from>/ws`;
 * `client.setProxyServer('wss://host/ws')` points one client elsewhere.
 *
 * Sections: errors · logger · events · helpers · profiles · validation · devices · streams
 * (base, local, remote, player, audio level) · client (signaling, join/leave, publish,
 * subscribe, events from the server, reconnect, stats) · the TRTC object.
 */
(function (global, factory) {
  'use strict';
  const TRTC = factory(global);
  if (typeof module === 'object' && module && typeof module.exports === 'object') {
    module.exports = TRTC;
  } else {
    global.TRTC = TRTC;
  }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (global) {
  'use strict';

  /** The API version this SDK mirrors (reference §1.1). */
  const VERSION = '4.15.22';

  /** Where this script was loaded from: the default signaling server is that origin's /ws. */
  const SCRIPT_URL =
    (typeof document !== 'undefined' && document.currentScript && document.currentScript.src) ||
    (typeof location !== 'undefined' ? location.href : '');

  // Protocol constants (src/protocol.rs).
  const HEARTBEAT_INTERVAL_MS = 2000;
  /** No message from the server for this long: the socket is dead even if it looks open. */
  const SERVER_SILENCE_MS = 7000;
  const CONNECT_TIMEOUT_MS = 10000;
  const JOIN_TIMEOUT_MS = 5000;
  const REQUEST_TIMEOUT_MS = 5000;
  const MEDIA_REQUEST_TIMEOUT_MS = 10000;
  const MEDIA_CONNECT_TIMEOUT_MS = 10000;
  const NETWORK_QUALITY_INTERVAL_MS = 2000;
  /** Backoff between rejoin attempts after the signaling socket dropped (≈ 30 s in all). */
  const RECONNECT_DELAYS_MS = [0, 500, 1000, 2000, 4000, 8000, 8000, 8000];
  /** A subscribe can race the publisher's media setup (MEDIA_SETUP_FAILED): retry this often. */
  const SUBSCRIBE_RETRY_DELAYS_MS = [100, 200, 400, 800, 1000, 1500, 2000];
  /** A media connection that failed is rebuilt this many times before an error event. */
  const MEDIA_RESTARTS = 3;

  // ───────────────────────────── errors ─────────────────────────────

  /** TRTC v4 error codes (reference §1.7). TRTC has no runtime object for these. */
  const ErrorCode = {
    INVALID_PARAMETER: 0x1000,
    INVALID_OPERATION: 0x1001,
    NOT_SUPPORTED: 0x1002,
    DEVICE_NOT_FOUND: 0x1003,
    INITIALIZE_FAILED: 0x1004,
    SIGNAL_CHANNEL_SETUP_FAILED: 0x4001,
    SIGNAL_CHANNEL_ERROR: 0x4002,
    ICE_TRANSPORT_ERROR: 0x4003,
    JOIN_ROOM_FAILED: 0x4004,
    CREATE_OFFER_FAILED: 0x4005,
    SIGNAL_CHANNEL_RECONNECTION_FAILED: 0x4006,
    UPLINK_RECONNECTION_FAILED: 0x4007,
    DOWNLINK_RECONNECTION_FAILED: 0x4008,
    REMOTE_STREAM_NOT_EXIST: 0x4010,
    CLIENT_BANNED: 0x4040,
    SERVER_TIMEOUT: 0x4041,
    SUBSCRIPTION_TIMEOUT: 0x4042,
    PLAY_NOT_ALLOWED: 0x4043,
    DEVICE_AUTO_RECOVER_FAILED: 0x4044,
    START_PUBLISH_CDN_FAILED: 0x4045,
    STOP_PUBLISH_CDN_FAILED: 0x4046,
    START_MIX_TRANSCODE_FAILED: 0x4047,
    STOP_MIX_TRANSCODE_FAILED: 0x4048,
    NOT_SUPPORTED_H264: 0x4049,
    SWITCH_ROLE_FAILED: 0x404a,
    API_CALL_TIMEOUT: 0x404b,
    SCHEDULE_FAILED: 0x404c,
    API_CALL_ABORTED: 0x404d,
    UNKNOWN: 0xffff,
  };
  /** The server's extra codes this SDK reacts to (docs/protocol.md, "Errors"). */
  const Extra = { NO_SUCH_STREAM: 16, MEDIA_SETUP_FAILED: 19 };

  function codeName(code) {
    for (const name of Object.keys(ErrorCode)) if (ErrorCode[name] === code) return name;
    return 'UNKNOWN';
  }

  /** TRTC's RtcError: `name` 'RtcError', message ending `<NAME 0xhex>`, getCode(), getExtraCode(). */
  class RtcError extends Error {
    constructor({ code = ErrorCode.UNKNOWN, extraCode = 0, message = '', name = 'RtcError' } = {}) {
      const text = `${message} <${codeName(code)} 0x${code.toString(16)}>`;
      super(text);
      this.name = name;
      this.code = code;
      this.extraCode = extraCode;
      this.message_ = message;
    }
    getCode() {
      return this.code;
    }
    getExtraCode() {
      return this.extraCode;
    }
  }

  function invalidParameter(message) {
    return new RtcError({ code: ErrorCode.INVALID_PARAMETER, message });
  }
  function invalidOperation(message) {
    return new RtcError({ code: ErrorCode.INVALID_OPERATION, message });
  }
  /** A server refusal ({code, extraCode, message}) as an RtcError, optionally with another code. */
  function serverError(err, code) {
    return new RtcError({
      code: code !== undefined ? code : err.code,
      extraCode: err.extraCode || 0,
      message: err.message || 'refused by the room server',
    });
  }

  // ───────────────────────────── logger ─────────────────────────────

  const LogLevel = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4, NONE: 5 };
  let logLevel = LogLevel.INFO;
  const log = {
    debug: (...a) => logLevel <= LogLevel.DEBUG && console.debug('[TRTC]', ...a),
    info: (...a) => logLevel <= LogLevel.INFO && console.info('[TRTC]', ...a),
    warn: (...a) => logLevel <= LogLevel.WARN && console.warn('[TRTC]', ...a),
    error: (...a) => logLevel <= LogLevel.ERROR && console.error('[TRTC]', ...a),
  };
  const Logger = {
    LogLevel,
    setLogLevel(level) {
      if (typeof level === 'number' && level >= 0 && level <= 5) logLevel = level;
    },
    /** TRTC uploads logs to Tencent; roombell keeps them in the console. */
    enableUploadLog() {},
    disableUploadLog() {},
  };

  // ───────────────────────────── events ─────────────────────────────

  /** on / off / emit as TRTC's Client and Stream have them (off('*') removes everything). */
  class EventEmitter {
    constructor() {
      this.handlers_ = new Map();
    }
    on(event, handler, context) {
      if (typeof event !== 'string' || typeof handler !== 'function') return;
      if (!this.handlers_.has(event)) this.handlers_.set(event, []);
      this.handlers_.get(event).push({ handler, context });
    }
    off(event, handler, context) {
      if (event === '*') {
        this.handlers_.clear();
        return;
      }
      const list = this.handlers_.get(event);
      if (!list) return;
      if (!handler) {
        this.handlers_.delete(event);
        return;
      }
      this.handlers_.set(
        event,
        list.filter((h) => h.handler !== handler || (context !== undefined && h.context !== context))
      );
    }
    emit_(event, payload) {
      const list = this.handlers_.get(event);
      if (!list) return;
      for (const { handler, context } of list.slice()) {
        try {
          handler.call(context, payload);
        } catch (e) {
          log.error(`a handler of "${event}" threw`, e);
        }
      }
    }
  }

  // ───────────────────────────── helpers ─────────────────────────────

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** A uuid v4 that also works outside secure contexts (no crypto.randomUUID on plain http). */
  function uuidv4() {
    const b = new Uint8Array(16);
    if (global.crypto && global.crypto.getRandomValues) global.crypto.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function isPlainObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  }

  function withTimeout(promise, ms, onTimeout) {
    let timer;
    return Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  function defaultSignalingUrl() {
    const url = new URL('/ws', SCRIPT_URL || 'http://127.0.0.1/');
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.href;
  }

  /** Puts our codec first and drops what the room server does not negotiate (H.264 42e01f, Opus). */
  function preferCodecs(transceiver, kind) {
    if (!transceiver.setCodecPreferences || !global.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) return;
    const caps = RTCRtpReceiver.getCapabilities(kind);
    if (!caps) return;
    const wanted = caps.codecs.filter((c) => {
      const mime = c.mimeType.toLowerCase();
      if (kind === 'audio') return mime === 'audio/opus';
      const fmtp = (c.sdpFmtpLine || '').toLowerCase();
      return mime === 'video/h264' && fmtp.includes('packetization-mode=1') && fmtp.includes('profile-level-id=42e01f');
    });
    if (wanted.length === 0) return;
    try {
      transceiver.setCodecPreferences(wanted);
    } catch (e) {
      log.warn('setCodecPreferences failed; the offer keeps every codec', e);
    }
  }

  function candidateToWire(candidate) {
    const wire = { candidate: candidate.candidate };
    if (candidate.sdpMid !== null && candidate.sdpMid !== undefined) wire.sdpMid = candidate.sdpMid;
    if (candidate.sdpMLineIndex !== null && candidate.sdpMLineIndex !== undefined) wire.sdpMLineIndex = candidate.sdpMLineIndex;
    return wire;
  }

  /** Waits until a peer connection is connected; rejects if it fails or the time runs out. */
  function waitConnected(pc, ms) {
    if (pc.connectionState === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`media not connected after ${ms} ms`)), ms);
      const check = () => {
        if (pc.connectionState === 'connected') done();
        else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') done(new Error(`media connection ${pc.connectionState}`));
      };
      function done(err) {
        clearTimeout(timer);
        pc.removeEventListener('connectionstatechange', check);
        if (err) reject(err);
        else resolve();
      }
      pc.addEventListener('connectionstatechange', check);
    });
  }

  /** TRTC's network quality from loss (%) and RTT (ms), reference §1.5. */
  function qualityOf(loss, rtt) {
    if (loss > 50 || rtt > 500) return 5;
    if (loss > 30 || rtt > 350) return 4;
    if (loss > 20 || rtt > 200) return 3;
    if (loss > 10 || rtt > 100) return 2;
    return 1;
  }

  // ───────────────────────────── profiles ─────────────────────────────

  /** Video profiles: width, height, frameRate, bitrate (kbps) (reference §1.4). */
  const VIDEO_PROFILES = {
    '120p': [160, 120, 15, 200],
    '120p_2': [160, 120, 15, 100],
    '180p': [320, 180, 15, 350],
    '180p_2': [320, 180, 15, 150],
    '240p': [320, 240, 15, 400],
    '240p_2': [320, 240, 15, 200],
    '360p': [640, 360, 15, 800],
    '360p_2': [640, 360, 15, 400],
    '480p': [640, 480, 15, 900],
    '480p_2': [640, 480, 15, 500],
    '720p': [1280, 720, 15, 1500],
    '1080p': [1920, 1080, 15, 2000],
    '1440p': [2560, 1440, 30, 4860],
    '4K': [3840, 2160, 30, 9000],
  };
  const SCREEN_PROFILES = {
    '480p': [640, 480, 5, 900],
    '480p_2': [640, 480, 30, 1000],
    '720p': [1280, 720, 5, 1200],
    '720p_2': [1280, 720, 30, 3000],
    '1080p': [1920, 1080, 5, 1600],
    '1080p_2': [1920, 1080, 30, 4000],
  };
  /** Audio profiles: sampleRate, channelCount, bitrate (kbps). */
  const AUDIO_PROFILES = {
    standard: [48000, 1, 40],
    'standard-stereo': [48000, 2, 64],
    high: [48000, 1, 128],
    'high-stereo': [48000, 2, 192],
  };

  function videoProfile(profile, table, fallback) {
    if (isPlainObject(profile)) {
      const base = table[fallback];
      const p = {
        width: Number(profile.width) || base[0],
        height: Number(profile.height) || base[1],
        frameRate: Number(profile.frameRate) || base[2],
        bitrate: Number(profile.bitrate) || base[3],
      };
      return clampVideo(p);
    }
    const row = table[profile] || table[fallback];
    if (!table[profile]) log.warn(`unknown video profile ${JSON.stringify(profile)}, using ${fallback}`);
    return clampVideo({ width: row[0], height: row[1], frameRate: row[2], bitrate: row[3] });
  }

  /** 1440p and 4K need a server capability this server does not announce: clamp to 1080p. */
  function clampVideo(p) {
    if (p.width * p.height >= 3686400) {
      const [width, height, frameRate, bitrate] = VIDEO_PROFILES['1080p'];
      return { width, height, frameRate, bitrate };
    }
    return p;
  }

  function audioProfile(profile) {
    if (isPlainObject(profile)) {
      const base = AUDIO_PROFILES.standard;
      return {
        sampleRate: Number(profile.sampleRate) || base[0],
        channelCount: Number(profile.channelCount) || base[1],
        bitrate: Number(profile.bitrate) || base[2],
      };
    }
    const row = AUDIO_PROFILES[profile] || AUDIO_PROFILES.standard;
    return { sampleRate: row[0], channelCount: row[1], bitrate: row[2] };
  }

  // ───────────────────────────── validation ─────────────────────────────

  const NUMERIC_ROOM_ID = /^[1-9]\d*$/;
  const STRING_ROOM_ID = /^[A-Za-z\d\s!#$%&()+\-:;<=.>?@[\]^_{}|~,]{1,64}$/;

  /** The createClient schema (reference §1.2). */
  function validateClientConfig(config) {
    if (!isPlainObject(config)) throw invalidParameter('createClient(config): config must be an object');
    const { sdkAppId, userId, userSig, mode } = config;
    if (typeof sdkAppId !== 'number' || !Number.isFinite(sdkAppId)) throw invalidParameter(`config.sdkAppId must be a number, got ${JSON.stringify(sdkAppId)}`);
    if (sdkAppId === 0) throw invalidParameter('config.sdkAppId must not be 0');
    if (typeof userId !== 'string' || userId.trim() === '') throw invalidParameter('config.userId must be a non-empty string');
    if (typeof userSig !== 'string' || userSig.trim() === '') throw invalidParameter('config.userSig must be a non-empty string');
    if (mode !== 'rtc' && mode !== 'live') throw invalidParameter(`config.mode must be 'rtc' or 'live', got ${JSON.stringify(mode)}`);
    for (const key of ['useStringRoomId', 'autoSubscribe', 'enableAutoPlayDialog', 'enableSEI']) {
      if (config[key] !== undefined && typeof config[key] !== 'boolean') throw invalidParameter(`config.${key} must be a boolean`);
    }
    if (config.streamId !== undefined && (typeof config.streamId !== 'string' || config.streamId.length > 64)) {
      throw invalidParameter('config.streamId must be a string of at most 64 characters');
    }
    if (config.userDefineRecordId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(String(config.userDefineRecordId))) {
      throw invalidParameter('config.userDefineRecordId must match /^[A-Za-z0-9_-]{1,64}$/');
    }
    if (config.pureAudioPushMode !== undefined && config.pureAudioPushMode !== 1 && config.pureAudioPushMode !== 2) {
      throw invalidParameter('config.pureAudioPushMode must be 1 or 2');
    }
    if (config.frameWorkType !== undefined && typeof config.frameWorkType !== 'number') throw invalidParameter('config.frameWorkType must be a number');
  }

  /** The roomId rules of join (reference §1.3). */
  function validateRoomId(roomId, useStringRoomId) {
    if (useStringRoomId) {
      if (typeof roomId !== 'string' || !STRING_ROOM_ID.test(roomId)) {
        throw invalidParameter(
          `roomId ${JSON.stringify(roomId)} is not valid with useStringRoomId: 1 to 64 characters from letters, digits, space and !#$%&()+-:;<=.>?@[]^_{}|~,`
        );
      }
      return;
    }
    if (typeof roomId !== 'number' || !Number.isInteger(roomId) || !NUMERIC_ROOM_ID.test(String(roomId)) || roomId >= 4294967295) {
      throw invalidParameter(`roomId ${JSON.stringify(roomId)} is not valid: a number from 1 to 4294967294 (or set useStringRoomId: true for string room ids)`);
    }
  }

  /** The createStream schema (reference §1.4). */
  function validateStreamConfig(config) {
    if (!isPlainObject(config)) throw invalidParameter('createStream(config): config must be an object');
    for (const key of ['audio', 'video', 'screen', 'screenAudio', 'echoCancellation', 'autoGainControl', 'noiseSuppression', 'enableAutoRecoverCapture', 'enableAutoRecoverOther', 'mirror']) {
      if (config[key] !== undefined && typeof config[key] !== 'boolean') throw invalidParameter(`config.${key} must be a boolean`);
    }
    for (const key of ['userId', 'microphoneId', 'cameraId']) {
      if (config[key] !== undefined && typeof config[key] !== 'string') throw invalidParameter(`config.${key} must be a string`);
    }
    if (config.facingMode !== undefined && config.facingMode !== 'user' && config.facingMode !== 'environment') {
      throw invalidParameter("config.facingMode must be 'user' or 'environment'");
    }
    const isTrack = (t) => typeof MediaStreamTrack !== 'undefined' && t instanceof MediaStreamTrack;
    if (config.audioSource !== undefined && !isTrack(config.audioSource)) throw invalidParameter('config.audioSource must be a MediaStreamTrack');
    if (config.videoSource !== undefined && !isTrack(config.videoSource)) throw invalidParameter('config.videoSource must be a MediaStreamTrack');
    if (!config.audio && !config.video && !config.screen && !config.audioSource && !config.videoSource) {
      throw invalidParameter('createStream needs audio, video or screen, or an audioSource / videoSource track');
    }
    if (config.screen && config.video) throw invalidParameter('screen and video cannot both be true');
    if (config.audio && config.screenAudio) throw invalidParameter('audio and screenAudio cannot both be true');
    if (config.screenAudio && !config.screen) throw invalidParameter('screenAudio needs screen: true');
    if (config.mirror !== undefined) log.warn('createStream({mirror}) is deprecated since 4.12.1; use play(el, {mirror})');
  }

  // ───────────────────────────── devices ─────────────────────────────

  async function enumerate() {
    if (typeof navigator === 'undefined' || !navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return [];
    return navigator.mediaDevices.enumerateDevices();
  }

  function plainDevices(devices, kind, prefix) {
    return devices
      .filter((d) => d.kind === kind)
      .map((d, i) => {
        const out = { label: d.label || `${prefix}_${i}`, deviceId: d.deviceId, kind: d.kind, groupId: d.groupId };
        if (typeof d.getCapabilities === 'function') out.getCapabilities = () => d.getCapabilities();
        return out;
      });
  }

  // ───────────────────────────── audio level ─────────────────────────────

  let sharedAudioContext = null;
  function audioContext() {
    const Ctx = global.AudioContext || global.webkitAudioContext;
    if (!Ctx) return null;
    if (!sharedAudioContext) sharedAudioContext = new Ctx();
    if (sharedAudioContext.state === 'suspended') sharedAudioContext.resume().catch(() => {});
    return sharedAudioContext;
  }

  /** The level (0..1) of one audio track, measured with a WebAudio analyser. */
  class AudioLevelMeter {
    constructor(track) {
      this.track = track;
      const ctx = audioContext();
      if (!ctx) return;
      this.source_ = ctx.createMediaStreamSource(new MediaStream([track]));
      this.analyser_ = ctx.createAnalyser();
      this.analyser_.fftSize = 1024;
      this.source_.connect(this.analyser_);
      this.buffer_ = new Float32Array(this.analyser_.fftSize);
    }
    level() {
      if (!this.analyser_ || this.track.readyState === 'ended') return 0;
      const ctx = audioContext();
      if (ctx && ctx.state !== 'running') return 0;
      this.analyser_.getFloatTimeDomainData(this.buffer_);
      let sum = 0;
      for (const x of this.buffer_) sum += x * x;
      // RMS scaled so that a full-scale sine reads 1.
      return Math.min(1, Math.sqrt(sum / this.buffer_.length) * Math.SQRT2);
    }
    close() {
      try {
        if (this.source_) this.source_.disconnect();
      } catch (e) {
        /* already disconnected */
      }
    }
  }

  // ───────────────────────────── streams ─────────────────────────────

  /**
   * What play() puts in the page: div#player_<id> holding a muted <video> (picture) and an
   * <audio> (sound; remote streams only unless muted:false is asked for a local one).
   */
  class Player {
    constructor(stream, container, options) {
      this.stream = stream;
      this.options = options;
      this.div = document.createElement('div');
      this.div.id = `player_${stream.getId()}`;
      this.div.style.cssText = 'width:100%;height:100%;position:relative;overflow:hidden;background-color:#000';
      container.appendChild(this.div);
      this.video = null;
      this.audio = null;
      this.refresh();
    }

    /** Creates or updates the elements for the stream's current tracks and options. */
    refresh() {
      const stream = this.stream;
      const videoTrack = stream.getVideoTrack();
      const audioTrack = stream.getAudioTrack();
      if (videoTrack) {
        if (!this.video) {
          this.video = document.createElement('video');
          this.video.id = `video_${stream.getId()}`;
          this.video.autoplay = true;
          this.video.muted = true;
          this.video.playsInline = true;
          this.video.setAttribute('playsinline', '');
          this.video.style.cssText = 'width:100%;height:100%;position:absolute;left:0;top:0;background-color:#000';
          this.video.addEventListener('playing', () => stream.playerState_('video', 'PLAYING', 'playing'));
          this.video.addEventListener('pause', () => stream.playerState_('video', 'PAUSED', 'pause'));
          this.div.appendChild(this.video);
        }
        this.video.style.objectFit = this.options.objectFit;
        this.video.style.transform = this.options.mirror ? 'rotateY(180deg)' : '';
        if (!this.video.srcObject || this.video.srcObject.getVideoTracks()[0] !== videoTrack) {
          this.video.srcObject = new MediaStream([videoTrack]);
        }
      } else if (this.video) {
        this.video.remove();
        this.video = null;
      }
      const wantAudio = audioTrack && !this.options.muted;
      if (wantAudio) {
        if (!this.audio) {
          this.audio = document.createElement('audio');
          this.audio.id = `audio_${stream.getId()}`;
          this.audio.autoplay = true;
          this.audio.addEventListener('playing', () => stream.playerState_('audio', 'PLAYING', 'playing'));
          this.audio.addEventListener('pause', () => stream.playerState_('audio', 'PAUSED', 'pause'));
          this.div.appendChild(this.audio);
          if (stream.audioOutput_ && this.audio.setSinkId) this.audio.setSinkId(stream.audioOutput_).catch(() => {});
        }
        this.audio.volume = stream.audioVolume_;
        if (!this.audio.srcObject || this.audio.srcObject.getAudioTracks()[0] !== audioTrack) {
          this.audio.srcObject = new MediaStream([audioTrack]);
        }
      } else if (this.audio) {
        this.audio.remove();
        this.audio = null;
      }
    }

    /** Starts the elements; rejects with the DOMException of the first that refuses. */
    async start() {
      const plays = [];
      if (this.video) plays.push(this.video.play());
      if (this.audio) plays.push(this.audio.play());
      await Promise.all(plays);
    }

    stop() {
      for (const el of [this.video, this.audio]) {
        if (el) {
          el.pause();
          el.srcObject = null;
        }
      }
      this.div.remove();
    }
  }

  /** What LocalStream and RemoteStream share (TRTC's Stream, reference §1.4). */
  class Stream extends EventEmitter {
    constructor(userId) {
      super();
      this.id_ = uuidv4();
      this.userId_ = userId || '';
      this.mediaStream_ = new MediaStream();
      this.player_ = null;
      this.meters_ = new Map();
      this.audioVolume_ = 1;
      this.audioOutput_ = null;
      this.trackListeners_ = new Map();
    }

    getId() {
      return this.id_;
    }
    getUserId() {
      return this.userId_;
    }
    getMediaStream() {
      return this.mediaStream_;
    }
    getAudioTrack() {
      return this.mediaStream_.getAudioTracks()[0] || null;
    }
    getVideoTrack() {
      return this.mediaStream_.getVideoTracks()[0] || null;
    }
    hasAudio() {
      return !!this.getAudioTrack();
    }
    hasVideo() {
      return !!this.getVideoTrack();
    }
    isPlaying() {
      return !!this.player_;
    }
    getTinyId() {
      return 0;
    }

    /**
     * Plays the stream in a container (an element id or a div): appends div#player_<id>.
     * Playing again updates the options.
     */
    async play(elementId, options = {}) {
      if (!isPlainObject(options)) throw invalidParameter('play(elementId, options): options must be an object');
      const objectFit = options.objectFit === undefined ? 'cover' : options.objectFit;
      if (!['contain', 'cover', 'fill'].includes(objectFit)) {
        throw invalidParameter(`objectFit must be 'contain', 'cover' or 'fill', got ${JSON.stringify(objectFit)}`);
      }
      const container = typeof elementId === 'string' ? document.getElementById(elementId) : elementId;
      if (!container || typeof container.appendChild !== 'function') {
        throw invalidParameter(`play(): no element ${JSON.stringify(elementId)} to play in`);
      }
      const opts = {
        objectFit,
        muted: options.muted === undefined ? !this.isRemote() : !!options.muted,
        mirror: options.mirror === undefined ? !this.isRemote() && !this.isScreen_() : !!options.mirror,
      };
      if (this.player_ && this.player_.div.parentNode !== container) {
        this.player_.stop();
        this.player_ = null;
      }
      if (this.player_) {
        this.player_.options = opts;
        this.player_.refresh();
      } else {
        this.player_ = new Player(this, container, opts);
      }
      try {
        await this.player_.start();
      } catch (e) {
        if (e && e.name === 'NotAllowedError') {
          const err = new RtcError({ code: ErrorCode.PLAY_NOT_ALLOWED, message: 'the browser blocked autoplay: call stream.resume() after a user gesture' });
          this.emit_('error', err);
          throw err;
        }
        if (e && e.name === 'AbortError') return; // superseded by a newer play(); not an error
        throw new RtcError({ code: ErrorCode.UNKNOWN, message: `play failed: ${e && e.message}` });
      }
    }

    stop() {
      if (this.player_) {
        this.player_.stop();
        this.player_ = null;
      }
    }

    async resume() {
      if (!this.player_) return;
      try {
        await this.player_.start();
      } catch (e) {
        if (e && e.name === 'NotAllowedError') {
          const err = new RtcError({ code: ErrorCode.PLAY_NOT_ALLOWED, message: 'resume() needs a user gesture' });
          this.emit_('error', err);
          throw err;
        }
        throw new RtcError({ code: ErrorCode.UNKNOWN, message: `resume failed: ${e && e.message}` });
      }
    }

    close() {
      this.stop();
      for (const meter of this.meters_.values()) meter.close();
      this.meters_.clear();
    }

    muteAudio() {
      const track = this.getAudioTrack();
      if (!track) return false;
      track.enabled = false;
      this.onMuteChanged_();
      return true;
    }
    muteVideo() {
      const track = this.getVideoTrack();
      if (!track) return false;
      track.enabled = false;
      this.onMuteChanged_();
      return true;
    }
    unmuteAudio() {
      const track = this.getAudioTrack();
      if (!track) return false;
      track.enabled = true;
      this.onMuteChanged_();
      return true;
    }
    unmuteVideo() {
      const track = this.getVideoTrack();
      if (!track) return false;
      track.enabled = true;
      this.onMuteChanged_();
      return true;
    }
    onMuteChanged_() {}

    /** 0..1, from a WebAudio analyser on the audio track. */
    getAudioLevel() {
      const track = this.getAudioTrack();
      if (!track) return 0;
      let meter = this.meters_.get(track.id);
      if (!meter) {
        for (const old of this.meters_.values()) old.close();
        this.meters_.clear();
        meter = new AudioLevelMeter(track);
        this.meters_.set(track.id, meter);
      }
      return meter.level();
    }

    async setAudioOutput(deviceId) {
      this.audioOutput_ = deviceId;
      const audio = this.player_ && this.player_.audio;
      if (audio && audio.setSinkId) await audio.setSinkId(deviceId);
    }

    setAudioVolume(volume) {
      const v = Math.max(0, Math.min(1, Number(volume)));
      if (Number.isNaN(v)) return;
      this.audioVolume_ = v;
      if (this.player_ && this.player_.audio) this.player_.audio.volume = v;
    }

    /** A PNG data URL of the current picture, or null. */
    getVideoFrame() {
      const video = this.player_ && this.player_.video;
      if (!video || !video.videoWidth) return null;
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext('2d').drawImage(video, 0, 0);
      return canvas.toDataURL('image/png');
    }

    isScreen_() {
      return false;
    }

    playerState_(type, state, reason) {
      this.emit_('player-state-changed', { type, state, reason });
    }

    /** Puts `track` in the stream in place of any track of its kind and refreshes the player. */
    setTrack_(track) {
      for (const old of this.mediaStream_.getTracks()) {
        if (old.kind === track.kind && old !== track) {
          this.mediaStream_.removeTrack(old);
          this.unwatchTrack_(old);
        }
      }
      if (!this.mediaStream_.getTracks().includes(track)) {
        this.mediaStream_.addTrack(track);
        this.watchTrack_(track);
      }
      if (this.player_) {
        this.player_.refresh();
        this.player_.start().catch(() => {});
      }
    }

    removeTrackOfKind_(kind) {
      for (const old of this.mediaStream_.getTracks()) {
        if (old.kind === kind) {
          this.mediaStream_.removeTrack(old);
          this.unwatchTrack_(old);
        }
      }
      if (this.player_) this.player_.refresh();
    }

    watchTrack_(track) {
      const type = track.kind;
      const listeners = {
        mute: () => this.playerState_(type, 'PAUSED', 'mute'),
        unmute: () => this.playerState_(type, 'PLAYING', 'unmute'),
        ended: () => this.playerState_(type, 'STOPPED', 'ended'),
      };
      for (const [event, fn] of Object.entries(listeners)) track.addEventListener(event, fn);
      this.trackListeners_.set(track, listeners);
    }

    unwatchTrack_(track) {
      const listeners = this.trackListeners_.get(track);
      if (!listeners) return;
      for (const [event, fn] of Object.entries(listeners)) track.removeEventListener(event, fn);
      this.trackListeners_.delete(track);
    }
  }

  /** A stream from this browser's camera, microphone or screen (TRTC's LocalStream). */
  class LocalStream extends Stream {
    constructor(config) {
      super(config.userId);
      this.config_ = Object.assign({}, config);
      if (this.config_.screen && this.config_.audio === undefined) this.config_.audio = false;
      this.videoProfile_ = videoProfile('480p_2', VIDEO_PROFILES, '480p_2');
      this.screenProfile_ = videoProfile('1080p', SCREEN_PROFILES, '1080p');
      this.audioProfile_ = audioProfile('standard');
      this.initialized_ = false;
      this.initializing_ = false;
      /** The client that publishes this stream, while it does. */
      this.client_ = null;
    }

    getType() {
      return 'local';
    }
    isRemote() {
      return false;
    }
    isScreen_() {
      return !!this.config_.screen;
    }

    audioConstraints_(deviceId) {
      const c = this.config_;
      const screenAudio = !!c.screenAudio;
      const constraints = {
        echoCancellation: c.echoCancellation !== undefined ? c.echoCancellation : true,
        autoGainControl: c.autoGainControl !== undefined ? c.autoGainControl : !screenAudio,
        noiseSuppression: c.noiseSuppression !== undefined ? c.noiseSuppression : !screenAudio,
        sampleRate: this.audioProfile_.sampleRate,
        channelCount: this.audioProfile_.channelCount,
      };
      const id = deviceId || c.microphoneId;
      if (id) constraints.deviceId = { exact: id };
      return constraints;
    }

    videoConstraints_(deviceId) {
      const p = this.videoProfile_;
      const constraints = { width: { ideal: p.width }, height: { ideal: p.height }, frameRate: { ideal: p.frameRate } };
      const id = deviceId || this.config_.cameraId;
      if (id) constraints.deviceId = { exact: id };
      else if (this.config_.facingMode) constraints.facingMode = this.config_.facingMode;
      return constraints;
    }

    /** Opens the devices (getUserMedia / getDisplayMedia) or wraps the given tracks. */
    async initialize() {
      if (this.initialized_ || this.initializing_) throw invalidOperation('the stream is already initialized');
      this.initializing_ = true;
      try {
        const c = this.config_;
        const tracks = [];
        if (c.audioSource) tracks.push(c.audioSource);
        if (c.videoSource) tracks.push(c.videoSource);
        const wantAudio = !!c.audio && !c.audioSource;
        const wantVideo = !!c.video && !c.videoSource;
        const md = typeof navigator !== 'undefined' ? navigator.mediaDevices : undefined;
        if (c.screen) {
          if (!md || !md.getDisplayMedia) throw new RtcError({ code: ErrorCode.NOT_SUPPORTED, message: 'screen sharing is not supported by this browser' });
          const p = this.screenProfile_;
          const display = await md
            .getDisplayMedia({ video: { width: p.width, height: p.height, frameRate: p.frameRate }, audio: !!c.screenAudio })
            .catch((e) => {
              throw captureError(e);
            });
          for (const t of display.getTracks()) tracks.push(t);
          const screenTrack = display.getVideoTracks()[0];
          if (screenTrack) screenTrack.addEventListener('ended', () => this.emit_('screen-sharing-stopped'));
        }
        if (wantAudio || wantVideo) {
          if (!md || !md.getUserMedia) {
            throw new RtcError({
              code: ErrorCode.INITIALIZE_FAILED,
              name: 'NotSupportedError',
              message: 'getUserMedia is not available: the page must come from https:// or localhost',
            });
          }
          const devices = await enumerate();
          if (devices.length > 0) {
            if (wantAudio && !devices.some((d) => d.kind === 'audioinput')) throw new RtcError({ code: ErrorCode.DEVICE_NOT_FOUND, message: 'no microphone found' });
            if (wantVideo && !devices.some((d) => d.kind === 'videoinput')) throw new RtcError({ code: ErrorCode.DEVICE_NOT_FOUND, message: 'no camera found' });
          }
          const media = await md
            .getUserMedia({
              audio: wantAudio ? this.audioConstraints_() : false,
              video: wantVideo ? this.videoConstraints_() : false,
            })
            .catch((e) => {
              throw captureError(e);
            });
          for (const t of media.getTracks()) tracks.push(t);
        }
        for (const t of tracks) this.setTrack_(t);
        const video = this.getVideoTrack();
        if (video && c.screen) video.contentHint = 'detail';
        this.initialized_ = true;
        log.info(`local stream ${this.id_} initialized: ${tracks.map((t) => t.kind).join('+')}`);
      } finally {
        this.initializing_ = false;
      }
    }

    close() {
      super.close();
      for (const t of this.mediaStream_.getTracks()) t.stop();
      this.initialized_ = false;
    }

    onMuteChanged_() {
      if (this.client_) this.client_.sendMuteState_(this);
    }

    audioMuted_() {
      const t = this.getAudioTrack();
      return !!t && !t.enabled;
    }
    videoMuted_() {
      const t = this.getVideoTrack();
      return !!t && !t.enabled;
    }

    /** Sets 'standard' … 'high-stereo' or {sampleRate, channelCount, bitrate}; unknown → standard. */
    setAudioProfile(profile) {
      this.audioProfile_ = audioProfile(profile);
      if (this.client_) this.client_.applySendParameters_(this).catch((e) => log.warn('setAudioProfile', e));
    }

    /** Sets a profile from the table or {width, height, frameRate, bitrate}; unknown → 480p_2. */
    async setVideoProfile(profile) {
      if (profile === undefined || (typeof profile !== 'string' && !isPlainObject(profile))) {
        throw invalidParameter('setVideoProfile(profile): a profile name or {width, height, frameRate, bitrate}');
      }
      this.videoProfile_ = videoProfile(profile, VIDEO_PROFILES, '480p_2');
      const track = this.getVideoTrack();
      if (track && !this.config_.screen && track.applyConstraints) {
        const p = this.videoProfile_;
        await track.applyConstraints({ width: { ideal: p.width }, height: { ideal: p.height }, frameRate: { ideal: p.frameRate } }).catch((e) => {
          log.warn('the camera refused the profile', e);
        });
      }
      if (this.client_) await this.client_.applySendParameters_(this);
    }

    async setScreenProfile(profile) {
      this.screenProfile_ = videoProfile(profile, SCREEN_PROFILES, '1080p');
      const track = this.getVideoTrack();
      if (track && this.config_.screen && track.applyConstraints) {
        const p = this.screenProfile_;
        await track.applyConstraints({ width: p.width, height: p.height, frameRate: p.frameRate }).catch(() => {});
      }
      if (this.client_) await this.client_.applySendParameters_(this);
    }

    setVideoContentHint(hint) {
      const track = this.getVideoTrack();
      if (track && ['motion', 'detail', 'text'].includes(hint)) track.contentHint = hint;
    }

    /** The profile (bitrate in kbps, frameRate) the video sender is held to. */
    sendProfile_() {
      return this.config_.screen ? this.screenProfile_ : this.videoProfile_;
    }

    /** Opens another camera or microphone and swaps it in, published or not. */
    async switchDevice(type, deviceId) {
      if (type !== 'audio' && type !== 'video') throw invalidParameter("switchDevice(type, deviceId): type must be 'audio' or 'video'");
      if (typeof deviceId !== 'string') throw invalidParameter('switchDevice(type, deviceId): deviceId must be a string');
      const old = type === 'audio' ? this.getAudioTrack() : this.getVideoTrack();
      if (!old) throw invalidOperation(`the stream has no ${type} track to switch`);
      const md = navigator.mediaDevices;
      const constraints = type === 'audio' ? { audio: this.audioConstraints_(deviceId) } : { video: this.videoConstraints_(deviceId) };
      old.stop(); // some cameras cannot be opened twice
      const media = await md.getUserMedia(constraints).catch((e) => {
        throw captureError(e);
      });
      const track = type === 'audio' ? media.getAudioTracks()[0] : media.getVideoTracks()[0];
      track.enabled = old.enabled;
      if (type === 'audio') this.config_.microphoneId = deviceId;
      else this.config_.cameraId = deviceId;
      this.setTrack_(track);
      if (this.client_) await this.client_.replaceSendTrack_(this, track);
    }

    /** Adds a track of a kind the stream lacks (not while published: that needs renegotiation). */
    async addTrack(track) {
      if (typeof MediaStreamTrack === 'undefined' || !(track instanceof MediaStreamTrack)) throw invalidParameter('addTrack(track): a MediaStreamTrack');
      if (this.client_) throw new RtcError({ code: ErrorCode.NOT_SUPPORTED, message: 'addTrack on a published stream is not supported: unpublish, add, publish' });
      if ((track.kind === 'audio' ? this.getAudioTrack() : this.getVideoTrack())) throw invalidOperation(`the stream already has a ${track.kind} track`);
      this.setTrack_(track);
    }

    async removeTrack(track) {
      if (this.client_) throw new RtcError({ code: ErrorCode.NOT_SUPPORTED, message: 'removeTrack on a published stream is not supported: unpublish first' });
      if (!this.mediaStream_.getTracks().includes(track)) throw invalidParameter('removeTrack(track): the track is not in this stream');
      this.removeTrackOfKind_(track.kind);
    }

    async replaceTrack(track) {
      if (typeof MediaStreamTrack === 'undefined' || !(track instanceof MediaStreamTrack)) throw invalidParameter('replaceTrack(track): a MediaStreamTrack');
      const old = track.kind === 'audio' ? this.getAudioTrack() : this.getVideoTrack();
      if (!old) throw invalidOperation(`the stream has no ${track.kind} track to replace`);
      this.setTrack_(track);
      if (this.client_) await this.client_.replaceSendTrack_(this, track);
    }

    /** Not implemented (needs a WebAudio gain stage in the send path); returns false. */
    setAudioCaptureVolume() {
      log.warn('setAudioCaptureVolume is not implemented by roombell');
      return false;
    }
  }

  /** getUserMedia / getDisplayMedia failures as TRTC reports them. */
  function captureError(e) {
    const name = (e && e.name) || 'Error';
    if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') {
      const detail = (e && (e.message || e.constraint)) || '';
      return new RtcError({ code: ErrorCode.DEVICE_NOT_FOUND, message: `no such device (${name}${detail ? ': ' + detail : ''})` });
    }
    return new RtcError({ code: ErrorCode.INITIALIZE_FAILED, name, message: `cannot open the device: ${name}: ${e && e.message}` });
  }

  /** Another member's published stream, as stream-added hands it out (TRTC's RemoteStream). */
  class RemoteStream extends Stream {
    constructor(client, info) {
      super(info.userId);
      this.client_ = client;
      this.info_ = info;
      /** False once the server removed it: subscribe() then rejects with API_CALL_ABORTED. */
      this.alive_ = true;
      /** {audio, video} the app (or autoSubscribe) wants; null when unsubscribed. */
      this.wanted_ = null;
    }
    getType() {
      return 'main';
    }
    isRemote() {
      return true;
    }
    /** Whether the remote side publishes audio / video (not whether it arrived yet). */
    hasAudio() {
      return !!this.info_.audio;
    }
    hasVideo() {
      return !!this.info_.video;
    }
    getAudioLevel() {
      let level = super.getAudioLevel();
      // Fallback when WebAudio is suspended (autoplay policy): the receiver's own level.
      const sub = this.client_ && this.client_.subscriptions_.get(this.userId_);
      if (level === 0 && sub && sub.pc && sub.pc.getReceivers) {
        for (const receiver of sub.pc.getReceivers()) {
          if (receiver.track.kind !== 'audio' || !receiver.getSynchronizationSources) continue;
          for (const s of receiver.getSynchronizationSources()) if (typeof s.audioLevel === 'number') level = Math.max(level, s.audioLevel);
        }
      }
      return level;
    }
  }

  // ───────────────────────────── client ─────────────────────────────

  /** userId+room+sdkAppId combinations joined by some client of this page. */
  const joinedInPage = new Set();

  /** One member of (at most) one room: TRTC's Client. */
  class Client extends EventEmitter {
    constructor(config) {
      super();
      this.sdkAppId_ = config.sdkAppId;
      this.userId_ = config.userId;
      this.userSig_ = config.userSig;
      this.mode_ = config.mode;
      this.useStringRoomId_ = !!config.useStringRoomId;
      this.autoSubscribe_ = config.autoSubscribe !== false;
      this.signalingUrl_ = defaultSignalingUrl();
      this.iceServers_ = [];

      this.ws_ = null;
      this.connectionState_ = 'DISCONNECTED';
      this.nextRequestId_ = 1;
      this.pending_ = new Map();
      this.lastHeard_ = 0;
      this.heartbeatTimer_ = null;

      this.joined_ = false;
      this.joinKey_ = null;
      this.roomId_ = null;
      this.role_ = 'anchor';
      this.privateMapKey_ = undefined;
      /** The exclusive call in flight (join, leave, publish, unpublish, switchRole). */
      this.busy_ = null;
      this.destroyed_ = false;
      this.reconnecting_ = false;
      /** While rejoining: what the server re-announced, to find what went away meanwhile. */
      this.reannounced_ = null;

      this.members_ = new Set();
      this.remoteStreams_ = new Map(); // userId → RemoteStream
      this.subscriptions_ = new Map(); // userId → subscription
      this.localStream_ = null;
      this.publication_ = null;

      this.qualityTimer_ = null;
      this.lossCounters_ = new Map();
      this.volumeTimer_ = null;
    }

    // ── undocumented runtime getters of TRTC ──
    getUserId() {
      return this.userId_;
    }
    getUserSig() {
      return this.userSig_;
    }
    getSDKAppId() {
      return this.sdkAppId_;
    }
    getRoomId() {
      return this.roomId_;
    }
    getRole() {
      return this.role_;
    }
    getMode() {
      return this.mode_;
    }
    getIsJoined() {
      return this.joined_;
    }
    getLocalStream() {
      return this.localStream_;
    }
    isPublished() {
      return !!this.publication_;
    }
    getUseStringRoomId() {
      return this.useStringRoomId_;
    }
    getTinyId() {
      return 0;
    }
    getUserList() {
      return Array.from(this.members_, (userId) => ({ userId, tinyId: 0, role: 'anchor' }));
    }

    // ── the concurrency guard ──
    async exclusive_(name, body) {
      if (this.busy_) throw invalidOperation(`${name}() was called while ${this.busy_}() is still pending`);
      this.busy_ = name;
      try {
        return await body();
      } finally {
        this.busy_ = null;
      }
    }

    setConnectionState_(state) {
      if (state === this.connectionState_) return;
      const prevState = this.connectionState_;
      this.connectionState_ = state;
      log.info(`connection ${prevState} → ${state}`);
      this.emit_('connection-state-changed', { prevState, state });
    }

    // ── signaling ──

    /** Opens the signaling socket; resolves once it is open. */
    openSocket_() {
      return new Promise((resolve, reject) => {
        let ws;
        try {
          ws = new WebSocket(this.signalingUrl_);
        } catch (e) {
          reject(new RtcError({ code: ErrorCode.JOIN_ROOM_FAILED, message: `cannot open ${this.signalingUrl_}: ${e.message}` }));
          return;
        }
        const timer = setTimeout(() => {
          ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
          ws.close();
          reject(new RtcError({ code: ErrorCode.JOIN_ROOM_FAILED, message: `${this.signalingUrl_} did not answer within ${CONNECT_TIMEOUT_MS / 1000} s` }));
        }, CONNECT_TIMEOUT_MS);
        ws.onopen = () => {
          clearTimeout(timer);
          this.ws_ = ws;
          this.lastHeard_ = Date.now();
          ws.onmessage = (e) => this.onSocketMessage_(ws, e.data);
          ws.onclose = () => this.onSocketClosed_(ws);
          ws.onerror = () => {};
          this.startHeartbeat_();
          resolve();
        };
        ws.onerror = () => {};
        ws.onclose = () => {
          clearTimeout(timer);
          reject(new RtcError({ code: ErrorCode.JOIN_ROOM_FAILED, message: `cannot reach the room server at ${this.signalingUrl_}` }));
        };
      });
    }

    closeSocket_() {
      const ws = this.ws_;
      this.ws_ = null;
      this.stopHeartbeat_();
      if (ws) {
        ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
        try {
          ws.close();
        } catch (e) {
          /* already closed */
        }
      }
      this.failPending_('the signaling connection closed');
    }

    failPending_(why) {
      for (const [id, p] of this.pending_) {
        clearTimeout(p.timer);
        p.reject(new RtcError({ code: ErrorCode.API_CALL_ABORTED, message: why }));
        this.pending_.delete(id);
      }
    }

    send_(msg) {
      if (!this.ws_ || this.ws_.readyState !== WebSocket.OPEN) return false;
      this.ws_.send(JSON.stringify(msg));
      return true;
    }

    /** Sends a request and resolves with the server's response (or rejects with its error). */
    request_(msg, timeoutMs = REQUEST_TIMEOUT_MS) {
      const id = this.nextRequestId_++;
      return new Promise((resolve, reject) => {
        if (!this.send_(Object.assign({ id }, msg))) {
          reject(new RtcError({ code: ErrorCode.API_CALL_ABORTED, message: `${msg.type}: not connected to the room server` }));
          return;
        }
        const timer = setTimeout(() => {
          this.pending_.delete(id);
          reject(new RtcError({ code: ErrorCode.API_CALL_TIMEOUT, message: `${msg.type}: no answer from the room server within ${timeoutMs / 1000} s` }));
        }, timeoutMs);
        this.pending_.set(id, { resolve, reject, timer, type: msg.type });
      });
    }

    startHeartbeat_() {
      this.stopHeartbeat_();
      this.heartbeatTimer_ = setInterval(() => {
        const ws = this.ws_;
        if (!ws) return;
        if (Date.now() - this.lastHeard_ > SERVER_SILENCE_MS) {
          log.warn(`no word from the room server for ${SERVER_SILENCE_MS} ms: the connection is dead`);
          ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
          try {
            ws.close();
          } catch (e) {
            /* already closed */
          }
          this.onSocketClosed_(ws);
          return;
        }
        this.request_({ type: 'heartbeat' }).catch(() => {});
      }, HEARTBEAT_INTERVAL_MS);
    }

    stopHeartbeat_() {
      if (this.heartbeatTimer_) clearInterval(this.heartbeatTimer_);
      this.heartbeatTimer_ = null;
    }

    onSocketMessage_(ws, data) {
      if (ws !== this.ws_) return;
      this.lastHeard_ = Date.now();
      let msg;
      try {
        msg = JSON.parse(data);
      } catch (e) {
        log.warn('ignoring a server message that is not JSON');
        return;
      }
      if (msg.type === 'response' || (msg.type === 'error' && msg.id !== undefined)) {
        const p = this.pending_.get(msg.id);
        if (!p) return;
        this.pending_.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.type === 'response') p.resolve(msg);
        else p.reject(serverError(msg));
        return;
      }
      this.onServerEvent_(msg);
    }

    onSocketClosed_(ws) {
      if (ws !== this.ws_) return;
      this.ws_ = null;
      this.stopHeartbeat_();
      this.failPending_('the signaling connection closed');
      if (this.joined_ && !this.reconnecting_) {
        this.reconnect_();
      } else if (!this.reconnecting_) {
        this.setConnectionState_('DISCONNECTED');
      }
    }

    // ── join / leave ──

    /** Joins a room: {roomId, role?, privateMapKey?}. */
    async join(options) {
      return this.exclusive_('join', async () => {
        if (this.destroyed_) throw invalidOperation('the client was destroyed');
        if (this.joined_) throw invalidOperation('already joined: leave() first');
        if (!isPlainObject(options)) throw invalidParameter('join(options): options must be an object with roomId');
        validateRoomId(options.roomId, this.useStringRoomId_);
        const role = options.role === undefined ? 'anchor' : options.role;
        if (role !== 'anchor' && role !== 'audience') throw invalidParameter(`role must be 'anchor' or 'audience', got ${JSON.stringify(role)}`);
        if (options.privateMapKey !== undefined && typeof options.privateMapKey !== 'string') throw invalidParameter('privateMapKey must be a string');
        if (typeof RTCPeerConnection === 'undefined' || typeof WebSocket === 'undefined') {
          throw new RtcError({ code: ErrorCode.NOT_SUPPORTED, message: 'this browser has no WebRTC' });
        }
        const key = `${this.sdkAppId_}|${options.roomId}|${this.userId_}`;
        if (joinedInPage.has(key)) throw invalidOperation(`${this.userId_} already joined room ${options.roomId} from this page`);

        this.roomId_ = options.roomId;
        this.role_ = this.mode_ === 'rtc' ? 'anchor' : role;
        this.privateMapKey_ = options.privateMapKey;
        this.setConnectionState_('CONNECTING');
        try {
          await this.openSocket_();
          this.setConnectionState_('CONNECTED');
          await this.sendJoin_();
        } catch (e) {
          this.closeSocket_();
          this.setConnectionState_('DISCONNECTED');
          throw e;
        }
        this.joined_ = true;
        this.joinKey_ = key;
        joinedInPage.add(key);
        this.startNetworkQuality_();
        log.info(`${this.userId_} joined room ${this.roomId_}`);
      });
    }

    /** Sends join on the open socket; every refusal becomes JOIN_ROOM_FAILED (extraCode = the server's). */
    async sendJoin_() {
      const msg = {
        type: 'join',
        sdkAppId: this.sdkAppId_,
        userId: this.userId_,
        userSig: this.userSig_,
        roomId: this.roomId_,
        mode: this.mode_,
        role: this.role_,
      };
      if (this.privateMapKey_) msg.privateMapKey = this.privateMapKey_;
      try {
        await this.request_(msg, JOIN_TIMEOUT_MS);
      } catch (e) {
        throw new RtcError({ code: ErrorCode.JOIN_ROOM_FAILED, extraCode: e.getExtraCode ? e.getExtraCode() : 0, message: `join refused: ${e.message_ || e.message}` });
      }
    }

    /** Leaves the room; the local stream stays open (close it yourself). */
    async leave() {
      return this.exclusive_('leave', async () => {
        if (!this.joined_) {
          this.closeSocket_();
          this.setConnectionState_('DISCONNECTED');
          return;
        }
        this.joined_ = false; // stops a reconnect loop too
        if (this.ws_) await this.request_({ type: 'leave' }).catch((e) => log.warn('leave', e.message));
        this.resetRoom_();
        this.closeSocket_();
        this.setConnectionState_('DISCONNECTED');
        log.info(`${this.userId_} left room ${this.roomId_}`);
      });
    }

    /** Forgets everything about the room (after leave, ban or failed reconnect). */
    resetRoom_() {
      this.joined_ = false;
      if (this.joinKey_) joinedInPage.delete(this.joinKey_);
      this.joinKey_ = null;
      this.stopNetworkQuality_();
      this.closePublication_();
      if (this.localStream_) this.localStream_.client_ = null;
      this.localStream_ = null;
      for (const userId of Array.from(this.subscriptions_.keys())) this.closeSubscription_(userId);
      for (const stream of this.remoteStreams_.values()) {
        stream.alive_ = false;
        stream.wanted_ = null;
      }
      this.remoteStreams_.clear();
      this.members_.clear();
      this.lossCounters_.clear();
    }

    destroy() {
      if (this.joined_) throw invalidOperation('destroy(): leave() first');
      this.destroyed_ = true;
      this.enableAudioVolumeEvaluation(-1);
      this.closeSocket_();
      this.off('*');
    }

    /** Live mode only: 'anchor' may publish, 'audience' may not. */
    async switchRole(role) {
      if (this.mode_ !== 'live') throw invalidParameter("switchRole() is for mode 'live' only");
      if (role !== 'anchor' && role !== 'audience') throw invalidParameter(`role must be 'anchor' or 'audience', got ${JSON.stringify(role)}`);
      return this.exclusive_('switchRole', async () => {
        if (!this.joined_) throw invalidOperation('switchRole(): join first');
        try {
          await this.request_({ type: 'switch-role', role });
        } catch (e) {
          throw new RtcError({ code: ErrorCode.SWITCH_ROLE_FAILED, extraCode: e.getExtraCode(), message: `switchRole refused: ${e.message_ || e.message}` });
        }
        this.role_ = role;
        if (role === 'audience' && this.publication_) {
          // The server unpublished us.
          this.closePublication_();
          if (this.localStream_) this.localStream_.client_ = null;
          this.localStream_ = null;
        }
      });
    }

    // ── publish ──

    async publish(stream, options) {
      return this.exclusive_('publish', async () => {
        if (!(stream instanceof LocalStream)) throw invalidParameter('publish(stream): a LocalStream from TRTC.createStream');
        if (options !== undefined && !isPlainObject(options)) throw invalidParameter('publish(stream, options): options must be an object');
        if (options && options.isAuxiliary) throw new RtcError({ code: ErrorCode.NOT_SUPPORTED, message: 'auxiliary (screen) streams are not supported by this room server' });
        if (!this.joined_) throw invalidOperation('publish(): join first');
        if (this.mode_ === 'live' && this.role_ === 'audience') throw invalidOperation('an audience cannot publish: switchRole("anchor") first');
        if (!stream.initialized_) throw invalidOperation('publish(): initialize() the stream first');
        if (this.localStream_) throw invalidOperation('already publishing a stream: unpublish it first');
        if (stream.client_) throw invalidOperation('the stream is published by another client');
        if (!stream.getAudioTrack() && !stream.getVideoTrack()) throw invalidOperation('the stream has no track to publish');
        this.localStream_ = stream;
        stream.client_ = this;
        try {
          await this.startPublication_(stream);
        } catch (e) {
          this.closePublication_();
          if (this.ws_) this.request_({ type: 'unpublish' }).catch(() => {});
          stream.client_ = null;
          this.localStream_ = null;
          throw e;
        }
      });
    }

    /** Builds the sending peer connection, offers, applies the answer, waits for media to connect. */
    async startPublication_(stream) {
      const pc = new RTCPeerConnection({ iceServers: this.iceServers_, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
      const pub = { pc, stream, answered: false, early: [], audioSender: null, videoSender: null, restarts: 0 };
      this.publication_ = pub;
      const audioTrack = stream.getAudioTrack();
      const videoTrack = stream.getVideoTrack();
      if (audioTrack) {
        const t = pc.addTransceiver(audioTrack, { direction: 'sendonly', streams: [stream.getMediaStream()] });
        preferCodecs(t, 'audio');
        pub.audioSender = t.sender;
      }
      if (videoTrack) {
        const p = stream.sendProfile_();
        const t = pc.addTransceiver(videoTrack, {
          direction: 'sendonly',
          streams: [stream.getMediaStream()],
          sendEncodings: [{ maxBitrate: p.bitrate * 1000, maxFramerate: p.frameRate }],
        });
        preferCodecs(t, 'video');
        pub.videoSender = t.sender;
      }
      const wirePeer = { kind: 'publish' };
      let offerSent = false;
      const unsent = [];
      pc.onicecandidate = (e) => {
        if (!e.candidate || !e.candidate.candidate) return;
        const msg = { type: 'candidate', peer: wirePeer, candidate: candidateToWire(e.candidate) };
        if (offerSent) this.send_(msg);
        else unsent.push(msg);
      };
      pc.onconnectionstatechange = () => this.onMediaState_(pub);
      let offer;
      try {
        offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
      } catch (e) {
        throw new RtcError({ code: ErrorCode.CREATE_OFFER_FAILED, message: `cannot create the offer: ${e.message}` });
      }
      const answer = this.request_(
        { type: 'publish', audio: !!audioTrack, video: !!videoTrack, sdp: pc.localDescription.sdp },
        MEDIA_REQUEST_TIMEOUT_MS
      );
      offerSent = true;
      for (const msg of unsent.splice(0)) this.send_(msg);
      const response = await answer;
      if (this.publication_ !== pub) throw new RtcError({ code: ErrorCode.API_CALL_ABORTED, message: 'publish was interrupted' });
      await pc.setRemoteDescription({ type: 'answer', sdp: response.sdp });
      pub.answered = true;
      for (const c of pub.early.splice(0)) pc.addIceCandidate(c).catch(() => {});
      await this.applySendParameters_(stream);
      if (stream.audioMuted_() || stream.videoMuted_()) this.sendMuteState_(stream);
      await waitConnected(pc, MEDIA_CONNECT_TIMEOUT_MS).catch((e) => {
        throw new RtcError({ code: ErrorCode.UNKNOWN, message: `publish: ${e.message}` });
      });
      log.info(`published ${stream.getId()} (${[audioTrack && 'audio', videoTrack && 'video'].filter(Boolean).join('+')})`);
    }

    closePublication_() {
      const pub = this.publication_;
      this.publication_ = null;
      if (pub) {
        pub.pc.onconnectionstatechange = null;
        pub.pc.onicecandidate = null;
        pub.pc.close();
      }
    }

    /** Holds the senders to the stream's profiles (maxBitrate, maxFramerate). */
    async applySendParameters_(stream) {
      const pub = this.publication_;
      if (!pub || pub.stream !== stream) return;
      const set = async (sender, bitrateKbps, frameRate) => {
        if (!sender || !sender.getParameters) return;
        const params = sender.getParameters();
        if (!params.encodings || params.encodings.length === 0) return;
        params.encodings[0].maxBitrate = bitrateKbps * 1000;
        if (frameRate) params.encodings[0].maxFramerate = frameRate;
        await sender.setParameters(params).catch((e) => log.warn('setParameters', e));
      };
      const v = stream.sendProfile_();
      await set(pub.videoSender, v.bitrate, v.frameRate);
      await set(pub.audioSender, stream.audioProfile_.bitrate);
    }

    async replaceSendTrack_(stream, track) {
      const pub = this.publication_;
      if (!pub || pub.stream !== stream) return;
      const sender = track.kind === 'audio' ? pub.audioSender : pub.videoSender;
      if (sender) await sender.replaceTrack(track);
    }

    sendMuteState_(stream) {
      // Before the answer the server has no publication to mute; startPublication_ sends the
      // state once it is answered.
      if (!this.publication_ || !this.publication_.answered || this.localStream_ !== stream) return;
      this.request_({ type: 'mute', audioMuted: stream.audioMuted_(), videoMuted: stream.videoMuted_() }).catch((e) => log.warn('mute', e.message));
    }

    async unpublish(stream) {
      return this.exclusive_('unpublish', async () => {
        if (!this.localStream_ || (stream !== undefined && stream !== this.localStream_)) throw invalidOperation('unpublish(): this stream is not published');
        const published = this.localStream_;
        this.closePublication_();
        published.client_ = null;
        this.localStream_ = null;
        if (this.ws_) await this.request_({ type: 'unpublish' }).catch((e) => log.warn('unpublish', e.message));
      });
    }

    // ── subscribe ──

    /** Receives a remote stream: {audio?, video?} (both by default); fires stream-subscribed. */
    async subscribe(stream, options) {
      if (!(stream instanceof RemoteStream) || stream.client_ !== this) throw invalidParameter('subscribe(stream): a RemoteStream from this client\'s stream-added');
      if (options !== undefined && !isPlainObject(options)) throw invalidParameter('subscribe(stream, options): options must be an object');
      const audio = !options || options.audio === undefined ? true : !!options.audio;
      const video = !options || options.video === undefined ? true : !!options.video;
      if (!audio && !video) throw invalidOperation('subscribe(): audio and video cannot both be false');
      if (!this.joined_) throw invalidOperation('subscribe(): join first');
      if (!stream.alive_ || this.remoteStreams_.get(stream.getUserId()) !== stream) {
        throw new RtcError({ code: ErrorCode.API_CALL_ABORTED, extraCode: Extra.NO_SUCH_STREAM, message: `subscribe(): ${stream.getUserId()}'s stream is gone (REMOTE_STREAM_NOT_EXIST)` });
      }
      stream.wanted_ = { audio, video };
      await this.ensureSubscription_(stream);
      this.emit_('stream-subscribed', { stream });
    }

    async unsubscribe(stream) {
      if (!(stream instanceof RemoteStream) || stream.client_ !== this) throw invalidParameter('unsubscribe(stream): a RemoteStream from this client');
      stream.wanted_ = null;
      const userId = stream.getUserId();
      const sub = this.subscriptions_.get(userId);
      if (!sub) return;
      this.closeSubscription_(userId);
      if (this.ws_ && this.joined_) await this.request_({ type: 'unsubscribe', userId }).catch((e) => log.debug('unsubscribe', e.message));
    }

    /**
     * Makes the subscription match stream.wanted_: reuses one in flight or done with the same
     * kinds (autoSubscribe started it, or a second subscribe() call), otherwise (re)builds it.
     */
    ensureSubscription_(stream) {
      const userId = stream.getUserId();
      const wanted = stream.wanted_;
      const existing = this.subscriptions_.get(userId);
      if (existing && existing.stream === stream && existing.audio === wanted.audio && existing.video === wanted.video && !existing.failed) {
        return existing.ready;
      }
      if (existing) this.closeSubscription_(userId);
      const sub = { stream, audio: wanted.audio, video: wanted.video, pc: null, answered: false, early: [], restarts: 0, failed: false };
      this.subscriptions_.set(userId, sub);
      sub.ready = this.startSubscription_(sub).catch((e) => {
        sub.failed = true;
        if (this.subscriptions_.get(userId) === sub) this.closeSubscription_(userId);
        if (e instanceof RtcError && e.getCode() === ErrorCode.REMOTE_STREAM_NOT_EXIST) {
          throw new RtcError({ code: ErrorCode.API_CALL_ABORTED, extraCode: e.getExtraCode(), message: `subscribe(): ${e.message_} (REMOTE_STREAM_NOT_EXIST)` });
        }
        throw e;
      });
      return sub.ready;
    }

    /** Offers recvonly audio+video (the server answers only the kinds asked) and applies the answer. */
    async startSubscription_(sub) {
      const stream = sub.stream;
      const userId = stream.getUserId();
      for (let attempt = 0; ; attempt++) {
        if (this.subscriptions_.get(userId) !== sub) throw new RtcError({ code: ErrorCode.API_CALL_ABORTED, message: 'subscribe was superseded' });
        try {
          await this.offerSubscription_(sub);
          return;
        } catch (e) {
          const retry =
            e instanceof RtcError &&
            e.getExtraCode() === Extra.MEDIA_SETUP_FAILED &&
            attempt < SUBSCRIBE_RETRY_DELAYS_MS.length &&
            stream.alive_;
          if (!retry) throw e;
          log.debug(`subscribe to ${userId}: the publisher is not ready yet, retrying`);
          await sleep(SUBSCRIBE_RETRY_DELAYS_MS[attempt]);
        }
      }
    }

    async offerSubscription_(sub) {
      const stream = sub.stream;
      const userId = stream.getUserId();
      if (sub.pc) {
        sub.pc.onconnectionstatechange = null;
        sub.pc.close();
      }
      const pc = new RTCPeerConnection({ iceServers: this.iceServers_, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
      sub.pc = pc;
      sub.answered = false;
      sub.early = [];
      for (const kind of ['audio', 'video']) {
        const t = pc.addTransceiver(kind, { direction: 'recvonly' });
        preferCodecs(t, kind);
      }
      // Drop what this subscription does not receive: a track that never gets media would
      // keep play() waiting.
      for (const kind of ['audio', 'video']) if (!sub[kind]) stream.removeTrackOfKind_(kind);
      pc.ontrack = (e) => {
        if (this.subscriptions_.get(userId) !== sub || sub.pc !== pc) return;
        if (!sub[e.track.kind]) return; // offered, but not asked for: the server sends none
        lowLatency(e.receiver);
        stream.setTrack_(e.track);
      };
      const wirePeer = { kind: 'subscribe', userId };
      let offerSent = false;
      const unsent = [];
      pc.onicecandidate = (e) => {
        if (!e.candidate || !e.candidate.candidate) return;
        const msg = { type: 'candidate', peer: wirePeer, candidate: candidateToWire(e.candidate) };
        if (offerSent) this.send_(msg);
        else unsent.push(msg);
      };
      pc.onconnectionstatechange = () => this.onMediaState_(sub);
      try {
        await pc.setLocalDescription(await pc.createOffer());
      } catch (e) {
        throw new RtcError({ code: ErrorCode.CREATE_OFFER_FAILED, message: `cannot create the offer: ${e.message}` });
      }
      const answer = this.request_({ type: 'subscribe', userId, audio: sub.audio, video: sub.video, sdp: pc.localDescription.sdp }, MEDIA_REQUEST_TIMEOUT_MS);
      offerSent = true;
      for (const msg of unsent.splice(0)) this.send_(msg);
      const response = await answer;
      if (sub.pc !== pc) throw new RtcError({ code: ErrorCode.API_CALL_ABORTED, message: 'subscribe was superseded' });
      await pc.setRemoteDescription({ type: 'answer', sdp: response.sdp });
      sub.answered = true;
      for (const c of sub.early.splice(0)) pc.addIceCandidate(c).catch(() => {});
      for (const r of pc.getReceivers()) lowLatency(r);
      log.info(`subscribed to ${userId} (${[sub.audio && 'audio', sub.video && 'video'].filter(Boolean).join('+')})`);
    }

    closeSubscription_(userId) {
      const sub = this.subscriptions_.get(userId);
      this.subscriptions_.delete(userId);
      this.lossCounters_.delete(`sub:${userId}`);
      if (!sub) return;
      if (sub.pc) {
        sub.pc.onconnectionstatechange = null;
        sub.pc.ontrack = null;
        sub.pc.onicecandidate = null;
        sub.pc.close();
      }
    }

    /** A media connection failed: rebuild it (a few times), then report the error. */
    onMediaState_(entry) {
      const pc = entry.pc;
      if (pc.connectionState !== 'failed' || !this.joined_ || !this.ws_) return;
      const isPublication = entry === this.publication_;
      const isSubscription = !isPublication && this.subscriptions_.get(entry.stream && entry.stream.getUserId()) === entry;
      if (!isPublication && !isSubscription) return;
      if (entry.restarts >= MEDIA_RESTARTS) {
        const code = isPublication ? ErrorCode.UPLINK_RECONNECTION_FAILED : ErrorCode.DOWNLINK_RECONNECTION_FAILED;
        this.emit_('error', new RtcError({ code, message: `the ${isPublication ? 'publishing' : 'subscribing'} media connection failed ${MEDIA_RESTARTS + 1} times` }));
        return;
      }
      log.warn(`${isPublication ? 'publication' : 'subscription'} media failed; rebuilding`);
      if (isPublication) {
        const stream = this.localStream_;
        const restarts = entry.restarts + 1;
        this.closePublication_();
        this.request_({ type: 'unpublish' })
          .catch(() => {})
          .then(() => this.startPublication_(stream))
          .then(() => {
            if (this.publication_) this.publication_.restarts = restarts;
          })
          .catch((e) => log.warn('republish failed', e.message));
      } else {
        entry.restarts += 1;
        this.startSubscription_(entry).catch((e) => log.warn('resubscribe failed', e.message));
      }
    }

    // ── events from the server ──

    onServerEvent_(msg) {
      switch (msg.type) {
        case 'peer-join': {
          if (this.reannounced_) this.reannounced_.members.add(msg.userId);
          if (this.members_.has(msg.userId)) return;
          this.members_.add(msg.userId);
          this.emit_('peer-join', { userId: msg.userId });
          return;
        }
        case 'peer-leave': {
          if (!this.members_.delete(msg.userId)) return;
          log.info(`${msg.userId} left (${msg.reason})`);
          this.emit_('peer-leave', { userId: msg.userId });
          return;
        }
        case 'stream-added':
          this.onStreamAdded_(msg.stream);
          return;
        case 'stream-removed':
          this.onStreamRemoved_(msg.stream);
          return;
        case 'stream-updated': {
          const stream = this.remoteStreams_.get(msg.stream.userId);
          if (!stream || stream.info_.streamId !== msg.stream.streamId) return;
          stream.info_ = msg.stream;
          this.emit_('stream-updated', { stream });
          return;
        }
        case 'mute-audio':
        case 'unmute-audio':
        case 'mute-video':
        case 'unmute-video': {
          const stream = this.remoteStreams_.get(msg.userId);
          if (stream) {
            const muted = msg.type.startsWith('mute');
            if (msg.type.endsWith('audio')) stream.info_.audioMuted = muted;
            else stream.info_.videoMuted = muted;
          }
          this.emit_(msg.type, { userId: msg.userId });
          return;
        }
        case 'client-banned': {
          log.warn(`put out of the room: ${msg.reason}: ${msg.message}`);
          this.resetRoom_();
          this.closeSocket_();
          this.setConnectionState_('DISCONNECTED');
          this.emit_('client-banned', { reason: msg.reason, message: msg.message });
          return;
        }
        case 'candidate':
          this.onRemoteCandidate_(msg.peer, msg.candidate);
          return;
        case 'network-quality':
          // This SDK measures quality itself from getStats (see startNetworkQuality_).
          return;
        case 'error': {
          // A trickled candidate can race the teardown of its peer connection (a subscribe
          // retried after MEDIA_SETUP_FAILED, an unsubscribe): expected, not worth a warning.
          const level = /^candidate/.test(msg.message || '') ? 'debug' : 'warn';
          log[level](`the room server refused a message: ${msg.message} (code 0x${Number(msg.code).toString(16)}, extra ${msg.extraCode})`);
          return;
        }
        default:
          log.debug('ignoring server message', msg.type);
      }
    }

    onStreamAdded_(info) {
      if (this.reannounced_) this.reannounced_.streams.add(info.userId);
      const old = this.remoteStreams_.get(info.userId);
      if (old && old.info_.streamId === info.streamId) {
        // Re-announced after our rejoin: the app keeps its RemoteStream; media is rebuilt.
        old.info_ = info;
        if (old.wanted_) this.ensureSubscription_(old).catch((e) => log.warn('resubscribe failed', e.message));
        return;
      }
      if (old) this.onStreamRemoved_(old.info_);
      const stream = new RemoteStream(this, info);
      this.remoteStreams_.set(info.userId, stream);
      if (this.autoSubscribe_) {
        // TRTC's automatic subscription: media starts now; subscribe() from the app joins it.
        stream.wanted_ = { audio: true, video: true };
        this.ensureSubscription_(stream).catch((e) => log.warn(`auto-subscribe to ${info.userId} failed`, e.message));
      }
      this.emit_('stream-added', { stream });
    }

    onStreamRemoved_(info) {
      const stream = this.remoteStreams_.get(info.userId);
      if (!stream || stream.info_.streamId !== info.streamId) return;
      this.remoteStreams_.delete(info.userId);
      stream.alive_ = false;
      stream.wanted_ = null;
      this.closeSubscription_(info.userId);
      this.emit_('stream-removed', { stream });
    }

    onRemoteCandidate_(peer, candidate) {
      if (!peer || !candidate) return;
      const entry = peer.kind === 'publish' ? this.publication_ : this.subscriptions_.get(peer.userId);
      if (!entry || !entry.pc) return;
      const init = { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex };
      if (init.sdpMid === undefined && init.sdpMLineIndex === undefined) init.sdpMLineIndex = 0;
      if (entry.answered) entry.pc.addIceCandidate(init).catch((e) => log.debug('candidate refused', e.message));
      else entry.early.push(init);
    }

    // ── reconnect ──

    /** The signaling socket dropped while joined: rejoin with backoff, then republish and resubscribe. */
    async reconnect_() {
      this.reconnecting_ = true;
      this.setConnectionState_('RECONNECTING');
      // The server dropped our media with the socket; rebuild it after the rejoin.
      const republish = this.localStream_;
      this.closePublication_();
      for (const userId of Array.from(this.subscriptions_.keys())) this.closeSubscription_(userId);
      let rejoined = false;
      for (const delay of RECONNECT_DELAYS_MS) {
        await sleep(delay);
        if (!this.joined_) break; // left meanwhile
        try {
          this.reannounced_ = { members: new Set(), streams: new Set() };
          await this.openSocket_();
          await this.sendJoin_();
          rejoined = true;
          break;
        } catch (e) {
          log.warn(`rejoin failed: ${e.message}`);
          this.closeSocket_();
        }
      }
      if (!rejoined) {
        this.reannounced_ = null;
        this.reconnecting_ = false;
        if (this.joined_) {
          this.resetRoom_();
          this.setConnectionState_('DISCONNECTED');
          this.emit_('error', new RtcError({ code: ErrorCode.SIGNAL_CHANNEL_RECONNECTION_FAILED, message: 'lost the room server and could not rejoin' }));
        }
        return;
      }
      this.setConnectionState_('CONNECTED');
      // The join's snapshot (peer-join / stream-added) precedes this heartbeat's response.
      await this.request_({ type: 'heartbeat' }).catch(() => {});
      const seen = this.reannounced_;
      this.reannounced_ = null;
      this.reconnecting_ = false;
      if (!this.joined_) return;
      for (const [userId, stream] of Array.from(this.remoteStreams_)) {
        if (!seen.streams.has(userId)) this.onStreamRemoved_(stream.info_);
      }
      for (const userId of Array.from(this.members_)) {
        if (!seen.members.has(userId)) {
          this.members_.delete(userId);
          this.emit_('peer-leave', { userId });
        }
      }
      if (republish && this.localStream_ === republish) {
        this.startPublication_(republish).catch((e) => {
          log.warn('republish after reconnect failed', e.message);
          this.emit_('error', new RtcError({ code: ErrorCode.UPLINK_RECONNECTION_FAILED, message: `republish failed: ${e.message}` }));
        });
      }
      if (!this.ws_) this.onSocketClosed_(null);
    }

    // ── stats ──

    async statsOf_(pc) {
      const out = { rtt: 0, outbound: {}, inbound: {}, remoteInbound: {} };
      if (!pc) return out;
      const report = await pc.getStats();
      let pairRtt = null;
      report.forEach((s) => {
        if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && typeof s.currentRoundTripTime === 'number') pairRtt = s.currentRoundTripTime * 1000;
        if (s.type === 'outbound-rtp') out.outbound[s.kind] = s;
        if (s.type === 'inbound-rtp') out.inbound[s.kind] = s;
        if (s.type === 'remote-inbound-rtp') out.remoteInbound[s.kind] = s;
      });
      if (pairRtt === null) {
        const r = out.remoteInbound.video || out.remoteInbound.audio;
        if (r && typeof r.roundTripTime === 'number') pairRtt = r.roundTripTime * 1000;
      }
      out.rtt = Math.round(pairRtt || 0);
      return out;
    }

    async getTransportStats() {
      const up = await this.statsOf_(this.publication_ && this.publication_.pc);
      const downlinksRTT = {};
      for (const [userId, sub] of this.subscriptions_) downlinksRTT[userId] = (await this.statsOf_(sub.pc)).rtt;
      return { rtt: up.rtt, downlinksRTT };
    }

    async getLocalAudioStats() {
      if (!this.publication_) return {};
      const s = (await this.statsOf_(this.publication_.pc)).outbound.audio;
      if (!s) return {};
      return { [this.userId_]: { bytesSent: s.bytesSent || 0, packetsSent: s.packetsSent || 0 } };
    }

    async getLocalVideoStats() {
      if (!this.publication_) return {};
      const s = (await this.statsOf_(this.publication_.pc)).outbound.video;
      if (!s) return {};
      return {
        [this.userId_]: {
          bytesSent: s.bytesSent || 0,
          packetsSent: s.packetsSent || 0,
          framesEncoded: s.framesEncoded || 0,
          framesSent: s.framesSent || 0,
          frameWidth: s.frameWidth || 0,
          frameHeight: s.frameHeight || 0,
        },
      };
    }

    async getRemoteAudioStats() {
      const result = {};
      for (const [userId, sub] of this.subscriptions_) {
        const s = (await this.statsOf_(sub.pc)).inbound.audio;
        if (s) result[userId] = { bytesReceived: s.bytesReceived || 0, packetsReceived: s.packetsReceived || 0, packetsLost: s.packetsLost || 0 };
      }
      return result;
    }

    async getRemoteVideoStats(type = 'main') {
      if (type !== 'main') return {};
      const result = {};
      for (const [userId, sub] of this.subscriptions_) {
        const s = (await this.statsOf_(sub.pc)).inbound.video;
        if (s) {
          result[userId] = {
            bytesReceived: s.bytesReceived || 0,
            packetsReceived: s.packetsReceived || 0,
            packetsLost: s.packetsLost || 0,
            framesDecoded: s.framesDecoded || 0,
            frameWidth: s.frameWidth || 0,
            frameHeight: s.frameHeight || 0,
          };
        }
      }
      return result;
    }

    getRemoteMutedState() {
      return Array.from(this.remoteStreams_.values(), (s) => ({
        userId: s.getUserId(),
        hasAudio: !!s.info_.audio,
        hasVideo: !!s.info_.video,
        hasSmall: false,
        audioMuted: !!s.info_.audioMuted,
        videoMuted: !!s.info_.videoMuted,
      }));
    }

    /** Loss (%) since the last call, from cumulative lost/total counters kept under `key`. */
    lossSince_(key, lost, total) {
      const prev = this.lossCounters_.get(key) || { lost: 0, total: 0 };
      this.lossCounters_.set(key, { lost, total });
      const dLost = Math.max(0, lost - prev.lost);
      const dTotal = Math.max(0, total - prev.total);
      return dTotal > 0 ? Math.min(100, Math.round((dLost * 100) / dTotal)) : 0;
    }

    startNetworkQuality_() {
      this.stopNetworkQuality_();
      this.qualityTimer_ = setInterval(() => {
        this.measureNetworkQuality_()
          .then((q) => this.emit_('network-quality', q))
          .catch((e) => log.debug('network-quality', e));
      }, NETWORK_QUALITY_INTERVAL_MS);
    }

    stopNetworkQuality_() {
      if (this.qualityTimer_) clearInterval(this.qualityTimer_);
      this.qualityTimer_ = null;
    }

    /** TRTC's network-quality from our peer connections' getStats (thresholds: reference §1.5). */
    async measureNetworkQuality_() {
      if (!this.ws_ || this.connectionState_ !== 'CONNECTED') {
        return { uplinkNetworkQuality: 6, downlinkNetworkQuality: 6, uplinkRTT: 0, uplinkLoss: 0, downlinkRTT: 0, downlinkLoss: 0 };
      }
      let uplinkNetworkQuality = 0;
      let uplinkRTT = 0;
      let uplinkLoss = 0;
      if (this.publication_ && this.publication_.answered) {
        const s = await this.statsOf_(this.publication_.pc);
        let lost = 0;
        let sent = 0;
        for (const kind of ['audio', 'video']) {
          if (s.remoteInbound[kind]) lost += Math.max(0, s.remoteInbound[kind].packetsLost || 0);
          if (s.outbound[kind]) sent += s.outbound[kind].packetsSent || 0;
        }
        uplinkRTT = s.rtt;
        uplinkLoss = this.lossSince_('pub', lost, sent);
        uplinkNetworkQuality = qualityOf(uplinkLoss, uplinkRTT);
      }
      let downlinkNetworkQuality = 0;
      let downlinkRTT = 0;
      let downlinkLoss = 0;
      for (const [userId, sub] of this.subscriptions_) {
        if (!sub.answered) continue;
        const s = await this.statsOf_(sub.pc);
        let lost = 0;
        let received = 0;
        for (const kind of ['audio', 'video']) {
          if (s.inbound[kind]) {
            lost += Math.max(0, s.inbound[kind].packetsLost || 0);
            received += s.inbound[kind].packetsReceived || 0;
          }
        }
        downlinkRTT = Math.max(downlinkRTT, s.rtt);
        downlinkLoss = Math.max(downlinkLoss, this.lossSince_(`sub:${userId}`, lost, lost + received));
        downlinkNetworkQuality = qualityOf(downlinkLoss, downlinkRTT);
      }
      return { uplinkNetworkQuality, downlinkNetworkQuality, uplinkRTT, uplinkLoss, downlinkRTT, downlinkLoss };
    }

    /** Emits audio-volume every `interval` ms (≤ 0 turns it off, at least 16 ms). */
    enableAudioVolumeEvaluation(interval = 2000, enableInBackground = false) {
      if (this.volumeTimer_) clearInterval(this.volumeTimer_);
      this.volumeTimer_ = null;
      if (typeof interval !== 'number' || interval <= 0) return;
      const every = Math.max(16, interval);
      this.volumeTimer_ = setInterval(() => {
        if (!enableInBackground && typeof document !== 'undefined' && document.hidden) return;
        const result = [];
        if (this.localStream_ && this.localStream_.hasAudio()) {
          result.push({ userId: this.userId_, audioVolume: Math.round(this.localStream_.getAudioLevel() * 100), stream: this.localStream_ });
        }
        for (const sub of this.subscriptions_.values()) {
          if (sub.stream.getAudioTrack()) result.push({ userId: sub.stream.getUserId(), audioVolume: Math.round(sub.stream.getAudioLevel() * 100), stream: sub.stream });
        }
        this.emit_('audio-volume', { result });
      }, every);
    }

    // ── TRTC features this room server does not have ──

    /** Points this client's signaling at another server: 'wss://host/ws' or {websocketProxy}. */
    setProxyServer(options) {
      const url = typeof options === 'string' ? options : isPlainObject(options) ? options.websocketProxy : undefined;
      if (typeof url !== 'string' || !/^wss?:\/\//.test(url)) throw invalidParameter("setProxyServer: a 'ws://' or 'wss://' URL, or {websocketProxy}");
      this.signalingUrl_ = url;
    }

    /** TURN (or STUN) servers for the media connections: {url, username?, credential?} or a list. */
    setTurnServer(options) {
      const list = Array.isArray(options) ? options : [options];
      const servers = [];
      for (const o of list) {
        if (!isPlainObject(o) || typeof o.url !== 'string') throw invalidParameter('setTurnServer: {url, username?, credential?}');
        const s = { urls: /^(turns?|stuns?):/.test(o.url) ? o.url : `turn:${o.url}` };
        if (o.username !== undefined) s.username = o.username;
        if (o.credential !== undefined) s.credential = o.credential;
        servers.push(s);
      }
      this.iceServers_ = servers;
    }

    async enableSmallStream() {
      throw new RtcError({ code: ErrorCode.NOT_SUPPORTED, message: 'small streams (simulcast) are not supported by this room server' });
    }
    async disableSmallStream() {
      throw new RtcError({ code: ErrorCode.NOT_SUPPORTED, message: 'small streams (simulcast) are not supported by this room server' });
    }
    setSmallStreamProfile() {
      log.warn('setSmallStreamProfile: small streams are not supported by this room server');
    }
    async setRemoteVideoStreamType() {
      throw new RtcError({ code: ErrorCode.NOT_SUPPORTED, message: 'small streams (simulcast) are not supported by this room server' });
    }
    async startPublishCDNStream() {
      throw new RtcError({ code: ErrorCode.START_PUBLISH_CDN_FAILED, message: 'CDN relay is not supported by this room server' });
    }
    async stopPublishCDNStream() {
      throw new RtcError({ code: ErrorCode.STOP_PUBLISH_CDN_FAILED, message: 'CDN relay is not supported by this room server' });
    }
    async startMixTranscode() {
      throw new RtcError({ code: ErrorCode.START_MIX_TRANSCODE_FAILED, message: 'mix transcoding is not supported by this room server' });
    }
    async stopMixTranscode() {
      throw new RtcError({ code: ErrorCode.STOP_MIX_TRANSCODE_FAILED, message: 'mix transcoding is not supported by this room server' });
    }
    sendSEIMessage() {
      throw new RtcError({ code: ErrorCode.NOT_SUPPORTED, message: 'SEI messages are not supported by this room server' });
    }
    async callExperimentalAPI(name, options) {
      if (name === 'updatePrivateMapKey' && isPlainObject(options) && typeof options.privateMapKey === 'string') {
        this.privateMapKey_ = options.privateMapKey; // used on the next (re)join
        return;
      }
      throw new RtcError({ code: ErrorCode.NOT_SUPPORTED, message: `callExperimentalAPI(${JSON.stringify(name)}) is not supported` });
    }
  }

  /** Low latency on a receiver: no extra jitter buffer target (notes/latency.md). */
  function lowLatency(receiver) {
    if (!receiver) return;
    try {
      if ('jitterBufferTarget' in receiver) receiver.jitterBufferTarget = 0;
    } catch (e) {
      log.debug('jitterBufferTarget', e);
    }
  }

  // ───────────────────────────── the TRTC object ─────────────────────────────

  /**
   * At run time TRTC is an object whose own properties are name_, VERSION and Logger, and
   * whose prototype holds the nine functions (reference §1.1): the same shape here.
   */
  class TRTCNamespace {
    constructor() {
      this.name_ = 'TRTC';
      this.VERSION = VERSION;
      this.Logger = Logger;
    }

    async checkSystemRequirements() {
      const isWebRTCSupported = typeof RTCPeerConnection === 'function';
      const isMediaDevicesSupported = typeof navigator !== 'undefined' && !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
      const has = (cls, mime) => {
        try {
          const caps = cls && cls.getCapabilities && cls.getCapabilities('video');
          return !!caps && caps.codecs.some((c) => c.mimeType.toLowerCase() === mime);
        } catch (e) {
          return false;
        }
      };
      const detail = {
        isBrowserSupported: typeof WebSocket === 'function' && typeof Promise === 'function' && isWebRTCSupported,
        isWebRTCSupported,
        isMediaDevicesSupported,
        isH264EncodeSupported: has(global.RTCRtpSender, 'video/h264'),
        isH264DecodeSupported: has(global.RTCRtpReceiver, 'video/h264'),
        isVp8EncodeSupported: has(global.RTCRtpSender, 'video/vp8'),
        isVp8DecodeSupported: has(global.RTCRtpReceiver, 'video/vp8'),
      };
      // This room server negotiates H.264 only, so VP8 alone is not enough.
      const result = detail.isBrowserSupported && detail.isWebRTCSupported && detail.isMediaDevicesSupported && detail.isH264EncodeSupported && detail.isH264DecodeSupported;
      return { result, detail };
    }

    isScreenShareSupported() {
      return typeof navigator !== 'undefined' && !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
    }

    isSmallStreamSupported() {
      return false;
    }

    async getDevices() {
      return enumerate();
    }

    async getCameras() {
      return plainDevices(await enumerate(), 'videoinput', 'camera');
    }

    async getMicrophones() {
      return plainDevices(await enumerate(), 'audioinput', 'microphone');
    }

    async getSpeakers() {
      return (await enumerate()).filter((d) => d.kind === 'audiooutput');
    }

    createClient(config) {
      validateClientConfig(config);
      return new Client(config);
    }

    createStream(config) {
      validateStreamConfig(config);
      return new LocalStream(config);
    }
  }

  return new TRTCNamespace();
});
