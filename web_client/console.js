// Performer console: the admin API with the show's token (kept in this tab only, never in
// the page or a cookie). State every 500 ms: crowd, vote rate, poll, locks, engine health.
// Text from the network is set with textContent.
"use strict";
(() => {
  const CONTROLS = ["energy", "density", "complexity", "mood", "swing"];
  const $ = (id) => document.getElementById(id);
  const KEY = "stage:console-token";
  let token = "";
  let state = null;
  let timer = null;

  // A link may carry the token in its fragment (#token=...): never sent to the server, dropped at once.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem(KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname);
  }

  async function api(path, body) {
    const response = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    if (response.status === 401) throw new Error("token refused");
    if (!response.ok) throw new Error(await response.text());
    return response.json();
  }

  function status(text, kind) {
    $("status").textContent = text;
    $("status").dataset.state = kind;
  }

  async function signIn(candidate) {
    token = candidate;
    try {
      state = await api("/api/state");
    } catch (error) {
      status(error.message === "token refused" ? "Wrong token" : "Service unreachable", "bad");
      return;
    }
    sessionStorage.setItem(KEY, token);
    $("login").hidden = true;
    $("panels").hidden = false;
    $("panic").disabled = false;
    render(state);
    clearInterval(timer);
    timer = setInterval(refresh, 500);
  }

  async function refresh() {
    try {
      render(await api("/api/state"));
    } catch (error) {
      status(error.message === "token refused" ? "Token refused" : "Service unreachable — retrying", "bad");
    }
  }

  function text(id, value) { $(id).textContent = value === null || value === undefined || value === "" ? "—" : String(value); }
  const ms = (x) => (typeof x === "number" ? `${x.toFixed(2)} ms` : "—");

  function render(s) {
    state = s;
    status(`Live · ${s.phones} phones`, "ok");
    const m = s.music || {};
    text("m-song", m.song);
    text("m-section", m.section);
    text("m-chord", m.chord);
    text("m-bar", m.bar === undefined ? null : `${m.bar} · ${m.bpm ? Math.round(m.bpm) : "?"} bpm`);
    text("c-phones", s.phones);
    text("c-rate", s.vote_rate);
    text("c-votes", s.votes);
    text("c-screens", s.screens);
    const latency = s.vote_to_engine_ms || {};
    text("c-latency", latency.n ? `${ms(latency.p50)} / ${ms(latency.p99)}` : null);
    renderEngine(s.engine, s.now_ms);
    renderPoll(s.poll);
    renderLocks(s.locks || {});
    renderPanic(s.engine && s.engine.panic);
  }

  function renderEngine(engine, now) {
    const health = engine && engine.health;
    const link = $("e-link");
    const fresh = health && now - health.received_ms < 3000;
    link.dataset.state = engine && engine.connected && fresh ? "ok" : "bad";
    link.textContent = !engine || !engine.connected ? "no engine connected"
      : fresh ? "engine connected" : "engine connected · no health report";
    if (!health) return;
    text("e-sent", health.sent);
    text("e-late", health.late);
    const send = health.send_ms || {};
    text("e-lat", `${ms(send.p50)} / ${ms(send.p99)}`);
    text("e-worst", ms(health.worst_late_ms));
    text("e-xruns", health.xruns === null ? "not reported" : health.xruns);
    text("e-reconnects", health.reconnects);
    text("e-lost", health.lost_ports && health.lost_ports.length ? health.lost_ports.join(", ") : "none");
    const l = health.link || {};
    text("e-linkinfo", `${l.reconnects ?? "—"} · ${ms(l.rtt_ms)}`);
  }

  function renderPoll(poll) {
    const box = $("poll-now");
    const open = !!poll && poll.open;
    $("close-poll").disabled = !open;
    $("veto-poll").disabled = !poll || poll.vetoed;
    if (!poll) { box.replaceChildren(Object.assign(document.createElement("p"), { textContent: "No poll yet." })); return; }
    const q = Object.assign(document.createElement("p"), { className: "q", textContent: `${poll.question || poll.id} (${poll.kind}${open ? ", open" : ", closed"}${poll.vetoed ? ", vetoed" : ""})` });
    const tally = poll.tally || { counts: [], voters: 0, value: 0 };
    const list = document.createElement("ol");
    const total = tally.counts.reduce((a, b) => a + b, 0) || 1;
    (poll.kind === "choice" ? poll.options : [`value ${Math.round(tally.value * 100)}%`]).forEach((option, i) => {
      const li = document.createElement("li");
      const fill = Object.assign(document.createElement("span"), { className: "fill" });
      const n = poll.kind === "choice" ? tally.counts[i] || 0 : tally.voters;
      fill.style.width = poll.kind === "choice" ? `${Math.round((100 * n) / total)}%` : `${Math.round(tally.value * 100)}%`;
      const row = Object.assign(document.createElement("span"), { className: "t" });
      row.append(Object.assign(document.createElement("span"), { textContent: option }),
        Object.assign(document.createElement("span"), { textContent: String(n) }));
      li.append(fill, row);
      list.append(li);
    });
    box.replaceChildren(q, list, Object.assign(document.createElement("p"), { textContent: `${tally.voters} ${tally.voters === 1 ? "voter" : "voters"}` }));
  }

  function renderLocks(locks) {
    const box = $("locks");
    if (!box.children.length) {
      CONTROLS.forEach((name) => {
        const row = Object.assign(document.createElement("div"), { className: "lock" });
        const id = `lock-${name}`;
        const label = Object.assign(document.createElement("label"), { textContent: name, htmlFor: `${id}-value` });
        const slider = Object.assign(document.createElement("input"), { type: "range", min: 0, max: 100, value: 50, id: `${id}-value` });
        const value = Object.assign(document.createElement("output"), { textContent: "50%" });
        const button = Object.assign(document.createElement("button"), { type: "button", id, textContent: "Lock" });
        slider.addEventListener("input", () => { value.textContent = `${slider.value}%`; });
        button.addEventListener("click", () => {
          const locked = button.getAttribute("aria-pressed") !== "true";
          act("/api/lock", { control: name, locked, value: locked ? Number(slider.value) / 100 : null });
        });
        row.append(label, slider, value, button);
        box.append(row);
      });
    }
    CONTROLS.forEach((name) => {
      const button = $(`lock-${name}`);
      const locked = Object.prototype.hasOwnProperty.call(locks, name);
      button.setAttribute("aria-pressed", String(locked));
      button.textContent = locked ? "Unlock" : "Lock";
      button.setAttribute("aria-label", `${locked ? "Unlock" : "Lock"} ${name}`);
      const slider = $(`lock-${name}-value`);
      if (locked && typeof locks[name] === "number" && document.activeElement !== slider) {
        slider.value = String(Math.round(locks[name] * 100));
        slider.nextElementSibling.textContent = `${slider.value}%`;
      }
    });
  }

  function renderPanic(panic) {
    if (!panic) return;
    const out = $("panic-result");
    if (panic.done_ms) {
      out.textContent = `Panic: engine silenced ${panic.outputs} output${panic.outputs === 1 ? "" : "s"} in ${(panic.done_ms - panic.asked_ms).toFixed(1)} ms`;
    } else {
      out.textContent = panic.engines ? "Panic sent — waiting for the engine…" : "Panic: no engine connected!";
    }
  }

  async function act(path, body) {
    try {
      await api(path, body);
      await refresh();
    } catch (error) {
      $("panic-result").textContent = `Refused: ${error.message}`;
    }
  }

  function wire() {
    $("login").addEventListener("submit", (event) => { event.preventDefault(); signIn($("token").value); });
    $("panic").addEventListener("click", () => act("/api/panic", {}));
    $("close-poll").addEventListener("click", () => act("/api/poll/close", {}));
    $("veto-poll").addEventListener("click", () => { if (state && state.poll) act("/api/veto", { poll: state.poll.id }); });
    $("open-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const kind = $("p-kind").value;
      const options = $("p-options").value.split("\n").map((s) => s.trim()).filter(Boolean);
      const id = `console-${Date.now().toString(36)}`;
      act("/api/poll", { id, kind, question: $("p-question").value, options: kind === "choice" ? options : [] });
    });
  }

  wire();
  const saved = sessionStorage.getItem(KEY);
  if (saved) signIn(saved);
})();
