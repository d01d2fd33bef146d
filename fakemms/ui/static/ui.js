// fakemms web UI: live regions kept fresh from the event stream, and actions that call the
// public control API. No framework, no build step; text goes into the page as text only.
"use strict";

const STREAM = "/_fakemms/api/events";

// --- the control API ---------------------------------------------------------------------
async function api(method, path, body, contentType) {
  // X-Fakemms-UI: with an admin token, a change made with the session cookie must carry it
  const init = {method, headers: {Accept: "application/json", "X-Fakemms-UI": "1"}};
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = contentType || "application/json";
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = text;
  try { data = JSON.parse(text); } catch (e) { /* not JSON: keep the text */ }
  if (!response.ok) {
    const why = data && data.error ? data.error.description : text;
    throw new Error(`${method} ${path}: HTTP ${response.status}: ${why}`);
  }
  return data;
}

function say(message, ok, link) {
  const out = document.getElementById("result");
  out.replaceChildren();
  out.className = "result " + (ok ? "ok" : "bad");
  out.append(document.createTextNode(message));
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    out.append(" ", a);
  }
  out.hidden = false;
}

function summary(method, path, data) {
  if (data && typeof data === "object") {
    if (data.status && data.message_id) return `report ${data.status} for ${data.message_id}`;
    if (data.iso) return `clock ${data.mode}${data.paused ? ", paused" : ""} at ${data.iso}` +
      (data.fired !== undefined ? `; ${data.fired} job(s) fired` : "");
    if (data.scenarios) return `${data.scenarios.length} scenario(s) loaded`;
    if (data.username) return `account ${data.username} saved`;
    if (data.status) return data.status;
  }
  return `${method} ${path}: done`;
}

// --- request bodies from forms -------------------------------------------------------------
function fieldValue(el) {
  if (el.type === "checkbox") return el.checked;
  const raw = el.value.trim();
  if (raw === "") return null;
  if (el.dataset.type === "int") return Number.parseInt(raw, 10);
  if (el.dataset.type === "number") return Number(raw);
  return raw;
}

function jsonBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.type === "file") continue;
    const value = fieldValue(el);
    if (value === null && !("nulls" in form.dataset)) continue;
    body[el.name] = value;
  }
  return body;
}

function readFile(file, asText) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    if (asText) reader.readAsText(file); else reader.readAsDataURL(file);
  });
}

async function moBody(form) {
  const f = form.elements;
  const body = {account: f.account.value, destination: f.destination.value.trim()};
  if (f.source.value.trim()) body.source = f.source.value.trim();
  if (f.subject.value !== "") body.subject = f.subject.value;
  if (f.format.value) body.format = f.format.value;
  const parts = [];
  if (f.text.value !== "") parts.push({content_type: "text/plain; charset=utf-8", text: f.text.value, content_id: "text.txt"});
  for (const file of f.attachment.files) {
    const url = await readFile(file, false);
    parts.push({content_type: file.type || "application/octet-stream",
                base64: url.slice(url.indexOf(",") + 1), content_id: file.name});
  }
  if (parts.length) body.parts = parts;
  return body;
}

async function submit(form, submitter) {
  const [defaultMethod, path] = form.dataset.api.split(" ");
  const method = (submitter && submitter.dataset.method) || defaultMethod;
  let data;
  if ("mo" in form.dataset) {
    data = await api(method, path, await moBody(form));
    const href = `/_fakemms/ui/messages/${encodeURIComponent(data.id)}`;
    say(`MO ${data.id} sent.`, true, {href, text: "Open it"});
  } else if (form.dataset.raw) {
    data = await api(method, path, form.elements[form.dataset.raw].value, "application/yaml");
    say(summary(method, path, data), true);
  } else {
    data = await api(method, path, jsonBody(form));
    say(summary(method, path, data), true);
  }
  return data;
}

// --- live regions ------------------------------------------------------------------------
let refreshing = null;
let again = false;

async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = (async () => {
    try {
      const response = await fetch(location.href, {headers: {Accept: "text/html"}});
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const fresh of doc.querySelectorAll("[data-live][id]")) {
        const old = document.getElementById(fresh.id);
        if (!old) continue;
        const seen = new Set([...old.querySelectorAll("[data-id]")].map((e) => e.dataset.id));
        const node = document.importNode(fresh, true);
        for (const row of node.querySelectorAll("[data-id]")) {
          if (!seen.has(row.dataset.id)) row.classList.add("new");  // what just arrived
        }
        old.replaceWith(node);
      }
      if (response.status === 404) say("This message is gone (a reset, or evicted).", false);
    } catch (e) {
      /* the stream reconnects and refreshes again */
    }
  })();
  await refreshing;
  refreshing = null;
  if (again) { again = false; refresh(); }
}

let timer = null;
function soon() {
  if (timer === null) timer = setTimeout(() => { timer = null; refresh(); }, 150);
}

function concerns(event) {
  const id = document.body.dataset.messageId;
  if (!id) return true;
  let data = {};
  try { data = JSON.parse(event.data).data || {}; } catch (e) { return true; }
  return data.message_id === id || data.id === id || event.type === "reset" ||
    event.type === "clock";
}

function listen() {
  const state = document.getElementById("live-state");
  const source = new EventSource(STREAM);  // one stream per page: each holds a server thread
  source.onopen = () => { state.textContent = "live"; state.className = "live-state on"; soon(); };
  source.onerror = () => { state.textContent = "reconnecting"; state.className = "live-state off"; };
  const kinds = ["message", "message.cancelled", "message.replaced", "message.withdrawn", "report", "callback.created",
                 "callback.attempt", "callback.delivered", "callback.failed", "clock", "reset",
                 "account"];
  for (const kind of kinds) source.addEventListener(kind, (e) => { if (concerns(e)) soon(); });
  window.addEventListener("pagehide", () => source.close());
}

// --- wiring ------------------------------------------------------------------------------
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.dataset.api) return;
  event.preventDefault();
  const button = event.submitter;
  if (button) button.disabled = true;
  try {
    await submit(form, button);
    await refresh();
  } catch (e) {
    say(e.message, false);
  } finally {
    if (button) button.disabled = false;
  }
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-call]");
  if (!button) return;
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  const [method, path] = button.dataset.call.split(" ");
  button.disabled = true;
  try {
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    say(summary(method, path, await api(method, path, body)), true);
    await refresh();
  } catch (e) {
    say(e.message, false);
  } finally {
    button.disabled = false;
  }
});

document.addEventListener("change", async (event) => {
  const input = event.target;
  if (!input.dataset || !input.dataset.fills || !input.files.length) return;
  document.getElementById(input.dataset.fills).value = await readFile(input.files[0], true);
});

// An image part that does not decode says so (a handset would show a broken picture).
function broken(img) {
  const note = document.createElement("p");
  note.className = "warn";
  note.textContent = "this image does not decode";
  img.replaceWith(note);
}
document.addEventListener("error", (event) => {
  if (event.target instanceof HTMLImageElement && event.target.classList.contains("part-image")) {
    broken(event.target);
  }
}, true);
for (const img of document.querySelectorAll("img.part-image")) {  // failed before this ran
  if (img.complete && img.naturalWidth === 0) broken(img);
}

listen();
