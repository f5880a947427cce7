/*
 * The "answer the door" page, written against the TRTC Web SDK v4 API only (the global TRTC
 * from trtc.js), as any TRTC quick-start app is: join as a listener, play the doorbell's stream
 * when it appears, publish the microphone when the person answers, leave to hang up.
 *
 * Credentials (no secrets are minted here): the query string
 * ?sdkAppId=&roomId=&userId=&userSig=[&mode=rtc|live], else the first of CREDENTIAL_SOURCES that
 * answers with JSON {sdkAppId, roomId, userId, userSig[, mode]}, else a form to paste them in.
 */
(function () {
  'use strict';

  /** Where a server may hand this page short-lived credentials (tried in order). */
  const CREDENTIAL_SOURCES = ['config.json'];

  const app = document.getElementById('app');
  const $ = (id) => document.getElementById(id);
  const ui = {
    message: $('door-message'),
    video: $('visitor-video'),
    connection: $('connection'),
    quality: $('quality'),
    answer: $('answer'),
    cameraChoice: $('camera-choice'),
    withCamera: $('with-camera'),
    talk: $('talk'),
    mute: $('mute'),
    hangup: $('hangup'),
    rejoin: $('rejoin'),
    unblock: $('unblock-audio'),
    form: $('credentials'),
    error: $('error'),
    others: $('others'),
  };

  let credentials = null;
  let client = null;
  let localStream = null;
  /** The stream shown as "the door": the first remote stream with video. */
  let visitor = null;
  const remotes = new Map(); // userId → RemoteStream
  let statsTimer = null;

  // ── state, mirrored in the DOM ──

  function set(attrs) {
    for (const [key, value] of Object.entries(attrs)) app.dataset[key] = String(value);
  }

  function setState(state, message) {
    set({ state });
    if (message !== undefined) ui.message.textContent = message;
    const answered = state === 'talking';
    ui.answer.hidden = !['waiting', 'ringing', 'answering'].includes(state);
    ui.answer.disabled = !(state === 'ringing' || state === 'waiting');
    ui.cameraChoice.hidden = ui.answer.hidden;
    ui.talk.hidden = !answered;
    ui.mute.hidden = !answered;
    ui.hangup.hidden = !(answered || state === 'ringing' || state === 'waiting' || state === 'answering');
    ui.rejoin.hidden = state !== 'ended' && state !== 'error';
  }

  function showError(err, context) {
    const code = err && typeof err.getCode === 'function' ? err.getCode() : 0;
    set({ error: code ? `0x${code.toString(16)}` : 'unknown' });
    ui.error.textContent = `${context}: ${(err && err.message) || err}`;
    ui.error.hidden = false;
    console.error(context, err);
  }

  function clearError() {
    ui.error.hidden = true;
    delete app.dataset.error;
  }

  function setMic(state) {
    set({ mic: state });
    ui.mute.textContent = state === 'muted' ? 'Unmute' : 'Mute';
    ui.mute.setAttribute('aria-pressed', String(state === 'muted'));
  }

  function showQuality(quality) {
    set({ networkQuality: quality });
    // TRTC: 1 excellent … 5 very bad, 6 disconnected, 0 unknown.
    const bars = quality >= 1 && quality <= 5 ? 6 - quality : 0;
    ui.quality.querySelectorAll('i').forEach((bar, i) => bar.classList.toggle('on', i < bars));
    ui.quality.dataset.level = String(quality);
  }

  // ── credentials ──

  async function readCredentials() {
    const q = new URLSearchParams(location.search);
    if (q.get('sdkAppId') && q.get('roomId') && q.get('userId') && q.get('userSig')) {
      return {
        sdkAppId: q.get('sdkAppId'),
        roomId: q.get('roomId'),
        userId: q.get('userId'),
        userSig: q.get('userSig'),
        mode: q.get('mode') || 'rtc',
      };
    }
    for (const url of CREDENTIAL_SOURCES) {
      try {
        const response = await fetch(url, { cache: 'no-store' });
        if (!response.ok) continue;
        const c = await response.json();
        if (c && c.sdkAppId && c.roomId && c.userId && c.userSig) return c;
      } catch (e) {
        /* not offered here */
      }
    }
    return null;
  }

  function askForCredentials() {
    setState('credentials', 'Enter the room credentials to see the door.');
    ui.form.hidden = false;
    return new Promise((resolve) => {
      ui.form.addEventListener(
        'submit',
        (e) => {
          e.preventDefault();
          const f = new FormData(ui.form);
          ui.form.hidden = true;
          resolve({
            sdkAppId: f.get('sdkAppId'),
            roomId: f.get('roomId'),
            userId: f.get('userId'),
            userSig: String(f.get('userSig')).trim(),
            mode: 'rtc',
          });
        },
        { once: true }
      );
    });
  }

  /** TRTC wants a number for a numeric room and useStringRoomId for any other. */
  function roomOptions(c) {
    const text = String(c.roomId);
    const numeric = /^[1-9]\d*$/.test(text) && Number(text) < 4294967295;
    return { roomId: numeric ? Number(text) : text, useStringRoomId: !numeric };
  }

  // ── the TRTC client ──

  function createClient(c) {
    const { useStringRoomId } = roomOptions(c);
    const cl = TRTC.createClient({
      mode: c.mode === 'live' ? 'live' : 'rtc',
      sdkAppId: Number(c.sdkAppId),
      userId: String(c.userId),
      userSig: String(c.userSig),
      useStringRoomId,
    });
    cl.on('connection-state-changed', ({ state }) => {
      set({ connection: state });
      ui.connection.textContent = { CONNECTED: 'online', CONNECTING: 'connecting…', RECONNECTING: 'reconnecting…', DISCONNECTED: 'offline' }[state] || state;
      ui.connection.dataset.state = state;
    });
    cl.on('network-quality', (q) => showQuality(Math.max(q.uplinkNetworkQuality, q.downlinkNetworkQuality)));
    cl.on('stream-added', ({ stream }) => {
      remotes.set(stream.getUserId(), stream);
      cl.subscribe(stream).catch((e) => showError(e, `cannot receive ${stream.getUserId()}`));
    });
    cl.on('stream-subscribed', ({ stream }) => onSubscribed(stream));
    cl.on('stream-removed', ({ stream }) => onRemoved(stream));
    cl.on('mute-video', ({ userId }) => {
      if (visitor && visitor.getUserId() === userId) ui.message.textContent = 'The doorbell turned its camera off.';
    });
    cl.on('unmute-video', ({ userId }) => {
      if (visitor && visitor.getUserId() === userId) ui.message.textContent = doorMessage();
    });
    cl.on('client-banned', ({ message }) => {
      stopStats();
      setState('ended', `This page was put out of the room: ${message}`);
    });
    cl.on('error', (err) => {
      showError(err, 'connection lost');
      stopStats();
      setState('error', 'The connection to the door was lost.');
    });
    return cl;
  }

  function doorMessage() {
    if (app.dataset.state === 'talking') return 'You are talking with the visitor.';
    return visitor ? 'Someone is at the door.' : 'Nobody at the door.';
  }

  function onSubscribed(stream) {
    const audioBlocked = () => {
      set({ audio: 'blocked' });
      ui.unblock.hidden = false;
    };
    stream.on('error', (err) => {
      if (err.getCode() === 0x4043) audioBlocked(); // PLAY_NOT_ALLOWED
    });
    const isDoor = !visitor && stream.hasVideo();
    if (isDoor) {
      visitor = stream;
      set({ visitor: 'present', visitorUser: stream.getUserId(), frames: 0 });
      if (app.dataset.state === 'waiting') setState('ringing');
      ui.message.textContent = doorMessage();
    }
    // Others (someone else who answered) are heard, not shown.
    const container = isDoor ? ui.video : ui.others;
    stream
      .play(container, { objectFit: 'contain' })
      .then(() => {
        if (stream.hasAudio()) set({ audio: 'playing' });
      })
      .catch((e) => {
        if (e.getCode && e.getCode() === 0x4043) audioBlocked();
        else showError(e, 'cannot play');
      });
  }

  function onRemoved(stream) {
    remotes.delete(stream.getUserId());
    stream.stop();
    if (stream !== visitor) return;
    visitor = null;
    set({ visitor: 'absent', frames: 0 });
    delete app.dataset.visitorUser;
    delete app.dataset.frameSize;
    if (app.dataset.state === 'ringing') setState('waiting');
    ui.message.textContent = doorMessage();
  }

  function startStats() {
    stopStats();
    statsTimer = setInterval(async () => {
      if (!client || !visitor) return;
      try {
        const stats = await client.getRemoteVideoStats();
        const s = visitor && stats[visitor.getUserId()];
        if (s) set({ frames: s.framesDecoded, frameSize: `${s.frameWidth}x${s.frameHeight}` });
      } catch (e) {
        /* the next round will tell */
      }
    }, 500);
  }

  function stopStats() {
    if (statsTimer) clearInterval(statsTimer);
    statsTimer = null;
  }

  async function goToTheDoor() {
    clearError();
    setState('connecting', 'Connecting to the door…');
    client = createClient(credentials);
    try {
      await client.join({ roomId: roomOptions(credentials).roomId });
    } catch (e) {
      showError(e, 'cannot reach the door');
      setState('error', 'Could not join the door’s room.');
      return;
    }
    startStats();
    setState(visitor ? 'ringing' : 'waiting', doorMessage());
  }

  // ── answering and hanging up ──

  async function answer() {
    clearError();
    setState('answering', 'Opening your microphone…');
    const withCamera = ui.withCamera.checked;
    localStream = TRTC.createStream({ userId: String(credentials.userId), audio: true, video: withCamera });
    try {
      await localStream.initialize();
      await client.publish(localStream);
    } catch (e) {
      showError(e, 'cannot answer');
      if (localStream) localStream.close();
      localStream = null;
      setState(visitor ? 'ringing' : 'waiting', doorMessage());
      return;
    }
    setMic('live');
    setState('talking', 'You are talking with the visitor.');
    // Unmuting the page's audio is a user gesture: let a blocked visitor stream play too.
    if (visitor) visitor.resume().then(() => set({ audio: 'playing' }), () => {});
  }

  function setMuted(muted) {
    if (!localStream) return;
    if (muted) localStream.muteAudio();
    else localStream.unmuteAudio();
    setMic(muted ? 'muted' : 'live');
  }

  async function hangUp() {
    stopStats();
    const leaving = client;
    client = null;
    if (leaving) {
      await leaving.leave().catch((e) => console.warn('leave', e));
      leaving.destroy();
    }
    if (localStream) localStream.close();
    localStream = null;
    for (const stream of remotes.values()) stream.stop();
    remotes.clear();
    visitor = null;
    set({ visitor: 'absent', frames: 0, mic: 'off', audio: 'none', networkQuality: 0 });
    ui.unblock.hidden = true;
    showQuality(0);
    setState('ended', 'Call ended.');
  }

  ui.answer.addEventListener('click', answer);
  ui.hangup.addEventListener('click', hangUp);
  ui.rejoin.addEventListener('click', goToTheDoor);
  ui.mute.addEventListener('click', () => setMuted(app.dataset.mic !== 'muted'));
  // Push to talk: the microphone is live while the button is held, muted when let go.
  let talkHeld = false;
  ui.talk.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    talkHeld = true;
    setMuted(false);
  });
  for (const end of ['pointerup', 'pointercancel', 'pointerleave']) {
    ui.talk.addEventListener(end, () => {
      if (!talkHeld) return;
      talkHeld = false;
      setMuted(true);
    });
  }
  ui.unblock.addEventListener('click', () => {
    ui.unblock.hidden = true;
    for (const stream of remotes.values()) {
      stream.resume().then(
        () => set({ audio: 'playing' }),
        () => {
          ui.unblock.hidden = false;
        }
      );
    }
  });

  (async function start() {
    setState('loading', 'Loading…');
    const check = await TRTC.checkSystemRequirements();
    if (!check.detail.isWebRTCSupported || !check.detail.isH264DecodeSupported) {
      setState('error', 'This browser cannot show the door (it needs WebRTC with H.264).');
      set({ error: '0x1002' });
      return;
    }
    if (!check.detail.isMediaDevicesSupported) {
      // Plain http from another machine: watching works, talking needs https.
      ui.withCamera.disabled = true;
      ui.cameraChoice.title = 'Talking back needs this page over https://';
    }
    credentials = (await readCredentials()) || (await askForCredentials());
    await goToTheDoor();
  })();
})();
