import Hummingbird

/// The consoles' stylesheet and script, compiled into the binary (one file to deploy, no build
/// step). Both are served from `/assets/` so the pages' Content-Security-Policy can forbid
/// every inline script and style.
enum ConsoleAssets {
    static func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/assets/console.css") { _, _ in asset(css, type: "text/css; charset=utf-8") }
        router.get("/assets/console.js") { _, _ in asset(script, type: "text/javascript; charset=utf-8") }
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: type, .cacheControl: "public, max-age=300", Console.cspHeader: Console.contentSecurityPolicy],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let css = """
        :root { --ink:#17202a; --muted:#5d6d7e; --line:#d5dbe1; --accent:#0b6e4f; --bad:#b03a2e; --warn:#9a6700; --bg:#f7f9fa; }
        * { box-sizing: border-box; }
        body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--ink); background:var(--bg); }
        header { display:flex; gap:1.2rem; align-items:center; padding:.6rem 1.2rem; background:#fff; border-bottom:1px solid var(--line); flex-wrap:wrap; }
        header .brand { font-weight:700; color:var(--accent); text-decoration:none; font-size:1.1rem; }
        header .role { color:var(--muted); }
        header nav { display:flex; gap:.9rem; flex:1; flex-wrap:wrap; }
        header nav a { color:var(--ink); text-decoration:none; padding:.2rem 0; }
        header nav a[aria-current] { border-bottom:2px solid var(--accent); font-weight:600; }
        main { max-width:1200px; margin:0 auto; padding:1rem 1.2rem 3rem; }
        h1 { font-size:1.5rem; margin:.6rem 0 1rem; } h2 { font-size:1.15rem; margin:1.6rem 0 .6rem; }
        section, .card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:.9rem 1rem; margin:0 0 1rem; }
        .cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(190px, 1fr)); gap:.8rem; margin-bottom:1rem; }
        .card .figure { font-size:1.6rem; font-weight:600; } .card .label { color:var(--muted); }
        table { border-collapse:collapse; width:100%; background:#fff; }
        th, td { text-align:left; padding:.4rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
        th { font-weight:600; color:var(--muted); font-size:.85rem; }
        td.actions { white-space:nowrap; } td.actions form { display:inline; }
        form.stack { display:grid; gap:.55rem; max-width:560px; }
        form.inline { display:inline-flex; gap:.5rem; flex-wrap:wrap; align-items:end; margin:0 .4rem .4rem 0; vertical-align:bottom; }
        form.stack button { justify-self:start; }
        label { display:grid; gap:.15rem; font-size:.9rem; color:var(--muted); }
        label.check { display:flex; gap:.4rem; align-items:center; color:var(--ink); }
        input, select, textarea, button { font:inherit; }
        input, select, textarea { padding:.35rem .45rem; border:1px solid var(--line); border-radius:4px; background:#fff; color:var(--ink); }
        textarea { min-height:5rem; }
        button { padding:.35rem .8rem; border-radius:4px; border:1px solid var(--accent); background:var(--accent); color:#fff; cursor:pointer; }
        button.secondary { background:#fff; color:var(--accent); }
        button.danger { background:#fff; color:var(--bad); border-color:var(--bad); }
        pre { background:#0f1720; color:#e5ecf2; padding:.8rem; border-radius:6px; overflow:auto; max-height:32rem; font-size:.85rem; }
        code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size:.88em; overflow-wrap:anywhere; }
        .status { display:inline-block; padding:.05rem .45rem; border-radius:999px; font-size:.8rem; background:#e8edf1; }
        .status.delivered, .status.connected, .status.sent, .status.closed { background:#d8f0e3; color:#0b5a3f; }
        .status.failed, .status.open, .status.disabled, .status.logged_out, .status.discarded, .status.disconnected { background:#f6dcd9; color:#8c2a20; }
        .status.pending, .status.scan_qr, .status.pairing_code, .status.queued, .status.sending, .status.half_open, .status.starting { background:#fbf0d0; color:#6d4c00; }
        [role=alert] { color:var(--bad); margin:.3rem 0; } [role=alert]:empty, output:empty { display:none; }
        output { display:block; background:#eef6f1; border:1px solid #b9dcc9; padding:.5rem .6rem; border-radius:4px; margin-top:.4rem; overflow-wrap:anywhere; }
        .muted { color:var(--muted); } .bad { color:var(--bad); }
        [hidden] { display:none !important; }
        main.docs { max-width:1100px; margin:0 auto; padding:1.5rem; }
        main.docs details.operation { background:#fff; border:1px solid var(--line); border-radius:6px; margin:.4rem 0; padding:.5rem .8rem; }
        main.docs summary { cursor:pointer; }
        main.docs .method { display:inline-block; min-width:4.2rem; font-weight:600; text-transform:uppercase; }
        nav#tags a { margin-right:.6rem; }
        .qr { display:flex; gap:1.2rem; align-items:center; flex-wrap:wrap; }
        .qr img { width:264px; height:264px; image-rendering:pixelated; background:#fff; border:1px solid var(--line); }
        .pairing-code { font:600 2rem ui-monospace, monospace; letter-spacing:.2rem; }
        .login { max-width:360px; margin:4rem auto; }
        .pager { margin-top:.6rem; }
        """

    /// Forms marked `data-api` are sent to the JSON API with the session's CSRF token; the API's
    /// problem+json detail is shown next to the form. Elements marked `data-live-session` poll a
    /// linking session and redraw its QR code until it connects.
    static let script = #"""
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
        })();
        """#
}
