// Big screen: join QR code plus the live poll, read from the same phone feed.
"use strict";
(() => {
  const EMOJI = ["🔥", "👏", "❤️", "😮", "🎉", "🙌"];
  const $ = (id) => document.getElementById(id);
  let backoffMs = 500;

  function connect() {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?role=screen`);
    ws.onopen = () => { backoffMs = 500; };
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.v === 1 && message.type === "poll") render(message);
    };
    ws.onclose = () => { setTimeout(connect, backoffMs); backoffMs = Math.min(backoffMs * 2, 8000); };
  }

  function render(message) {
    const view = message.poll;
    burst(message.reactions || []);
    const bars = $("bars");
    if (!view) { $("question").textContent = "Waiting for the next question…"; bars.replaceChildren(); $("value").textContent = ""; return; }
    $("question").textContent = view.question || "";
    const tally = view.tally || { counts: [], value: 0, voters: 0 };
    if (view.kind === "choice") {
      const total = tally.counts.reduce((a, b) => a + b, 0) || 1;
      bars.replaceChildren(...view.options.map((text, i) => {
        const li = document.createElement("li");
        const fill = document.createElement("span"); fill.className = "fill";
        fill.style.width = `${Math.round((100 * (tally.counts[i] || 0)) / total)}%`;
        const row = document.createElement("span"); row.className = "text";
        const label = document.createElement("span"); label.textContent = text;
        const count = document.createElement("span"); count.textContent = String(tally.counts[i] || 0);
        row.append(label, count); li.append(fill, row);
        if (!view.open && tally.winner === i) li.className = "winner";
        return li;
      }));
      $("value").textContent = `${tally.voters} voted${view.open ? "" : " · closed"}`;
    } else {
      bars.replaceChildren();
      const label = view.kind === "tap" ? "Crowd energy" : view.kind === "scale" ? "Crowd average" : "Reactions";
      $("value").textContent = `${label}: ${Math.round(tally.value * 100)}% · ${tally.voters} phones`;
    }
  }

  function burst(counts) {
    const box = $("bursts");
    counts.forEach((n, i) => {
      for (let k = 0; k < Math.min(n, 8); k += 1) {
        const span = document.createElement("span");
        span.textContent = EMOJI[i];
        span.style.left = `${Math.random() * 90}%`;
        box.append(span);
        setTimeout(() => span.remove(), 2000);
      }
    });
  }

  async function phones() {
    try {
      const health = await (await fetch("/health")).json();
      $("phones").textContent = `${health.phones} ${health.phones === 1 ? "phone" : "phones"} connected`;
    } catch { /* the service is restarting: try again */ }
  }
  setInterval(phones, 3000);
  phones();
  connect();
})();
