(async function () {
  const api = document.getElementById("api");
  const tags = document.getElementById("tags");
  function el(name, text, cls) {
    const node = document.createElement(name);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  let doc;
  try { doc = await (await fetch("/openapi.json")).json(); }
  catch (e) { api.textContent = "The document could not be loaded: " + e.message; return; }
  function resolve(schema) {
    if (!schema || !schema.$ref) return schema;
    const name = schema.$ref.split("/").pop();
    return (doc.components && doc.components.schemas && doc.components.schemas[name]) || schema;
  }
  function schemaBlock(schema) {
    const pre = el("pre", JSON.stringify(resolve(schema), null, 2), "mono");
    return pre;
  }
  const groups = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!["get", "put", "post", "delete", "patch"].includes(method)) continue;
      const tag = (op.tags && op.tags[0]) || "Other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push({ path, method, op });
    }
  }
  api.textContent = "";
  // In the document's order of tags (the API first, the consoles and seed routes last).
  const order = (doc.tags || []).map(t => t.name);
  const rank = tag => (order.indexOf(tag) + 1) || order.length + 1;
  for (const [tag, ops] of [...groups].sort((a, b) => rank(a[0]) - rank(b[0]))) {
    const id = "tag-" + tag.toLowerCase().replace(/[^a-z0-9]+/g, "-");
    const link = el("a", tag); link.href = "#" + id; tags.appendChild(link); tags.appendChild(document.createTextNode(" "));
    const section = el("section"); section.id = id;
    section.appendChild(el("h2", tag));
    for (const { path, method, op } of ops) {
      const details = el("details", undefined, "operation");
      const summary = el("summary");
      summary.appendChild(el("span", method.toUpperCase(), "method " + method));
      summary.appendChild(el("code", " " + path + " ", "mono"));
      summary.appendChild(el("span", op.summary || "", "muted"));
      if (op["x-seed"]) summary.appendChild(el("span", " seed route", "status stopped"));
      details.appendChild(summary);
      if (op.description) details.appendChild(el("p", op.description));
      const security = (op.security || doc.security || []).map(s => Object.keys(s).join(" + ")).filter(Boolean);
      details.appendChild(el("p", "Auth: " + (security.length ? security.join(" or ") : "none"), "muted"));
      if (op.parameters && op.parameters.length) {
        const table = el("table"); const head = el("tr");
        for (const h of ["Parameter", "In", "Required", "Schema", "Description"]) head.appendChild(el("th", h));
        table.appendChild(head);
        for (const p of op.parameters) {
          const row = el("tr");
          for (const v of [p.name, p.in, p.required ? "yes" : "no", JSON.stringify(p.schema || {}), p.description || ""]) row.appendChild(el("td", v));
          table.appendChild(row);
        }
        details.appendChild(table);
      }
      const body = op.requestBody && op.requestBody.content;
      if (body) {
        for (const [type, media] of Object.entries(body)) {
          details.appendChild(el("h3", "Request body (" + type + ")"));
          details.appendChild(schemaBlock(media.schema));
        }
      }
      details.appendChild(el("h3", "Responses"));
      for (const [status, response] of Object.entries(op.responses || {})) {
        const resolved = response.$ref ? doc.components.responses[response.$ref.split("/").pop()] : response;
        details.appendChild(el("p", status + " — " + ((resolved && resolved.description) || "")));
        const content = resolved && resolved.content;
        if (content) for (const media of Object.values(content)) if (media.schema) details.appendChild(schemaBlock(media.schema));
      }
      section.appendChild(details);
    }
    api.appendChild(section);
  }
  if (doc.webhooks) {
    const section = el("section"); section.id = "tag-webhooks";
    section.appendChild(el("h2", "Webhook events (sent to your URL)"));
    const link = el("a", "Webhook events"); link.href = "#tag-webhooks"; tags.appendChild(link);
    for (const [name, item] of Object.entries(doc.webhooks)) {
      const op = item.post || {};
      const details = el("details", undefined, "operation");
      const summary = el("summary"); summary.appendChild(el("code", name, "mono"));
      summary.appendChild(el("span", " " + (op.summary || ""), "muted"));
      details.appendChild(summary);
      if (op.description) details.appendChild(el("p", op.description));
      const content = op.requestBody && op.requestBody.content;
      if (content) for (const media of Object.values(content)) details.appendChild(schemaBlock(media.schema));
      section.appendChild(details);
    }
    api.appendChild(section);
  }
})();
