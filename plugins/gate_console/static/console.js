// The officers' console: live lane tiles, the referral queue, open faults and the history, from the
// server-sent events of /api/stream (a snapshot, then what changed). Actions are POSTs with the session's
// CSRF token. Plain JavaScript, no build step; text is set with textContent only (never parsed as HTML).
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const role = document.querySelector('meta[name="role"]').content;
  const ROLES = ["viewer", "officer", "supervisor"];
  const may = (needed) => ROLES.indexOf(role) >= ROLES.indexOf(needed);
  const KEEP = 300; // history rows kept in the page
  const state = { lanes: {}, referrals: [], faults: [], events: [], reasons: {} };
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else if (key === "text") node.textContent = value;
      else node[key] = value;
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }
  const clock = (t) => (t ? new Date(t * 1000).toLocaleTimeString([], { hour12: false }) : "");
  const short = (id) => (id ? id.slice(-8) : "");

  function toast(text, bad) {
    const box = $("toast");
    box.textContent = text;
    box.className = bad ? "show bad" : "show";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.className = ""; }, 4000);
  }

  async function act(url, body) {
    let answer = {};
    let response;
    try {
      response = await fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body),
      });
      answer = await response.json().catch(() => ({}));
    } catch (err) {
      toast("The console did not answer: " + err, true);
      return false;
    }
    if (response.status === 401) { location.href = "/login"; return false; }
    toast(response.ok ? "Done." : "Refused: " + (answer.error || response.status), !response.ok);
    return response.ok;
  }

  function reasonPicker(kind, label) {
    const select = el("select", { "data-reason": kind, title: label });
    for (const code of state.reasons[kind] || []) select.append(el("option", { value: code, text: code.replace(/_/g, " ") }));
    return select;
  }

  // -- lane tiles ---------------------------------------------------------------------------
  function laneTile(id) {
    const tile = el("article", { class: "tile", "data-lane": id });
    const info = el("div", { class: "info" });
    tile.append(el("h3", { text: id }), info);
    if (may("supervisor")) {
      const picker = reasonPicker("manual", "why");
      const toggle = el("button", { "data-action": "manual" });
      toggle.addEventListener("click", () => {
        const manual = tile.getAttribute("data-state") !== "manual";
        act(`/api/lanes/${encodeURIComponent(id)}/manual`, { manual, reason: picker.value });
      });
      tile.append(el("div", { class: "actions" }, picker, toggle));
    }
    $("lanes").append(tile);
    return tile;
  }

  function renderLane(lane) {
    const tile = document.querySelector(`.tile[data-lane="${CSS.escape(lane.id)}"]`) || laneTile(lane.id);
    tile.setAttribute("data-state", lane.state);
    tile.setAttribute("data-crossings", lane.crossings);
    const offline = Object.entries(lane.devices).filter(([, up]) => !up).map(([r]) => r);
    const last = lane.last;
    const info = tile.querySelector(".info");
    info.replaceChildren(
      el("p", { class: "lane-state", text: lane.state }),
      el("p", { class: "flow", text: `${lane.flow || "lane"} · ${lane.crossings} crossings` }),
      el("p", { class: "last" }, last
        ? el("span", { class: "outcome " + last.outcome, text: last.outcome }) : "no decision yet",
        last ? ` ${last.latency_ms.toFixed(0)} ms${last.officer ? " · officer " + last.officer : ""} · ${clock(last.t_wall)}` : ""),
      el("p", { class: offline.length ? "devices bad" : "devices" },
        offline.length ? "offline: " + offline.join(", ") : `${Object.keys(lane.devices).length} devices online`),
      el("p", { class: lane.open_faults ? "faults bad" : "faults",
        text: `faults ${lane.faults}${lane.open_faults ? ` · ${lane.open_faults} open` : ""}` }),
    );
    const toggle = tile.querySelector('[data-action="manual"]');
    if (toggle) toggle.textContent = lane.state === "manual" ? "Back to automatic" : "Take to manual";
  }

  // -- referrals ----------------------------------------------------------------------------
  // an evidence summary as text: "key value" pairs; a nested map in brackets, a list joined by "/"
  function summaryText(value) {
    if (typeof value === "number") return String(+value.toFixed(3));
    if (Array.isArray(value)) return value.map(summaryText).join("/");
    if (value !== null && typeof value === "object") {
      return Object.entries(value).map(([k, v]) => {
        const text = summaryText(v);
        return v !== null && typeof v === "object" && !Array.isArray(v) ? `${k} [${text}]` : `${k} ${text}`;
      }).join(", ");
    }
    return String(value);
  }

  function evidenceTable(referral) {
    const rows = referral.evidence.map((ev) => el("tr", {},
      el("td", { text: ev.source }), el("td", { class: "outcome " + (ev.outcome || "none"), text: ev.outcome || "-" }),
      el("td", { text: ev.confidence.toFixed(2) }), el("td", { text: ev.reason || "" }),
      el("td", { text: ev.elapsed_ms.toFixed(0) + " ms" }),
      el("td", { text: summaryText(ev.summary) })));
    for (const source of referral.missing) {
      rows.push(el("tr", { class: "missing" }, el("td", { text: source }), el("td", { colSpan: 5, text: "missing or late" })));
    }
    return el("table", { class: "evidence" }, el("tbody", {}, ...rows));
  }

  function referralCard(referral) {
    const card = el("article", { class: "referral", "data-lane": referral.lane, "data-txn": referral.txn },
      el("h3", { text: `${referral.lane}` }, el("span", { class: "txn", text: " crossing " + short(referral.txn) })),
      el("p", { class: "why", text: referral.reasons.join("; ") || "referred" }),
      el("p", { class: "left", "data-deadline": referral.deadline }),
      evidenceTable(referral));
    if (may("officer")) {
      const pass = reasonPicker("pass", "why pass");
      const deny = reasonPicker("deny", "why deny");
      const go = (outcome, picker) => () => act(`/api/lanes/${encodeURIComponent(referral.lane)}/resolve`,
        { txn: referral.txn, outcome, reason: picker.value });
      card.append(el("div", { class: "actions" },
        el("div", {}, pass, el("button", { class: "pass", "data-action": "pass", text: "Pass", onclick: go("pass", pass) })),
        el("div", {}, deny, el("button", { class: "deny", "data-action": "deny", text: "Deny", onclick: go("deny", deny) }))));
    }
    return card;
  }

  function renderReferrals() {
    const box = $("referrals");
    const keep = new Map([...box.children].map((c) => [c.getAttribute("data-txn"), c]));
    box.replaceChildren(...state.referrals.map((r) => keep.get(r.txn) || referralCard(r)));
    $("queue-count").textContent = state.referrals.length;
    $("queue-empty").hidden = state.referrals.length > 0;
    countdown();
  }

  function countdown() {
    for (const left of document.querySelectorAll("[data-deadline]")) {
      const s = Math.max(0, Math.round(+left.getAttribute("data-deadline") - Date.now() / 1000));
      left.textContent = `waiting · ${s} s left`;
    }
  }

  // -- faults -------------------------------------------------------------------------------
  function renderFaults() {
    $("fault-count").textContent = state.faults.length;
    $("faults").replaceChildren(...state.faults.slice(-20).reverse().map((f) => {
      const card = el("article", { class: "fault", "data-fault": f.id, "data-lane": f.lane },
        el("p", {}, el("strong", { text: `${f.lane} · ${f.fault}` }), ` ${clock(f.t_wall)}`),
        el("p", { class: "message", text: f.message }));
      if (may("officer")) {
        const picker = reasonPicker("ack", "why");
        card.append(el("div", { class: "actions" }, picker, el("button", {
          "data-action": "ack", text: "Acknowledge",
          onclick: () => act(`/api/faults/${encodeURIComponent(f.id)}/ack`, { reason: picker.value }),
        })));
      }
      return card;
    }));
  }

  // -- history ------------------------------------------------------------------------------
  function detail(e) {
    if (e.kind === "decision") {
      return `${e.outcome.toUpperCase()} ${e.latency_ms.toFixed(0)} ms${e.officer ? " by " + e.officer : ""}` +
        (e.reasons.length ? " - " + e.reasons.join("; ") : "") + (e.missing.length ? ` (missing: ${e.missing.join(", ")})` : "");
    }
    if (e.kind === "fault") return `${e.fault}: ${e.message}`;
    if (e.kind === "state") return `${e.old} -> ${e.new}${e.officer ? " by " + e.officer : ""} (${e.reason})`;
    return `${e.event.replace(/_/g, " ")}${e.officer ? " - " + e.officer : ""}${e.reason ? " (" + e.reason + ")" : ""}`;
  }

  function shown(e) {
    const lane = $("f-lane").value;
    const kind = $("f-kind").value;
    const outcome = $("f-outcome").value;
    return (!lane || e.lane === lane) && (!kind || e.kind === kind) && (!outcome || e.outcome === outcome) &&
      (!$("f-officer").checked || !!e.officer);
  }

  function row(e) {
    return el("tr", { class: "ev " + e.kind + (e.outcome ? " " + e.outcome : ""), "data-kind": e.kind },
      el("td", { text: clock(e.t_wall) }), el("td", { text: e.lane || "site" }),
      el("td", { text: e.kind === "decision" ? e.outcome : e.kind === "officer" ? "console" : e.kind }),
      el("td", { text: detail(e) }));
  }

  function renderHistory(fresh) {
    const body = $("events");
    if (!fresh) { body.replaceChildren(...state.events.filter(shown).reverse().slice(0, KEEP).map(row)); return; }
    for (const e of fresh) if (shown(e)) body.prepend(row(e));
    while (body.children.length > KEEP) body.lastChild.remove();
  }

  function laneFilter() {
    const select = $("f-lane");
    const known = new Set([...select.options].map((o) => o.value));
    for (const id of Object.keys(state.lanes)) if (!known.has(id)) select.append(el("option", { value: id, text: id }));
  }

  // -- the stream ---------------------------------------------------------------------------
  function apply(msg) {
    if (msg.type === "snapshot") {
      state.reasons = msg.reasons;
      state.lanes = msg.lanes;
      state.events = msg.events;
      $("lanes").replaceChildren();
      $("referrals").replaceChildren();
    } else {
      Object.assign(state.lanes, msg.lanes);
      state.events.push(...msg.events);
      state.events.splice(0, Math.max(0, state.events.length - 2 * KEEP));
    }
    for (const lane of Object.values(msg.lanes)) renderLane(lane);
    if (msg.referrals) { state.referrals = msg.referrals; renderReferrals(); }
    if (msg.faults) { state.faults = msg.faults; renderFaults(); }
    laneFilter();
    renderHistory(msg.type === "snapshot" ? null : msg.events);
    document.body.setAttribute("data-updated", String(msg.t_wall));
  }

  function connect() {
    const source = new EventSource("/api/stream");
    source.onopen = () => { $("link").textContent = "live"; $("link").className = "link up"; };
    source.onerror = () => {
      $("link").textContent = "reconnecting";
      $("link").className = "link down";
      if (source.readyState === EventSource.CLOSED) { // refused (the session ended): log in again, or retry
        fetch("/api/me", { credentials: "same-origin" }).then((r) => {
          if (r.status === 401) location.href = "/login"; else setTimeout(connect, 2000);
        }, () => setTimeout(connect, 2000));
      }
    };
    source.onmessage = (m) => apply(JSON.parse(m.data));
    source.addEventListener("expired", () => { source.close(); location.href = "/login"; });
  }

  for (const id of ["f-lane", "f-kind", "f-outcome", "f-officer"]) $(id).addEventListener("change", () => renderHistory(null));
  setInterval(countdown, 1000);
  connect();
})();
