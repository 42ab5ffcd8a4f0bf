// quecemu's web page: the embedded LwM2M server through its Leshan-style REST API and events.
// Plain JavaScript, no framework: clients come live from /api/event, object forms from
// /api/objectspecs (the server's object definitions).
"use strict";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
const state = { clients: new Map(), specs: new Map(), selected: null, observed: new Set(),
  coapStream: null };
const $ = (selector) => document.querySelector(selector);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(method, path, body, query = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query)) if (value) url.searchParams.set(name, value);
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(url, { method, headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await answer.text();
  let data = text;
  if ((answer.headers.get("Content-Type") || "").startsWith("application/json")) {
    data = JSON.parse(text);
  }
  return { status: answer.status, data };
}

function clientPath(endpoint, path, suffix = "") {
  return `/api/clients/${encodeURIComponent(endpoint)}${path}${suffix}`;
}

function log(list, text, bad = false) {
  const when = new Date().toLocaleTimeString();
  const item = element("li", { class: bad ? "bad" : "" }, element("time", {}, when), text);
  const target = $(list);
  target.prepend(item);
  while (target.children.length > 200) target.lastChild.remove();
}

// ---------------------------------------------------------------------------- values
function showValue(node) {
  if (!node) return "";
  const one = (value) => {
    if (node.type === "TIME") {
      const seconds = Math.floor(Number(value) / 1000);
      return `${seconds} (${new Date(Number(value)).toISOString().replace(".000", "")})`;
    }
    if (node.type === "OBJLNK") return `${value.objectId}:${value.objectInstanceId}`;
    return String(value);
  };
  if (node.values) {
    return Object.entries(node.values).map(([id, value]) => `[${id}] ${one(value)}`).join("  ");
  }
  return one(node.value);
}

function typedValue(type, text) {
  // Leshan 2.x JSON: integers and floats as text, Time in epoch milliseconds.
  switch (type) {
    case "BOOLEAN": return ["1", "true", "yes", "on"].includes(text.trim().toLowerCase());
    case "TIME": {
      const seconds = /^\d+$/.test(text.trim()) ? Number(text) : Date.parse(text) / 1000;
      if (Number.isNaN(seconds)) throw new Error(`${text} is not a time (seconds or ISO date)`);
      return Math.floor(seconds) * 1000;
    }
    case "OBJLNK": {
      const [objectId, objectInstanceId] = text.split(":").map(Number);
      return { objectId, objectInstanceId };
    }
    default: return text;
  }
}

function resultText(operation, path, answer) {
  if (answer.status !== 200) return [`${operation} ${path}: HTTP ${answer.status} ${answer.data}`, true];
  const data = answer.data;
  if (data.delayed) return [`${operation} ${path}: delayed (client sleeping)`, false];
  const detail = data.errormessage ? ` ${data.errormessage}` : "";
  return [`${operation} ${path}: ${data.status}${detail}`, !!data.failure];
}

// ---------------------------------------------------------------------------- clients
function renderClients() {
  const list = $("#clients");
  list.replaceChildren();
  for (const [endpoint, client] of [...state.clients].sort()) {
    const badge = client.sleeping ? "sleeping" : (client.secure ? "dtls" : "");
    const item = element("li", { "data-endpoint": endpoint,
      class: endpoint === state.selected ? "selected" : "",
      onclick: () => select(endpoint) }, element("span", { class: "badge" }, badge), endpoint);
    list.append(item);
  }
  $("#client-count").textContent = String(state.clients.size);
  if (state.selected && !state.clients.has(state.selected)) select(null);
}

function select(endpoint) {
  state.selected = endpoint;
  state.observed.clear();
  renderClients();
  $("#no-client").hidden = !!endpoint;
  $("#client-view").hidden = !endpoint;
  followCoapLog(endpoint);
  if (endpoint) renderClient(state.clients.get(endpoint));
}

function instancesOf(client) {
  const objects = new Map();
  for (const link of client.objectLinks || []) {
    const parts = link.url.split("/").filter(Boolean).map(Number);
    if (parts.length === 0 || parts.some(Number.isNaN)) continue;
    if (!objects.has(parts[0])) objects.set(parts[0], []);
    if (parts.length > 1) objects.get(parts[0]).push(parts[1]);
  }
  return objects;
}

function renderClient(client) {
  $("#client-name").textContent = client.endpoint;
  $("#client-info").textContent = `LwM2M ${client.lwM2mVersion} · lifetime ${client.lifetime} s` +
    ` · binding ${client.bindingMode.join("")}${client.queuemode ? " (queue)" : ""}` +
    ` · ${client.address} · ${client.secure ? "DTLS" : "no security"}`;
  const container = $("#objects");
  container.replaceChildren();
  for (const [objectId, instances] of [...instancesOf(client)].sort((a, b) => a[0] - b[0])) {
    const spec = state.specs.get(objectId);
    const title = spec ? `${spec.name} (/${objectId})` : `Object /${objectId}`;
    container.append(element("h3", {}, title));
    for (const instanceId of instances) container.append(renderInstance(client, objectId, instanceId, spec));
  }
}

function renderInstance(client, objectId, instanceId, spec) {
  const base = `/${objectId}/${instanceId}`;
  const box = element("div", { class: "instance", "data-path": base });
  box.append(element("div", { class: "instance-ops" }, `Instance ${base} `,
    element("button", { class: "read", onclick: () => read(base) }, "Read"), " ",
    element("button", { class: "discover", onclick: () => discover(base) }, "Discover")));
  const rows = element("tbody");
  for (const resource of spec ? spec.resourcedefs : []) {
    const path = `${base}/${resource.id}`;
    const ops = element("td", { class: "ops" });
    if (resource.operations.includes("R")) {
      ops.append(element("button", { class: "read", title: "Read", onclick: () => read(path) }, "R"), " ");
      ops.append(element("button", { class: "observe", title: "Observe / cancel",
        onclick: (event) => toggleObserve(path, event.target) }, "Obs"), " ");
    }
    if (resource.operations.includes("W")) {
      const input = element("input", { class: "write-value", placeholder: resource.type.toLowerCase() });
      ops.append(input, " ", element("button", { class: "write", title: "Write",
        onclick: () => write(path, resource, input.value) }, "W"), " ");
    }
    if (resource.operations.includes("E")) {
      ops.append(element("button", { class: "execute", title: "Execute",
        onclick: () => execute(path) }, "Exec"), " ");
    }
    ops.append(element("button", { class: "discover", title: "Discover",
      onclick: () => discover(path) }, "D"));
    rows.append(element("tr", { "data-path": path },
      element("td", {}, String(resource.id)),
      element("td", { title: resource.description }, resource.name),
      element("td", {}, resource.type.toLowerCase() + (resource.instancetype === "multiple" ? "[]" : "")),
      element("td", { class: "value" }),
      ops));
  }
  box.append(element("table", {}, element("thead", {}, element("tr", {},
    element("th", {}, "id"), element("th", {}, "resource"), element("th", {}, "type"),
    element("th", {}, "value"), element("th", {}, "operations"))), rows));
  return box;
}

function showContent(path, content) {
  const place = (resourcePath, node) => {
    const cell = document.querySelector(`tr[data-path="${resourcePath}"] td.value`);
    if (cell) { cell.textContent = showValue(node); cell.classList.remove("error"); }
  };
  if (!content) return;
  if (content.kind === "obj") {
    for (const instance of content.instances) showContent(`${path}/${instance.id}`, instance);
  } else if (content.kind === "instance") {
    const base = path.split("/").length === 2 ? `${path}/${content.id}` : path;
    for (const resource of content.resources) place(`${base}/${resource.id}`, resource);
  } else {
    place(path, content);
  }
}

function showError(path, text) {
  const cell = document.querySelector(`tr[data-path="${path}"] td.value`);
  if (cell) { cell.textContent = text; cell.classList.add("error"); }
}

// ---------------------------------------------------------------------------- operations
async function run(operation, path, call) {
  try {
    const answer = await call();
    const [text, bad] = resultText(operation, path, answer);
    log("#results", text, bad);
    if (bad) showError(path, text);
    return answer;
  } catch (error) {
    log("#results", `${operation} ${path}: ${error.message}`, true);
    return null;
  }
}

async function read(path) {
  const answer = await run("read", path, () =>
    api("GET", clientPath(state.selected, path), undefined, { format: $("#format").value }));
  if (answer && answer.status === 200 && answer.data.content) showContent(path, answer.data.content);
}

async function write(path, resource, text) {
  const node = { id: resource.id, kind: "singleResource", type: resource.type,
    value: typedValue(resource.type, text) };
  const answer = await run("write", path, () =>
    api("PUT", clientPath(state.selected, path), node, { format: $("#format").value }));
  if (answer && answer.status === 200 && answer.data.success) await read(path);
}

async function execute(path) {
  await run("execute", path, () => api("POST", clientPath(state.selected, path)));
}

async function discover(path) {
  const answer = await run("discover", path, () =>
    api("GET", clientPath(state.selected, path, "/discover")));
  if (answer && answer.status === 200 && answer.data.objectLinks) {
    const links = answer.data.objectLinks.map((link) => `<${link.url}>` +
      Object.entries(link.attributes).map(([k, v]) => (v === null ? `;${k}` : `;${k}=${v}`)).join(""));
    log("#results", `links: ${links.join(",")}`);
  }
}

async function toggleObserve(path, button) {
  if (state.observed.has(path)) {
    await run("cancel observe", path, () =>
      api("DELETE", clientPath(state.selected, path, "/observe"), undefined, { active: "1" }));
    state.observed.delete(path);
    button.classList.remove("observing");
    return;
  }
  const answer = await run("observe", path, () =>
    api("POST", clientPath(state.selected, path, "/observe"), undefined, { format: $("#format").value }));
  if (answer && answer.status === 200 && answer.data.success) {
    state.observed.add(path);
    button.classList.add("observing");
    showContent(path, answer.data.content);
  }
}

// ---------------------------------------------------------------------------- security
async function loadPsks() {
  const answer = await api("GET", "/api/security/clients");
  const body = $("#psks tbody");
  body.replaceChildren();
  if (answer.status !== 200) return;
  for (const entry of answer.data) {
    body.append(element("tr", {}, element("td", {}, entry.endpoint),
      element("td", {}, entry.tls.details.identity),
      element("td", {}, element("button", { onclick: async () => {
        await api("DELETE", `/api/security/clients/${encodeURIComponent(entry.endpoint)}`);
        await loadPsks();
      } }, "Remove"))));
  }
}

$("#psk-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const entry = { endpoint: form.get("endpoint"),
    tls: { mode: "psk", details: { identity: form.get("identity"), key: form.get("key") } } };
  const answer = await api("PUT", "/api/security/clients", entry);
  log("#results", answer.status === 200 ? `PSK set for ${entry.endpoint}`
    : `PSK refused: ${answer.data}`, answer.status !== 200);
  if (answer.status === 200) event.target.reset();
  await loadPsks();
});

// ---------------------------------------------------------------------------- events
function eventUrl(endpoint) {
  const url = new URL("/api/event", location.origin);
  if (endpoint) url.searchParams.set("ep", endpoint);
  if (token) url.searchParams.set("token", token);
  return url;
}

function followEvents() {
  const stream = new EventSource(eventUrl(null));
  const stateLabel = $("#stream-state");
  stream.onopen = async () => {
    stateLabel.textContent = "events: live";
    stateLabel.className = "state on";
    const answer = await api("GET", "/api/clients");  // catch up on what happened meanwhile
    if (answer.status === 200) {
      state.clients = new Map(answer.data.map((client) => [client.endpoint, client]));
      renderClients();
      if (state.selected && state.clients.has(state.selected)) {
        renderClient(state.clients.get(state.selected));
      }
    }
  };
  stream.onerror = () => { stateLabel.textContent = "events: reconnecting"; stateLabel.className = "state off"; };
  const upsert = (client) => {
    state.clients.set(client.endpoint, client);
    renderClients();
    if (client.endpoint === state.selected) renderClient(client);
  };
  stream.addEventListener("REGISTRATION", (event) => upsert(JSON.parse(event.data)));
  stream.addEventListener("UPDATED", (event) => upsert(JSON.parse(event.data).registration));
  stream.addEventListener("DEREGISTRATION", (event) => {
    state.clients.delete(JSON.parse(event.data).endpoint);
    renderClients();
  });
  for (const name of ["SLEEPING", "AWAKE"]) {
    stream.addEventListener(name, (event) => {
      const client = state.clients.get(JSON.parse(event.data).ep);
      if (client) { client.sleeping = name === "SLEEPING"; renderClients(); }
    });
  }
  stream.addEventListener("NOTIFICATION", (event) => {
    const data = JSON.parse(event.data);
    log("#notifications", `${data.ep} ${data.res} = ${data.val ? showValue(data.val) : data.error}`);
    if (data.ep === state.selected && data.val) showContent(data.res, data.val);
  });
  stream.addEventListener("REQUEST_RESPONSE", (event) => {
    const data = JSON.parse(event.data);
    log("#results", `delayed request ${data.requestId} of ${data.ep}: ${data.response.status}`,
      !!data.response.failure);
  });
}

function followCoapLog(endpoint) {
  if (state.coapStream) state.coapStream.close();
  state.coapStream = null;
  $("#coaplog").replaceChildren();
  $("#coap-for").textContent = endpoint || "";
  if (!endpoint) return;
  state.coapStream = new EventSource(eventUrl(endpoint));
  state.coapStream.addEventListener("COAPLOG", (event) => {
    const m = JSON.parse(event.data);
    const arrow = m.incoming ? "←" : "→";
    log("#coaplog", `${arrow} ${m.type} ${m.code} mid=${m.mId} ${m.token ? "token=" + m.token : ""}` +
      ` ${m.options}${m.payload ? " " + m.payload : ""}`);
  });
}

async function start() {
  const specs = await api("GET", "/api/objectspecs");
  if (specs.status === 200) for (const spec of specs.data) state.specs.set(spec.id, spec);
  followEvents();
  await loadPsks();
}

start();
