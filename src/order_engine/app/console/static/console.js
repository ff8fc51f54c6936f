// order-engine console: only the public API (HTTP and WebSocket), no build step, no framework.
"use strict";

const TERMINAL = new Set(["confirmed", "failed", "cancelled", "expired"]);
const CANCELLABLE = new Set(["pending", "waiting", "triggered"]);
const UNDER_WAY = { pending: "queued", waiting: "resting", triggered: "queued", routing: "building the swap",
  building: "sending the swap", submitted: "waiting for confirmation" };
const $ = (id) => document.getElementById(id);
const wsUrl = (path) => (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
const history = {}; // "pair venue" -> last prices, for the chart

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}
const badge = (status) => el("span", { class: `badge st-${status}`, "data-status": status }, status);

// ---- the API ----------------------------------------------------------------------------------------------------
async function api(method, path, body, { admin = false } = {}) {
  const headers = body === undefined ? {} : { "Content-Type": "application/json" };
  const token = sessionStorage.getItem("adminToken");
  if (admin && token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new Error(`cannot reach the engine (${err.message})`);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : (text || response.statusText);
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return data;
}

// ---- the order form ---------------------------------------------------------------------------------------------
const form = $("order-form");
function syncForm() {
  form.dataset.type = form.elements.orderType.value;
  form.dataset.tif = $("timeInForce").value;
}
form.addEventListener("change", syncForm);
syncForm();

function orderBody() {
  const f = form.elements, type = f.orderType.value;
  const body = { tokenIn: f.tokenIn.value.trim(), tokenOut: f.tokenOut.value.trim(), amountIn: f.amountIn.value.trim(), orderType: type };
  if (type !== "limit" && f.slippageBps.value.trim() !== "") body.slippageBps = Number(f.slippageBps.value);
  if (type === "limit") {
    body.limitPrice = f.limitPrice.value.trim();
    body.timeInForce = f.timeInForce.value;
    if (body.timeInForce === "GTD" && f.expiresAt.value) body.expiresAt = new Date(f.expiresAt.value).toISOString();
  }
  if (type === "sniper") body.trigger = { event: "pool_created", venue: f.venue.value, minLiquidity: f.minLiquidity.value.trim() || "0" };
  return body;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("form-error");
  error.hidden = true;
  $("submit").disabled = true;
  try {
    const accepted = await api("POST", "/api/orders/execute", orderBody());
    follow(accepted.orderId);
  } catch (err) {
    error.textContent = err.status ? `${err.status}: ${err.message}` : err.message;
    error.hidden = false;
  } finally {
    $("submit").disabled = false;
  }
});

// ---- one order's timeline, over its WebSocket (reconnecting with ?since=) ---------------------------------------
let following = null;
function follow(orderId) {
  if (following) following.stop();
  const list = $("timeline");
  list.replaceChildren();
  $("timeline-order").textContent = orderId;
  let last = 0, first = null, socket = null, stopped = false, retry = 0;
  function connect() {
    socket = new WebSocket(wsUrl(`/api/orders/${orderId}/ws?since=${last}`));
    socket.onmessage = (event) => {
      const m = JSON.parse(event.data);
      if (m.type !== "status" || m.seq <= last) return;
      last = m.seq;
      retry = 0;
      const at = new Date(m.timestamp);
      first = first || at;
      for (const li of list.querySelectorAll("li.current")) li.classList.remove("current");
      const li = el("li", { "data-seq": m.seq, "data-status": m.status, class: TERMINAL.has(m.status) ? "" : "current" },
        el("span", { class: "t" }, `+${((at - first) / 1000).toFixed(3)}s`), el("span", { class: "seq" }, `#${m.seq}`),
        badge(m.status), el("span", { class: "what" }, describe(m)));
      li.title = UNDER_WAY[m.status] || "";
      list.append(li);
    };
    socket.onclose = (event) => {
      if (stopped || event.code === 4404 || event.code === 4400) return;
      const ended = list.lastElementChild && TERMINAL.has(list.lastElementChild.dataset.status);
      if (!ended) setTimeout(connect, Math.min(2000, 100 * 2 ** retry++));
    };
  }
  connect();
  following = { stop() { stopped = true; socket && socket.close(); } };
}

function describe(m) {
  const d = m.metadata || {};
  if ("retryInS" in d) return `retry: attempt ${d.attempt}/${d.maxAttempts} failed at ${d.stage} (${d.error}); next in ${d.retryInS}s`;
  switch (m.status) {
    case "pending": return "accepted";
    case "waiting": return [`arm ${d.arm ?? 1}`, d.limitPrice && `limit ${d.limitPrice}`, d.bestEffectivePrice && `best now ${d.bestEffectivePrice}`, d.reason].filter(Boolean).join(", ");
    case "triggered": return `on ${d.venue} at ${d.effectivePrice}` + (d.pool ? ` (pool ${d.pool})` : "");
    case "routing": {
      const quotes = (d.quotes || []).map((q) => `${q.venue} ${q.amountOut}`).join(", ");
      const down = Object.entries(d.unavailable || {}).map(([v, e]) => `; ${v} unavailable (${e})`).join("");
      return `${d.chosen}: ${d.reason} [quotes: ${quotes}${down}]`;
    }
    case "building": return `${d.dexUsed}: min out ${d.minAmountOut} (expected ${d.expectedAmountOut})`;
    case "submitted": return `tx ${shortHash(d.txHash)}`;
    case "confirmed": return `${d.amountOut} out at ${shortNumber(d.executedPrice)}, slot ${d.slot}, tx ${shortHash(d.txHash)}`;
    case "failed": return `[${d.failureClass || "error"}] ${d.reason} (after ${d.attempts} attempts)`;
    default: return d.reason || "";
  }
}

// ---- the market stream: prices, newest orders, the book ---------------------------------------------------------
function spark(values) {
  if (values.length < 2) return el("span", { class: "note" }, "…");
  const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
  const points = values.map((v, i) => `${(i / (values.length - 1)) * 120},${22 - ((v - lo) / span) * 20}`).join(" ");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("viewBox", "0 0 120 24");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points);
  svg.append(line);
  return svg;
}

const FIRST = ["SOL/USDC", "SOL/USDT"];
function showPrices(m) {
  const pairs = {};
  for (const p of m.prices) (pairs[p.pair] = pairs[p.pair] || {})[p.venue] = p.price;
  const names = Object.keys(pairs).sort((a, b) => (FIRST.includes(b) - FIRST.includes(a)) || a.localeCompare(b));
  const rows = names.map((pair) => {
    const venues = pairs[pair];
    const mid = (Number(venues.raydium ?? venues.meteora) + Number(venues.meteora ?? venues.raydium)) / 2;
    const series = (history[pair] = [...(history[pair] || []), mid].slice(-60));
    return el("tr", { "data-pair": pair }, el("td", {}, pair), el("td", { class: "mono" }, shortNumber(venues.raydium)),
      el("td", { class: "mono" }, shortNumber(venues.meteora)), el("td", {}, spark(series)));
  });
  $("prices").replaceChildren(...rows);
}
const DIGITS = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 10, useGrouping: false });
const shortNumber = (text) => (text === undefined ? "—" : text.length > 14 ? DIGITS.format(Number(text)) : text);
const shortHash = (text) => (text && text.length > 20 ? `${text.slice(0, 10)}…${text.slice(-6)}` : text);

function showBook(m) {
  const rows = (levels) => levels.length ? levels.map((l) => el("tr", {}, el("td", { class: "mono" }, shortNumber(l.price)), el("td", {}, l.amount), el("td", {}, String(l.orders))))
    : [el("tr", {}, el("td", { colspan: 3, class: "empty" }, "none"))];
  $("asks").replaceChildren(...rows(m.asks));
  $("bids").replaceChildren(...rows(m.bids));
}

function showOrders(m) {
  const rows = m.orders.map((o) => {
    const cancel = CANCELLABLE.has(o.status)
      ? el("button", { class: "small", type: "button", "data-cancel": o.orderId, onclick: () => cancelOrder(o.orderId) }, "Cancel") : "";
    const out = o.amountOut || (o.limitPrice ? `limit ${o.limitPrice}` : o.failureReason || "");
    return el("tr", { "data-order-id": o.orderId, "data-status": o.status },
      el("td", { class: "mono" }, el("a", { href: "#", onclick: (e) => { e.preventDefault(); follow(o.orderId); } }, o.orderId.slice(0, 8))),
      el("td", {}, o.orderType), el("td", {}, `${o.tokenIn} → ${o.tokenOut}`), el("td", {}, o.amountIn), el("td", {}, badge(o.status)),
      el("td", {}, o.dexUsed || ""), el("td", { class: "mono" }, out), el("td", {}, new Date(o.createdAt).toLocaleTimeString()), el("td", {}, cancel));
  });
  $("recent").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 9, class: "empty" }, "no orders yet"))]));
}

async function cancelOrder(orderId) {
  const error = $("form-error");
  try {
    await api("POST", `/api/orders/${orderId}/cancel`);
    follow(orderId);
  } catch (err) {
    error.textContent = `${err.status || ""}: ${err.message}`;
    error.hidden = false;
  }
}

function market() {
  let retry = 0;
  const socket = new WebSocket(wsUrl("/api/stream?pair=SOL/USDC"));
  socket.onopen = () => { retry = 0; $("feed-state").className = "feed on"; $("feed-state").textContent = "● live"; };
  socket.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.type === "prices") showPrices(m); else if (m.type === "orders") showOrders(m); else if (m.type === "book") showBook(m);
  };
  socket.onclose = () => {
    $("feed-state").className = "feed off"; $("feed-state").textContent = "● reconnecting";
    setTimeout(market, Math.min(5000, 250 * 2 ** retry++));
  };
}
market();

// ---- the simulation's controls (only where the engine has /api/sim) ---------------------------------------------
async function simControls() {
  try {
    const schema = await api("GET", "/schema/openapi.json");
    if (!Object.keys(schema.paths || {}).some((p) => p.startsWith("/api/sim/"))) return;
  } catch { return; }
  $("sim").hidden = false;
  const result = $("sim-result");
  async function send(path, body) {
    try {
      const answer = await api("POST", path, body, { admin: true });
      result.textContent = path.endsWith("move")
        ? answer.prices.map((p) => `${answer.pair} ${p.venue}: ${shortNumber(p.before)} → ${shortNumber(p.price)}`).join("; ")
        : `launched ${answer.symbol}: pool ${answer.pool} on ${answer.venue}`;
    } catch (err) {
      if (err.status === 401) askToken();
      result.textContent = `${err.status || ""}: ${err.message}`;
    }
  }
  $("move-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = e.target.elements;
    send("/api/sim/market/move", { pair: f.pair.value.trim(), byBps: Number(f.byBps.value), venue: f.venue.value || null });
  });
  $("launch-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = e.target.elements;
    send("/api/sim/launches", { symbol: f.symbol.value.trim(), venue: f.venue.value, quoteToken: "SOL",
      initialPrice: f.initialPrice.value.trim(), liquidity: f.liquidity.value.trim() });
  });
  $("token-button").addEventListener("click", askToken);
}
function askToken() {
  const token = prompt("Admin token (ORDER_ENGINE_ADMIN_TOKEN); kept for this tab only:");
  if (token !== null) sessionStorage.setItem("adminToken", token.trim());
}
simControls();
