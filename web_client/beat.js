// Beat clock shared by the phone and the big screen.
//
// The service's clock comes from ping/pong round trips (offset = t_service - midpoint of the
// round trip; the fastest of the last 8 wins, as NTP does). The engine sends each bar's start
// (`music` frames: `at` in service ms, `bpm` in quarter notes, `meter` [beats, unit]) about a
// beat ahead. Beats are extrapolated from the latest bar anchor and placed with the Web
// Animations API at their exact start time on this page's clock, so timer jitter never moves
// a pulse (the display shows it on the next frame).
"use strict";
window.StageBeat = (() => {
  const SAMPLES = 8;
  const LOOKAHEAD_MS = 250;     // pulses are placed this far ahead
  const STALE_BARS = 3;         // no new bar for this long: the music stopped, stop pulsing
  const KEEP = 2000;            // pulses remembered (the browser test reads them)

  class BeatClock {
    constructor(element, reducedMotion) {
      this.element = element;
      this.reducedMotion = reducedMotion;
      this.samples = [];
      this.sent = new Map();
      this.seq = 0;
      this.anchors = [];
      this.placed = new Map();  // "bar:beat" -> {bar, beat, t, shown, animation}
      this.pulses = [];
      this.timer = null;
    }

    ping(send) {
      this.seq += 1;
      this.sent.set(this.seq, performance.now());
      if (this.sent.size > 32) this.sent.delete(this.sent.keys().next().value);
      send({ type: "ping", seq: this.seq });
    }

    pong(message) {
      const t0 = this.sent.get(message.seq);
      if (t0 === undefined || typeof message.t !== "number") return;
      this.sent.delete(message.seq);
      const t1 = performance.now();
      this.samples.push({ rtt: t1 - t0, offset: message.t - (t0 + t1) / 2 });
      if (this.samples.length > SAMPLES) this.samples.shift();
    }

    get offset() {  // service ms minus page ms
      if (!this.samples.length) return null;
      return this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a)).offset;
    }

    get rtt() {
      return this.samples.length ? Math.min(...this.samples.map((s) => s.rtt)) : null;
    }

    music(m) {
      if (typeof m.at !== "number" || !(m.bpm > 0) || typeof m.bar !== "number") return;
      const meter = Array.isArray(m.meter) ? m.meter : [4, 4];
      const anchor = { at: m.at, bar: m.bar, beats: meter[0], beatMs: (60000 / m.bpm) * (4 / meter[1]) };
      this.anchors = this.anchors.filter((a) => a.bar < m.bar && a.at < m.at);
      this.anchors.push(anchor);
      if (this.anchors.length > 3) this.anchors.shift();
      this.place();
    }

    start() {
      if (this.timer === null) this.timer = setInterval(() => this.place(), 50);
      const frame = (now) => { this.markShown(now); requestAnimationFrame(frame); };
      requestAnimationFrame(frame);
    }

    // Every beat due between now and the lookahead, from the anchor it belongs to.
    place() {
      const offset = this.offset;
      if (offset === null || !this.anchors.length) return;
      const now = performance.now();
      const from = now + 5;
      const to = now + LOOKAHEAD_MS;
      this.anchors.forEach((anchor, index) => {
        const start = anchor.at - offset;
        const next = this.anchors[index + 1];
        const end = next ? next.at - offset : start + STALE_BARS * anchor.beats * anchor.beatMs;
        let k = Math.max(0, Math.ceil((from - start) / anchor.beatMs));
        for (let t = start + k * anchor.beatMs; t < Math.min(end, to); k += 1, t = start + k * anchor.beatMs) {
          if (t >= from) this.pulseAt(anchor.bar + Math.floor(k / anchor.beats), k % anchor.beats, t);
        }
      });
    }

    pulseAt(bar, beat, t) {
      const key = `${bar}:${beat}`;
      const known = this.placed.get(key);
      if (known) {  // a newer anchor moved it: move the animation while it has not started
        if (Math.abs(known.t - t) > 0.5 && known.shown === null) {
          known.t = t;
          if (known.animation) known.animation.startTime = t;
        }
        return;
      }
      const pulse = { bar, beat, t, shown: null, timer: null, animation: null };
      // What a plain timer aimed at the same beat would do (the browser test's baseline).
      setTimeout(() => { pulse.timer = performance.now(); }, Math.max(0, t - performance.now()));
      if (this.element && this.element.animate) {
        const big = beat === 0;
        const frames = this.reducedMotion
          ? [{ opacity: 1 }, { opacity: 0.35 }]
          : [{ transform: `scale(${big ? 1.5 : 1.25})`, opacity: 1 }, { transform: "scale(1)", opacity: 0.35 }];
        pulse.animation = this.element.animate(frames, { duration: big ? 220 : 160, easing: "ease-out" });
        pulse.animation.startTime = t;  // document timeline = performance.now() clock
      }
      this.placed.set(key, pulse);
      this.pulses.push(pulse);
      if (this.pulses.length > KEEP) {
        const old = this.pulses.shift();
        this.placed.delete(`${old.bar}:${old.beat}`);
      }
    }

    markShown(frameTime) {
      for (let i = this.pulses.length - 1; i >= 0 && i >= this.pulses.length - 8; i -= 1) {
        const pulse = this.pulses[i];
        if (pulse.shown === null && frameTime >= pulse.t) pulse.shown = frameTime;
      }
    }

    get live() {
      const last = this.anchors[this.anchors.length - 1];
      const offset = this.offset;
      if (!last || offset === null) return false;
      return performance.now() < last.at - offset + STALE_BARS * last.beats * last.beatMs;
    }

    // For the browser test: the pulses placed, on this page's clock (ms).
    report() {
      return this.pulses.map(({ bar, beat, t, shown, timer }) => ({ bar, beat, t, shown, timer }));
    }
  }

  return { BeatClock };
})();
