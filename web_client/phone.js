// Phone page: join the show's websocket, vote / slide / tap / react, pulse on the beat,
// survive reconnects (and service restarts) with the same device and the same vote.
// Everything shown is set with textContent: no text from the network becomes markup.
"use strict";
(() => {
  const V = 1;
  const $ = (id) => document.getElementById(id);
  const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const showId = document.body.dataset.show || "show";
  const reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  const beat = new window.StageBeat.BeatClock($("pulse"), reduced);
  window.__stageBeat = beat;  // read by the browser test (pulse timing)

  let ws = null;
  let backoffMs = 500;
  let retryAt = 0;
  let seq = 0;
  let poll = null;          // the poll view last received
  let myVote = null;        // {choice} or {value} for the current poll
  let pendingVote = null;   // a vote not yet acknowledged: resent after a reconnect
  let serverHasVote = false;  // the service holds this phone's vote in the current poll
  let welcomeVote = null;     // what the service said we voted, at (re)connect
  let taps = 0;
  let pingTimer = null;

  // A vote is remembered per poll for this tab: a restarted service that lost it gets it again.
  const storeKey = (pollId) => `stage:${showId}:vote:${pollId}`;
  function remember(pollId, choiceOrValue) {
    try { sessionStorage.setItem(storeKey(pollId), JSON.stringify(choiceOrValue)); } catch { /* private mode */ }
  }
  function recall(pollId) {
    try { return JSON.parse(sessionStorage.getItem(storeKey(pollId)) || "null"); } catch { return null; }
  }

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ v: V, ...message }));
      return true;
    }
    return false;
  }

  function setConnection(text, state) {
    const el = $("connection");
    el.textContent = text;
    el.dataset.state = state;
    document.body.dataset.connection = state;
  }

  function notice(text) {
    $("notice").textContent = text;
    if (text) setTimeout(() => { if ($("notice").textContent === text) $("notice").textContent = ""; }, 4000);
  }

  function connect() {
    setConnection("Connecting…", "connecting");
    ws = new WebSocket(wsUrl);
    ws.onopen = () => {
      backoffMs = 500;
      setConnection("Live — you're in", "online");
      for (let i = 0; i < 5; i += 1) setTimeout(() => beat.ping(send), i * 150);
      clearInterval(pingTimer);
      pingTimer = setInterval(() => beat.ping(send), 10000);
    };
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.v === V) handle(message);
    };
    ws.onclose = () => {
      clearInterval(pingTimer);
      const wait = backoffMs * (0.5 + Math.random());
      backoffMs = Math.min(backoffMs * 2, 8000);
      retryAt = performance.now() + wait;
      offlineCountdown();
      setTimeout(connect, wait);
    };
  }

  function offlineCountdown() {
    if (ws && ws.readyState === WebSocket.OPEN) return;
    const left = Math.max(0, Math.ceil((retryAt - performance.now()) / 1000));
    if (left > 0) setConnection(`Offline — reconnecting in ${left} s`, "offline");
    else setConnection("Offline — reconnecting…", "offline");
    if (left > 0) setTimeout(offlineCountdown, 500);
  }

  function handle(message) {
    switch (message.type) {
      case "welcome":
        serverHasVote = !!message.your_vote;
        welcomeVote = message.your_vote || null;
        if (welcomeVote) myVote = welcomeVote;
        if (pendingVote) send({ type: "vote", ...pendingVote });
        break;
      case "poll":
        render(message.poll);
        break;
      case "music":
        showMusic(message);
        beat.music(message);
        break;
      case "pong":
        beat.pong(message);
        break;
      case "ack":
        if (pendingVote && pendingVote.seq === message.seq) {
          pendingVote = null;
          serverHasVote = true;
          render(poll);
        }
        break;
      case "error":
        onError(message);
        break;
      default:
        break;
    }
  }

  function onError(message) {
    if ((message.code === "busy" || message.code === "rate_limited") && pendingVote) {
      const again = pendingVote;  // the show is busy: the same vote goes in a moment later
      setTimeout(() => { if (pendingVote === again) send({ type: "vote", ...again }); }, 1000);
      return;
    }
    if (message.code === "rate_limited") notice("Easy there — a little slower.");
    else if (message.code === "poll_closed") notice("That question has closed.");
    else notice("That didn't go through.");
    if (pendingVote && message.code !== "rate_limited") {
      // refused for good: forget it, or the phone would offer it again on every snapshot
      try { sessionStorage.removeItem(storeKey(pendingVote.poll)); } catch { /* private mode */ }
      pendingVote = null;
      myVote = null;
      render(poll);
    }
  }

  function showMusic(m) {
    $("song").textContent = m.song || "stage";
    const parts = [m.section, m.chord && m.chord !== "N" ? m.chord.replace(":", " ") : ""].filter(Boolean);
    $("section").textContent = parts.join(" · ") || "Playing";
  }

  function render(view) {
    const fresh = !poll || !view || poll.id !== view.id;
    if (fresh) {
      serverHasVote = !!view && !!welcomeVote;
      myVote = view ? welcomeVote || recall(view.id) : null;
      pendingVote = null;
    }
    welcomeVote = null;
    // The service restarted and lost this phone's vote: the phone still has it, send it again.
    if (view && view.open && myVote && !serverHasVote && !pendingVote) {
      seq += 1;
      pendingVote = { poll: view.id, ...myVote, seq };
      send({ type: "vote", ...pendingVote });
    }
    poll = view;
    const open = !!view && view.open;
    $("waiting").hidden = open;
    $("poll").hidden = !view;
    $("waiting-title").textContent = "Waiting for the next poll";
    document.body.dataset.poll = open ? "open" : "none";
    if (!view) return;
    $("question").textContent = view.question || defaultQuestion(view.kind);
    $("poll-state").textContent = stateText(view);
    $("choice").hidden = view.kind !== "choice";
    $("scale").hidden = view.kind !== "scale";
    $("tap").hidden = view.kind !== "tap";
    if (view.kind === "choice") renderChoice(view, fresh);
    if (view.kind === "scale") renderScale(view, fresh);
    if (view.kind === "tap") renderTap(view);
  }

  function defaultQuestion(kind) {
    return { choice: "What next?", scale: "How much?", tap: "Hype the band!", reactions: "React!" }[kind] || "";
  }

  function stateText(view) {
    const voters = view.tally ? view.tally.voters : 0;
    if (!view.open) return view.vetoed ? "Closed — the band kept its own call." : `Closed · ${voters} voted`;
    if (view.kind === "tap") return `Open · ${voters} ${voters === 1 ? "phone" : "phones"} tapping`;
    if (view.kind === "reactions") return "Open · send a reaction below";
    const mine = myVote ? (pendingVote ? " · sending your vote…" : " · your vote is in") : "";
    return `Open · ${voters} ${voters === 1 ? "vote" : "votes"}${mine}`;
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
      const pct = Math.round((100 * n) / total);
      button.querySelector(".bar").style.width = `${pct}%`;
      button.querySelector(".count").textContent = `${pct}%`;
      const chosen = !!myVote && myVote.choice === index;
      button.setAttribute("aria-pressed", String(chosen));
      button.setAttribute("aria-label", `${view.options[index]}: ${n} ${n === 1 ? "vote" : "votes"}${chosen ? ", your vote" : ""}`);
      button.disabled = !view.open;
      button.classList.toggle("winner", !view.open && view.tally && view.tally.winner === index);
    });
  }

  function renderScale(view, rebuild) {
    if (rebuild && myVote && typeof myVote.value === "number") $("slider").value = String(Math.round(myVote.value * 100));
    $("slider-value").textContent = `${$("slider").value}%`;
    $("slider").disabled = !view.open;
    $("send-scale").disabled = !view.open;
    const mean = view.tally ? Math.round(view.tally.value * 100) : 0;
    $("scale-fill").style.width = `${mean}%`;
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
    remember(poll.id, choiceOrValue);
    serverHasVote = false;
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
    $("slider").addEventListener("input", () => { $("slider-value").textContent = `${$("slider").value}%`; });
    $("send-scale").addEventListener("click", () => vote({ value: Number($("slider").value) / 100 }));
    const tap = () => {
      taps += 1;
      if (navigator.vibrate) navigator.vibrate(8);
    };
    $("tap-button").addEventListener("pointerdown", (event) => { event.preventDefault(); tap(); });
    $("tap-button").addEventListener("keydown", (event) => {
      if (event.key === " " || event.key === "Enter") { event.preventDefault(); tap(); }
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
  beat.start();
  connect();
})();
