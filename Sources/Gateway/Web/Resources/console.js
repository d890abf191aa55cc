"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf, "Accept": "application/json" } };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
    if (!response.ok) {
      const detail = (data && (data.detail || data.title)) || ("HTTP " + response.status);
      throw new Error(detail);
    }
    return data;
  }

  function setPath(target, path, value) {
    const parts = path.split(".");
    let node = target;
    for (const part of parts.slice(0, -1)) { node = node[part] = node[part] || {}; }
    node[parts[parts.length - 1]] = value;
  }

  // Turns a form's fields into the JSON body; `data-type` says how to read a field, and
  // `{name}` in the form's URL takes that field's value out of the body.
  function collect(form) {
    const body = {};
    let url = form.dataset.api;
    for (const field of form.elements) {
      if (!field.name || field.name === "_csrf" || field.disabled) continue;
      const type = field.dataset.type || "string";
      let value;
      if (field.type === "checkbox") value = field.checked;
      else {
        const raw = field.value.trim();
        if (raw === "") { if (field.dataset.empty !== undefined) setPath(body, field.name, JSON.parse(field.dataset.empty)); continue; }
        if (type === "int") value = parseInt(raw, 10);
        else if (type === "number") value = parseFloat(raw);
        else if (type === "json") { try { value = JSON.parse(raw); } catch (e) { throw new Error("field '" + field.name + "' is not valid JSON: " + e.message); } }
        else if (type === "list") value = raw.split(",").map((s) => s.trim()).filter((s) => s);
        else if (type === "datetime") value = new Date(raw.endsWith("Z") ? raw : raw + "Z").toISOString();
        else value = field.value;
      }
      if (url.includes("{" + field.name + "}")) { url = url.replace("{" + field.name + "}", encodeURIComponent(value)); continue; }
      setPath(body, field.name, value);
    }
    return { url, body };
  }

  function alertBox(form) {
    let box = form.querySelector('[role="alert"]');
    if (!box) { box = document.createElement("p"); box.setAttribute("role", "alert"); form.appendChild(box); }
    return box;
  }

  function show(form, text) {
    const target = document.querySelector(form.dataset.show);
    if (target) { target.textContent = text; target.hidden = false; }
  }

  async function watchDelivery(form, id) {
    for (let i = 0; i < 30; i++) {
      const detail = await api("GET", "/v1/deliveries/" + id);
      const delivery = detail.delivery;
      if (delivery.status === "delivered") { show(form, "Delivered: HTTP " + delivery.lastStatus + " (delivery " + id + ")"); return; }
      if (delivery.attempts > 0 && delivery.status !== "inflight") {
        show(form, "Not delivered (" + delivery.status + "): " + (delivery.lastError || ("HTTP " + delivery.lastStatus)) + " (delivery " + id + ")");
        return;
      }
      show(form, "Sending… (delivery " + id + ")");
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  async function submit(form) {
    const box = alertBox(form);
    box.textContent = "";
    const method = (form.dataset.method || "POST").toUpperCase();
    const { url, body } = collect(form);
    const payload = method === "GET" || method === "DELETE" ? undefined : body;
    if (form.dataset.count) {
      const preview = await api(method, url, Object.assign({}, body, { dryRun: true }));
      if (!confirm(form.dataset.count.replace("{count}", preview.count))) return;
    } else if (form.dataset.confirm && !confirm(form.dataset.confirm)) {
      return;
    }
    const result = await api(method, url, payload);
    const then = form.dataset.then || "reload";
    if (then === "show") show(form, form.dataset.message || (form.dataset.field ? result[form.dataset.field] : JSON.stringify(result, null, 2)));
    else if (then === "count") show(form, (form.dataset.done || "{count} rows").replace("{count}", result.count));
    else if (then === "watch") await watchDelivery(form, result.deliveryId);
    else if (then.startsWith("go:")) location.assign(then.slice(3).replace("{id}", encodeURIComponent(result ? result.id : "")));
    else location.reload();
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches("form[data-api]")) return;
    event.preventDefault();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    submit(form)
      .catch((error) => { alertBox(form).textContent = error.message; })
      .finally(() => { if (button) button.disabled = false; });
  });

  // Linking: poll the session, redraw the QR code when it changes, stop once connected.
  for (const panel of document.querySelectorAll("[data-live-session]")) {
    const id = panel.dataset.liveSession;
    let lastQR = panel.dataset.qr || "";
    const poll = async () => {
      let session;
      try { session = await api("GET", "/v1/sessions/" + encodeURIComponent(id)); }
      catch (e) { panel.querySelector("[data-field=error]").textContent = e.message; return setTimeout(poll, 3000); }
      for (const field of ["status", "phone", "pushName", "statusDetail"]) {
        const el = panel.querySelector("[data-field=" + field + "]");
        if (el) { el.textContent = session[field] || ""; if (field === "status") el.className = "status " + session.status; }
      }
      const qr = panel.querySelector(".qr");
      const image = panel.querySelector(".qr img");
      const code = panel.querySelector(".pairing-code");
      if (session.qr && session.qr !== lastQR) {
        lastQR = session.qr;
        image.src = "/v1/sessions/" + encodeURIComponent(id) + "/qr.svg?v=" + Date.now();
      }
      qr.hidden = !session.qr && !session.pairingCode;
      image.hidden = !session.qr;
      code.textContent = session.pairingCode || "";
      if (session.status !== "connected") setTimeout(poll, 1500);
    };
    poll();
  }

  // Events: the tenant's stream, newest first. EventSource reconnects by itself and sends
  // Last-Event-ID, so a dropped connection resumes where it stopped. Values go in as text only.
  for (const panel of document.querySelectorAll("[data-live-events]")) {
    const types = panel.dataset.types.split(",");
    const status = panel.querySelector("#stream-status");
    const body = panel.querySelector("#live-events tbody");
    const form = panel.querySelector("#events-filter");
    let source;
    const state = (text, css) => { status.textContent = text; status.className = "status " + css; };
    const show = (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      const empty = body.querySelector("tr.empty");
      if (empty) empty.remove();
      const data = event.data || {};
      const summary = data.text || data.status || data.reason || data.type || "";
      const row = document.createElement("tr");
      row.dataset.event = event.id;
      const cells = [new Date(event.timestamp).toLocaleTimeString(), event.type, event.session ? event.session.name : "—",
        String(summary).slice(0, 200), event.id];
      for (const value of cells) { const cell = row.insertCell(); cell.textContent = value; }
      row.cells[4].className = "mono";
      body.insertBefore(row, body.firstChild);
      while (body.rows.length > 200) body.deleteRow(body.rows.length - 1);
    };
    const open = () => {
      if (source) source.close();
      const query = new URLSearchParams();
      if (form.elements.sessionId.value) query.set("sessionId", form.elements.sessionId.value);
      if (form.elements.types.value.trim()) query.set("types", form.elements.types.value.trim());
      source = new EventSource("/v1/events/stream" + (query.toString() ? "?" + query : ""));
      state("connecting", "starting");
      source.onopen = () => state("live", "connected");
      source.onerror = () => state("reconnecting", "disconnected");
      for (const type of types) source.addEventListener(type, show);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      while (body.rows.length) body.deleteRow(0);
      open();
    });
    open();
  }
})();
