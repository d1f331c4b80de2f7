"use strict";

/*
 * Host page: one session's live numbers for the person presenting it, polled every 2 s.
 * Formatting and the chart come from board.js, which the page loads first.
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
    rank: "Hạng doanh thu",
    viewersNow: "Đang xem",
    peak: "Cao nhất",
    peakAt: (time) => `lúc ${time}`,
    views: "Lượt xem",
    uniqueViewers: "Người xem",
    orders: "Đơn hàng",
    units: "Đã bán",
    chartTitle: "60 phút qua",
    chartGmv: "Doanh thu",
    chartViews: "Lượt xem",
    products: "Sản phẩm",
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
    rank: "Revenue rank",
    viewersNow: "Watching",
    peak: "Peak",
    peakAt: (time) => `at ${time}`,
    views: "Views",
    uniqueViewers: "Viewers",
    orders: "Orders",
    units: "Sold",
    chartTitle: "Last 60 min",
    chartGmv: "Revenue",
    chartViews: "Views",
    products: "Products",
    colProduct: "Product",
    colUnits: "Sold",
    colGmv: "Revenue",
    noProducts: "No orders yet",
  },
};

const POLL_MS = 2000;
// A request that hangs must not stall the loop; the next poll is more useful than waiting.
const REQUEST_TIMEOUT_MS = 8000;

const hostState = {
  t: null,
  sessionId: "",
  token: "",
  session: null,
  receivedAt: null,
  timer: null,
  busy: false,
  denied: false,
};

function setText(id, text) {
  document.getElementById(id).textContent = text;
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

/* Rendering */

function renderHeader(s) {
  const title = s.title || s.shop || s.host || s.session_id;
  setText("title", title);
  document.title = title;
  const details = [s.host, s.shop, s.province].filter((part) => part && part !== title);
  setText("subtitle", details.join(" · "));
}

function renderNumbers(s) {
  const t = hostState.t;
  setText("gmv", formatVnd(s.gmv_vnd));
  setText("rank", s.rank_gmv ? `#${s.rank_gmv}` : DASH);
  setText("rank-of", s.rank_gmv && s.sessions_ranked ? ` / ${formatCount(s.sessions_ranked)}` : "");
  setText("viewers-now", formatCount(s.viewers_now));
  setText("peak", formatCount(s.peak_viewers));
  setText("peak-at", s.peak_at ? t.peakAt(formatClock(s.peak_at).slice(0, 5)) : "");
  setText("views", formatCount(s.views));
  setText("unique-viewers", formatCount(s.unique_viewers));
  setText("orders", formatCount(s.orders));
  setText("units", formatCount(s.units));
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
  units.textContent = formatCount(p.units);
  const gmv = document.createElement("td");
  gmv.className = "num";
  gmv.textContent = formatVnd(p.gmv_vnd);
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
  document.getElementById("products").replaceChildren(...rows);
}

function renderChart() {
  if (hostState.session) drawSeriesChart(document.getElementById("chart"), hostState.session.series);
}

function renderStatus(problem) {
  const { t, receivedAt } = hostState;
  const status = document.getElementById("status");
  status.dataset.state = problem ? "offline" : "live";
  const time = formatClock(receivedAt);
  status.textContent = problem ? t.staleSince(t[problem], time) : t.updated(time);
}

function renderSession(s) {
  hostState.session = s;
  hostState.receivedAt = Date.now();
  showDashboard();
  renderHeader(s);
  renderNumbers(s);
  renderProducts(s.products);
  renderChart();
  renderStatus(null);
}

// Before the first good answer there is nothing to keep on screen, so a problem takes the page.
function renderProblem(problem) {
  if (hostState.session) renderStatus(problem);
  else showNotice(hostState.t[problem]);
}

/* Polling */

async function fetchSession() {
  const controller = new AbortController();
  const timeout = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    return await fetch(`/api/sessions/${encodeURIComponent(hostState.sessionId)}`, {
      headers: { Authorization: `Bearer ${hostState.token}` },
      cache: "no-store",
      signal: controller.signal,
    });
  } finally {
    clearTimeout(timeout);
  }
}

// Resolves to { session } or to { problem } naming a string in HOST_STRINGS.
async function loadSession() {
  try {
    const res = await fetchSession();
    if (res.status === 401 || res.status === 403) return { problem: "denied" };
    if (res.status === 404) return { problem: "notFound" };
    if (!res.ok) return { problem: "offline" };
    return { session: await res.json() };
  } catch {
    return { problem: "offline" };
  }
}

async function poll() {
  hostState.timer = null;
  hostState.busy = true;
  const startedAt = performance.now();
  const { session, problem } = await loadSession();
  hostState.busy = false;
  if (problem === "denied") {
    // A rejected token will not become valid by asking again.
    hostState.denied = true;
    showNotice(hostState.t.denied);
    return;
  }
  if (session) renderSession(session);
  else renderProblem(problem);
  scheduleNext(startedAt);
}

function scheduleNext(startedAt) {
  // A phone in a pocket has no one to show numbers to; polling resumes when the page is visible.
  if (document.hidden) return;
  const wait = Math.max(0, POLL_MS - (performance.now() - startedAt));
  hostState.timer = setTimeout(poll, wait);
}

function onVisibilityChange() {
  if (!document.hidden && hostState.timer === null && !hostState.busy && !hostState.denied) poll();
}

function startHost() {
  hostState.t = pickLang(HOST_STRINGS);
  applyStaticStrings(hostState.t);
  const params = new URLSearchParams(location.search);
  hostState.sessionId = params.get("session") || "";
  hostState.token = params.get("token") || "";
  if (!hostState.sessionId || !hostState.token) {
    showNotice(hostState.t.missing);
    return;
  }
  showNotice(hostState.t.loading);
  new ResizeObserver(renderChart).observe(document.getElementById("chart"));
  document.addEventListener("visibilitychange", onVisibilityChange);
  poll();
}

startHost();
