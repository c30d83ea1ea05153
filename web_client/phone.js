// Phone page: join the show's websocket, vote / tap / react, survive reconnects.
// Everything shown is set with textContent: no text from the network becomes markup.
"use strict";
(() => {
  const V = 1;
  const $ = (id) => document.getElementById(id);
  const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  let ws = null;
  let backoffMs = 500;
  let seq = 0;
  let poll = null;          // the poll view last received
  let myVote = null;        // {choice} or {value} for the current poll
  let pendingVote = null;   // a vote not yet acknowledged: resent after a reconnect
  let taps = 0;

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ v: V, ...message }));
      return true;
    }
    return false;
  }

  function setConnection(text, online) {
    const el = $("connection");
    el.textContent = text;
    el.classList.toggle("online", online);
  }

  function notice(text) {
    $("notice").textContent = text;
    if (text) setTimeout(() => { if ($("notice").textContent === text) $("notice").textContent = ""; }, 4000);
  }

  function connect() {
    setConnection("Connecting…", false);
    ws = new WebSocket(wsUrl);
    ws.onopen = () => { backoffMs = 500; setConnection("Connected", true); };
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.v !== V) return;
      handle(message);
    };
    ws.onclose = () => {
      setConnection("Reconnecting…", false);
      const wait = backoffMs * (0.5 + Math.random());
      backoffMs = Math.min(backoffMs * 2, 8000);
      setTimeout(connect, wait);
    };
  }

  function handle(message) {
    switch (message.type) {
      case "welcome":
        if (message.your_vote) myVote = message.your_vote;
        if (pendingVote) send({ type: "vote", ...pendingVote });
        break;
      case "poll":
        render(message.poll);
        break;
      case "ack":
        if (pendingVote && pendingVote.seq === message.seq) pendingVote = null;
        break;
      case "error":
        if (message.code === "busy" && pendingVote) {
          const again = pendingVote;  // the show is busy: the same vote goes in a moment later
          setTimeout(() => { if (pendingVote === again) send({ type: "vote", ...again }); }, 1000);
          break;
        }
        if (message.code === "rate_limited") notice("Easy there — a little slower.");
        else if (message.code === "poll_closed") notice("That question has closed.");
        else notice("That didn't go through.");
        if (pendingVote && message.code !== "rate_limited") pendingVote = null;
        break;
      default:
        break;
    }
  }

  function render(view) {
    const changed = !poll || !view || poll.id !== view.id;
    if (poll && view && poll.id !== view.id) { myVote = null; pendingVote = null; }
    poll = view;
    $("waiting").hidden = !!view;
    $("poll").hidden = !view;
    if (!view) return;
    $("question").textContent = view.question || defaultQuestion(view.kind);
    $("poll-state").textContent = stateText(view);
    $("choice").hidden = view.kind !== "choice";
    $("scale").hidden = view.kind !== "scale";
    $("tap").hidden = view.kind !== "tap";
    if (view.kind === "choice") renderChoice(view, changed);
    if (view.kind === "scale") renderScale(view, changed);
    if (view.kind === "tap") renderTap(view);
  }

  function defaultQuestion(kind) {
    return { choice: "What next?", scale: "How much?", tap: "Tap to the beat!", reactions: "React!" }[kind] || "";
  }

  function stateText(view) {
    const voters = view.tally ? view.tally.voters : 0;
    if (!view.open) return view.vetoed ? "Closed — the band kept its own call." : `Closed · ${voters} voted`;
    return `Open · ${voters} ${voters === 1 ? "vote" : "votes"} so far`;
  }

  function renderChoice(view, rebuild) {
    const box = $("options");
    const counts = (view.tally && view.tally.counts) || [];
    const total = counts.reduce((a, b) => a + b, 0) || 1;
    if (rebuild || box.children.length !== view.options.length) {
      box.replaceChildren();
      view.options.forEach((text, index) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "option";
        const bar = document.createElement("span"); bar.className = "bar";
        const label = document.createElement("span"); label.className = "label"; label.textContent = text;
        const count = document.createElement("span"); count.className = "count";
        button.append(bar, label, count);
        button.addEventListener("click", () => vote({ choice: index }));
        box.append(button);
      });
    }
    [...box.children].forEach((button, index) => {
      const n = counts[index] || 0;
      button.querySelector(".bar").style.width = `${Math.round((100 * n) / total)}%`;
      button.querySelector(".count").textContent = String(n);
      button.setAttribute("aria-pressed", String(!!myVote && myVote.choice === index));
      button.setAttribute("aria-label", `${view.options[index]}, ${n} ${n === 1 ? "vote" : "votes"}`);
      button.disabled = !view.open;
      button.classList.toggle("winner", !view.open && view.tally && view.tally.winner === index);
    });
  }

  function renderScale(view, rebuild) {
    if (rebuild && myVote && typeof myVote.value === "number") $("slider").value = String(Math.round(myVote.value * 100));
    $("slider").disabled = !view.open;
    $("send-scale").disabled = !view.open;
    const mean = view.tally ? Math.round(view.tally.value * 100) : 0;
    $("scale-mean").textContent = `Crowd average: ${mean}%`;
  }

  function renderTap(view) {
    const energy = view.tally ? Math.round(view.tally.value * 100) : 0;
    $("energy-fill").style.width = `${energy}%`;
    $("energy-meter").setAttribute("aria-valuenow", String(energy));
    $("tap-button").disabled = !view.open;
  }

  function vote(choiceOrValue) {
    if (!poll || !poll.open) return;
    seq += 1;
    myVote = choiceOrValue;
    pendingVote = { poll: poll.id, ...choiceOrValue, seq };
    if (!send({ type: "vote", ...pendingVote })) notice("Offline — your vote goes in when we reconnect.");
    render(poll);
  }

  function flushTaps() {
    if (taps > 0 && poll && poll.open && poll.kind === "tap") {
      const count = Math.min(taps, 50);
      if (send({ type: "tap", poll: poll.id, count })) taps -= count;
    } else if (!poll || !poll.open) {
      taps = 0;
    }
  }

  function wire() {
    $("send-scale").addEventListener("click", () => vote({ value: Number($("slider").value) / 100 }));
    $("tap-button").addEventListener("pointerdown", (event) => { event.preventDefault(); taps += 1; });
    $("tap-button").addEventListener("keydown", (event) => {
      if (event.key === " " || event.key === "Enter") { event.preventDefault(); taps += 1; }
    });
    document.querySelectorAll("[data-emoji]").forEach((button) => {
      button.addEventListener("click", () => {
        if (send({ type: "react", emoji: button.dataset.emoji })) {
          button.disabled = true;
          setTimeout(() => { button.disabled = false; }, 400);
        }
      });
    });
    setInterval(flushTaps, 250);
  }

  wire();
  connect();
})();
