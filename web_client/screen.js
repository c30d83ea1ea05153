// Big screen: join QR code and short URL, the live poll with animated bars, crowd size and
// energy, song / section / chord and the beat, read from the same feed the phones get
// (as role=screen: not counted as a phone). Text from the network is set with textContent.
"use strict";
(() => {
  const EMOJI = ["🔥", "👏", "❤️", "😮", "🎉", "🙌"];
  const $ = (id) => document.getElementById(id);
  const reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  const beat = new window.StageBeat.BeatClock($("pulse"), reduced);
  window.__stageBeat = beat;
  let backoffMs = 500;
  let ws = null;
  let pollView = null;
  let musicEnergy = null;
  let pingTimer = null;

  const url = $("join-url").dataset.url || "";
  $("join-url").textContent = url.replace(/^https?:\/\//, "");

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ v: 1, ...message }));
  }

  function connect() {
    ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?role=screen`);
    ws.onopen = () => {
      backoffMs = 500;
      $("offline").hidden = true;
      for (let i = 0; i < 5; i += 1) setTimeout(() => beat.ping(send), i * 150);
      clearInterval(pingTimer);
      pingTimer = setInterval(() => beat.ping(send), 10000);
    };
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.v !== 1) return;
      if (message.type === "poll") render(message);
      else if (message.type === "music") music(message);
      else if (message.type === "pong") beat.pong(message);
    };
    ws.onclose = () => {
      clearInterval(pingTimer);
      $("offline").hidden = false;
      setTimeout(connect, backoffMs * (0.5 + Math.random()));
      backoffMs = Math.min(backoffMs * 2, 8000);
    };
  }

  function music(m) {
    $("song").textContent = m.song || "stage";
    $("section").textContent = m.section || "";
    $("chord").textContent = m.chord && m.chord !== "N" ? m.chord.replace(":", " ") : "";
    if (typeof m.crowd === "number") crowd(m.crowd);
    musicEnergy = typeof m.energy === "number" ? m.energy : musicEnergy;
    energy();
    beat.music(m);
  }

  function crowd(n) {
    $("crowd").textContent = n.toLocaleString("en");
    $("crowd-label").textContent = n === 1 ? "phone in" : "phones in";
  }

  // Energy: the crowd's taps while a tap poll is open, else the band's energy control.
  function energy() {
    const tapping = pollView && pollView.open && pollView.kind === "tap" && pollView.tally;
    const value = tapping ? pollView.tally.value : musicEnergy;
    const pct = typeof value === "number" ? Math.round(value * 100) : 0;
    $("energy-fill").style.width = `${pct}%`;
    $("energy-value").textContent = `${pct}%`;
  }

  function render(message) {
    const view = message.poll;
    pollView = view;
    burst(message.reactions || []);
    energy();
    const bars = $("bars");
    if (!view) {
      $("question").textContent = "Waiting for the next poll…";
      bars.replaceChildren();
      $("value").textContent = "";
      return;
    }
    $("question").textContent = view.question || "";
    const tally = view.tally || { counts: [], value: 0, voters: 0 };
    if (view.kind === "choice") {
      renderChoice(view, tally);
      $("value").textContent = `${tally.voters} voted${view.open ? "" : " · closed"}`;
    } else {
      bars.replaceChildren();
      const label = view.kind === "tap" ? "Crowd energy" : view.kind === "scale" ? "Crowd average" : "Reactions";
      $("value").textContent = `${label}: ${Math.round(tally.value * 100)}% · ${tally.voters} ${tally.voters === 1 ? "phone" : "phones"}${view.open ? "" : " · closed"}`;
    }
  }

  // Bars are kept between snapshots so their widths animate (CSS transition) as votes come in.
  function renderChoice(view, tally) {
    const bars = $("bars");
    const key = `${view.id}:${view.options.length}`;
    if (bars.dataset.key !== key) {
      bars.dataset.key = key;
      bars.replaceChildren(...view.options.map((text) => {
        const li = document.createElement("li");
        const fill = document.createElement("span"); fill.className = "fill";
        const row = document.createElement("span"); row.className = "text";
        const label = document.createElement("span"); label.textContent = text;
        const pct = document.createElement("span"); pct.className = "pct";
        row.append(label, pct); li.append(fill, row);
        return li;
      }));
    }
    const total = tally.counts.reduce((a, b) => a + b, 0) || 1;
    [...bars.children].forEach((li, i) => {
      const n = tally.counts[i] || 0;
      const pct = Math.round((100 * n) / total);
      li.querySelector(".fill").style.width = `${pct}%`;
      li.querySelector(".pct").textContent = `${pct}% · ${n}`;
      li.classList.toggle("winner", !view.open && tally.winner === i);
    });
  }

  function burst(counts) {
    const box = $("bursts");
    counts.forEach((n, i) => {
      for (let k = 0; k < Math.min(n, 8); k += 1) {
        const span = document.createElement("span");
        span.textContent = EMOJI[i];
        span.style.left = `${Math.random() * 92}%`;
        box.append(span);
        setTimeout(() => span.remove(), 2400);
      }
    });
  }

  async function health() {
    try {
      const data = await (await fetch("/health")).json();
      crowd(data.phones);
    } catch { /* the service is restarting: the next try will tell */ }
  }
  setInterval(health, 3000);
  health();
  beat.start();
  connect();
})();
