"use strict";

/*
 * Host page: one session's live numbers for the person presenting it, pushed over
 * /ws/host. The link carries the session and token in its fragment
 * (#session=…&token=…), which browsers never send to a server; the page keeps them in
 * this tab's sessionStorage, wipes them from the address bar, and sends the token only
 * as the socket's first message. Formatting and the chart come from shared.js.
 * The host overlay (/host/overlay, overlay.html) runs this same script, token rules and
 * all, over the few figures it shows.
 */

const HOST_STRINGS = {
  vi: {
    loading: "Đang tải…",
    missing: "Đường dẫn thiếu mã phiên hoặc mã truy cập",
    denied: "Mã truy cập không hợp lệ hoặc đã hết hạn",
    notFound: "Chưa tìm thấy phiên này – đang thử lại",
    offline: "Mất kết nối – đang thử lại",
    updated: (time) => `cập nhật ${time}`,
    staleSince: (message, time) => `${message} · dữ liệu lúc ${time}`,
    gmv: "Doanh thu",
    rank: "Xếp hạng",
    rankIn: (fair, n) => `trong ${fair} · ${n} phiên`,
    gap: (money, rank) => `kém hạng ${rank}: ${money}`,
    leading: "Đang dẫn đầu",
    viewersNow: "Đang xem",
    peak: "Cao nhất",
    peakAt: (time) => `lúc ${time}`,
    views: "Lượt xem",
    uniqueViewers: "Người xem",
    orders: "Đơn hàng",
    units: "Đã bán",
    conversion: "Tỉ lệ chuyển đổi",
    conversionNote: "đơn hàng trên mỗi người xem",
    chartTitle: "60 phút qua",
    chartGmv: "Doanh thu",
    chartViews: "Lượt xem",
    products: "Sản phẩm bán chạy",
    colProduct: "Sản phẩm",
    colUnits: "Đã bán",
    colGmv: "Doanh thu",
    noProducts: "Chưa có đơn hàng",
  },
  en: {
    loading: "Loading…",
    missing: "The link is missing the session or access code",
    denied: "Invalid or expired access code",
    notFound: "Session not found yet – retrying",
    offline: "Connection lost – retrying",
    updated: (time) => `updated ${time}`,
    staleSince: (message, time) => `${message} · data from ${time}`,
    gmv: "Revenue",
    rank: "Rank",
    rankIn: (fair, n) => `in ${fair} · ${n} sessions`,
    gap: (money, rank) => `${money} behind #${rank}`,
    leading: "In the lead",
    viewersNow: "Watching",
    peak: "Peak",
    peakAt: (time) => `at ${time}`,
    views: "Views",
    uniqueViewers: "Viewers",
    orders: "Orders",
    units: "Sold",
    conversion: "Conversion",
    conversionNote: "orders per unique viewer",
    chartTitle: "Last 60 min",
    chartGmv: "Revenue",
    chartViews: "Views",
    products: "Best sellers",
    colProduct: "Product",
    colUnits: "Sold",
    colGmv: "Revenue",
    noProducts: "No orders yet",
  },
};

const STORAGE_KEY = "ocop-live.host";
const WATCHDOG_TICK_MS = 1000;
// 4401: missing, invalid or expired token; 4403: another session's token.
const DENIED_CODES = new Set([4401, 4403]);
const UNKNOWN_SESSION = 4404;

const hostState = {
  t: null,
  lang: "vi",
  sessionId: "",
  token: "",
  session: null,
  serverTime: null,
  problem: null,
  socket: null,
  socketOpenedAt: 0,
  lastMessageAt: 0,
  silenceMs: silenceLimit(null),
  attempt: 0,
  reconnectTimer: null,
  denied: false,
};

// The overlay (overlay.html) holds only some of the page's figures; the others are skipped.
function setText(id, text) {
  const el = document.getElementById(id);
  if (el) el.textContent = text;
}

function showNotice(text) {
  document.getElementById("dashboard").hidden = true;
  const notice = document.getElementById("notice");
  notice.textContent = text;
  notice.hidden = false;
}

function showDashboard() {
  document.getElementById("notice").hidden = true;
  document.getElementById("dashboard").hidden = false;
}

/*
 * Credentials: from the link's fragment once, then from this tab's storage (a reload
 * keeps them). Never from the query string: a URL's query reaches the server, its logs
 * and every proxy on the way, so a token found there is ignored (and wiped).
 */

function readCredentials() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const sessionId = fragment.get("session") || "";
  const token = fragment.get("token") || "";
  if (location.hash || query.has("token")) {
    const keep = new URLSearchParams();
    if (query.get("lang")) keep.set("lang", query.get("lang"));
    const search = keep.toString();
    history.replaceState(null, "", location.pathname + (search ? `?${search}` : ""));
  }
  if (sessionId && token) {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ sessionId, token }));
    return { sessionId, token };
  }
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    if (saved && saved.sessionId && saved.token) return saved;
  } catch {
    sessionStorage.removeItem(STORAGE_KEY);
  }
  return { sessionId: "", token: "" };
}

/* Rendering */

function renderHeader(s) {
  const title = s.title || s.shop || s.host || s.session_id;
  setText("title", title);
  document.title = title;
  const details = [s.host, s.shop, s.province].filter((part) => part && part !== title);
  setText("subtitle", details.join(" · "));
}

function renderRank(s) {
  const t = hostState.t;
  setText("rank", s.rank_gmv ? `#${s.rank_gmv}` : DASH);
  setText("rank-of", s.rank_gmv && s.sessions_ranked ? ` / ${formatCount(s.sessions_ranked, hostState.lang)}` : "");
  // The rank is among the sessions of this session's fair, not of the whole campaign.
  const fair = s.fair && (s.fair.title || s.fair.fair_id);
  setText("rank-fair", fair ? t.rankIn(fair, formatCount(s.sessions_ranked, hostState.lang)) : "");
  const gap = document.getElementById("gap");
  if (!gap) return;
  const leading = s.rank_gmv === 1;
  gap.dataset.lead = String(leading);
  if (leading) gap.textContent = t.leading;
  else if (s.rank_gmv && Number.isFinite(s.gap_to_next_vnd)) gap.textContent = t.gap(formatVnd(s.gap_to_next_vnd, hostState.lang), s.rank_gmv - 1);
  else gap.textContent = "";
}

function renderNumbers(s) {
  const t = hostState.t;
  setText("gmv", formatVnd(s.gmv_vnd, hostState.lang));
  renderRank(s);
  setText("viewers-now", formatCount(s.viewers_now, hostState.lang));
  setText("peak", formatCount(s.peak_viewers, hostState.lang));
  setText("peak-at", s.peak_at ? t.peakAt(formatClock(s.peak_at).slice(0, 5)) : "");
  setText("views", formatCount(s.views, hostState.lang));
  setText("unique-viewers", formatCount(s.unique_viewers, hostState.lang));
  setText("orders", formatCount(s.orders, hostState.lang));
  setText("units", formatCount(s.units, hostState.lang));
  setText("conversion", s.conversion === null ? DASH : formatPercent(s.conversion, hostState.lang));
}

function productRow(p) {
  const row = document.createElement("tr");
  const nameCell = document.createElement("td");
  const name = document.createElement("span");
  name.className = "product__name";
  name.textContent = p.name || p.product_id;
  const rating = document.createElement("span");
  rating.className = "product__stars";
  rating.textContent = stars(p.stars);
  nameCell.append(name, rating);
  const units = document.createElement("td");
  units.className = "num";
  units.textContent = formatCount(p.units, hostState.lang);
  const gmv = document.createElement("td");
  gmv.className = "num";
  gmv.textContent = formatVnd(p.gmv_vnd, hostState.lang);
  row.append(nameCell, units, gmv);
  return row;
}

function emptyProductsRow() {
  const row = document.createElement("tr");
  const cell = document.createElement("td");
  cell.colSpan = 3;
  cell.className = "empty";
  cell.textContent = hostState.t.noProducts;
  row.append(cell);
  return row;
}

function renderProducts(products) {
  const list = Array.isArray(products) ? products : [];
  const rows = list.length ? list.map(productRow) : [emptyProductsRow()];
  const table = document.getElementById("products");
  if (table) table.replaceChildren(...rows);
}

function renderChart() {
  const canvas = document.getElementById("chart");
  if (hostState.session && canvas) drawSeriesChart(canvas, hostState.session.series, hostState.lang);
}

function renderStatus() {
  const { t, serverTime, problem } = hostState;
  const status = document.getElementById("status");
  if (!status) return;
  status.dataset.state = problem ? "offline" : "live";
  const time = formatClock(serverTime);
  status.textContent = problem ? t.staleSince(t[problem], time) : t.updated(time);
}

function renderSession(s) {
  hostState.session = s;
  showDashboard();
  renderHeader(s);
  renderNumbers(s);
  renderProducts(s.products);
  renderChart();
}

// Before the first session arrives there is nothing to keep on screen, so a problem takes the page.
function renderProblem(problem) {
  hostState.problem = problem;
  if (hostState.session) renderStatus();
  else showNotice(hostState.t[problem]);
}

/* Connection */

function connect() {
  hostState.reconnectTimer = null;
  const ws = new WebSocket(socketUrl("/ws/host"));
  hostState.socket = ws;
  hostState.socketOpenedAt = performance.now();
  ws.onopen = () => {
    ws.send(JSON.stringify({ type: "auth", session: hostState.sessionId, token: hostState.token }));
  };
  ws.onmessage = (event) => {
    if (ws === hostState.socket) onMessage(event.data);
  };
  ws.onclose = (event) => {
    if (ws !== hostState.socket) return;
    hostState.socket = null;
    onClose(event.code);
  };
}

function onClose(code) {
  if (DENIED_CODES.has(code)) {
    // A refused token will not become valid by asking again.
    hostState.denied = true;
    sessionStorage.removeItem(STORAGE_KEY);
    hostState.session = null;
    showNotice(hostState.t.denied);
    return;
  }
  renderProblem(code === UNKNOWN_SESSION ? "notFound" : "offline");
  scheduleReconnect();
}

function scheduleReconnect() {
  if (hostState.reconnectTimer !== null || hostState.denied) return;
  hostState.reconnectTimer = setTimeout(connect, backoffDelay(hostState.attempt));
  hostState.attempt = Math.min(hostState.attempt + 1, 16);
}

function dropSocket() {
  const ws = hostState.socket;
  hostState.socket = null;
  if (ws) ws.close();
  scheduleReconnect();
}

function onMessage(raw) {
  let msg;
  try {
    msg = JSON.parse(raw);
  } catch {
    dropSocket();
    return;
  }
  hostState.lastMessageAt = performance.now();
  hostState.serverTime = msg.server_time;
  hostState.problem = null;
  hostState.attempt = 0;
  if (msg.type === "session") {
    hostState.silenceMs = silenceLimit(msg.heartbeat_ms);
    renderSession(msg.session);
  }
  renderStatus();
}

// A phone that lost its network may not notice for minutes, so silence itself is the signal.
function watchdog() {
  if (!hostState.socket) return;
  const silentFor = performance.now() - Math.max(hostState.lastMessageAt, hostState.socketOpenedAt);
  if (silentFor > hostState.silenceMs) {
    renderProblem("offline");
    dropSocket();
  }
}

function startHost() {
  hostState.t = pickLang(HOST_STRINGS);
  hostState.lang = document.documentElement.lang;
  applyStaticStrings(hostState.t);
  const { sessionId, token } = readCredentials();
  hostState.sessionId = sessionId;
  hostState.token = token;
  if (!sessionId || !token) {
    showNotice(hostState.t.missing);
    return;
  }
  showNotice(hostState.t.loading);
  const chart = document.getElementById("chart");
  if (chart) new ResizeObserver(renderChart).observe(chart);
  setInterval(watchdog, WATCHDOG_TICK_MS);
  connect();
}

startHost();
