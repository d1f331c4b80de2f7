"use strict";

/*
 * Venue board for the OCOP livestream fair.
 *
 * The formatting and chart helpers at the top are also used by the host page,
 * which loads this file before host.js; the board itself only starts on a page
 * whose <body> says data-page="board".
 */

/* ---------- Shared helpers ---------- */

const DASH = "—";

// Vietnam has kept UTC+7 without daylight saving since 1975, so a fixed offset
// is exact and does not depend on the kiosk's time-zone database or clock zone.
const VN_OFFSET_MS = 7 * 60 * 60 * 1000;

function pickLang(strings) {
  const lang = new URLSearchParams(location.search).get("lang") === "en" ? "en" : "vi";
  document.documentElement.lang = lang;
  return strings[lang];
}

function applyStaticStrings(t) {
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = t[el.dataset.i18n];
  }
}

// Vietnamese grouping: dots between thousands.
function groupThousands(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ".");
}

function formatCount(n) {
  if (!Number.isFinite(n)) return DASH;
  const sign = n < 0 ? "-" : "";
  return sign + groupThousands(String(Math.round(Math.abs(n))));
}

// About three significant digits, decimal comma, trailing zeros dropped: 1,25 / 12,5 / 850.
function formatScaled(x) {
  const digits = x < 10 ? 2 : x < 100 ? 1 : 0;
  const [whole, frac = ""] = x.toFixed(digits).split(".");
  const kept = frac.replace(/0+$/, "");
  return groupThousands(whole) + (kept ? "," + kept : "");
}

// 1,25 tỷ ₫ · 850 triệu ₫ · 12.500 ₫
function formatVnd(n) {
  if (!Number.isFinite(n)) return DASH;
  const sign = n < 0 ? "-" : "";
  const v = Math.round(Math.abs(n));
  // 999,5 triệu would round to "1.000 triệu", so it already reads as tỷ.
  if (v >= 999_500_000) return `${sign}${formatScaled(v / 1e9)} tỷ ₫`;
  if (v >= 1_000_000) return `${sign}${formatScaled(v / 1e6)} triệu ₫`;
  return `${sign}${groupThousands(String(v))} ₫`;
}

// HH:MM:SS in Asia/Ho_Chi_Minh.
function formatClock(ms) {
  if (!Number.isFinite(ms)) return "--:--:--";
  return new Date(ms + VN_OFFSET_MS).toISOString().slice(11, 19);
}

// OCOP ratings run from 1 to 5 stars.
function stars(n) {
  return "★".repeat(Math.max(0, Math.min(5, Math.round(n || 0))));
}

const CHART_MINUTES = 60;
const MINUTE_MS = 60_000;

// Places each point by its timestamp so a missing minute shows as a gap
// instead of shifting the rest of the hour sideways.
function lastHourBuckets(series) {
  const buckets = new Array(CHART_MINUTES).fill(null);
  if (!Array.isArray(series) || series.length === 0) return { buckets, endMinute: null };
  const endMinute = Math.max(...series.map((p) => p.minute));
  for (const point of series) {
    const slot = CHART_MINUTES - 1 - Math.round((endMinute - point.minute) / MINUTE_MS);
    if (slot >= 0) buckets[slot] = point;
  }
  return { buckets, endMinute };
}

function chartColors(canvas) {
  const css = getComputedStyle(canvas);
  const read = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    gmv: read("--chart-gmv", "#ffc940"),
    views: read("--chart-views", "#4cc9f0"),
    grid: read("--chart-grid", "rgba(255,255,255,0.14)"),
    text: read("--chart-text", "#a9b8c9"),
  };
}

// Per-minute GMV as bars and views as a line, each scaled to its own maximum;
// the maxima are printed in the top corners in the series' own colour.
function drawSeriesChart(canvas, series) {
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!width || !height) return;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const colors = chartColors(canvas);
  const fontPx = Math.max(11, Math.round(height / 13));
  const plot = { left: 2, right: width - 2, top: fontPx * 1.7, bottom: height - fontPx * 1.7 };
  const { buckets, endMinute } = lastHourBuckets(series);
  const maxGmv = Math.max(0, ...buckets.map((p) => (p ? p.gmv_vnd : 0)));
  const maxViews = Math.max(0, ...buckets.map((p) => (p ? p.views : 0)));

  ctx.font = `600 ${fontPx}px system-ui, "Segoe UI", Roboto, "Noto Sans", Arial, sans-serif`;
  drawGrid(ctx, plot, colors.grid);
  drawGmvBars(ctx, plot, buckets, maxGmv, colors.gmv);
  drawViewsLine(ctx, plot, buckets, maxViews, colors.views);
  drawChartLabels(ctx, plot, { endMinute, maxGmv, maxViews, colors, height });
}

function drawGrid(ctx, plot, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 1;
  for (const f of [0, 0.5, 1]) {
    const y = Math.round(plot.bottom - f * (plot.bottom - plot.top)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(plot.left, y);
    ctx.lineTo(plot.right, y);
    ctx.stroke();
  }
}

function slotX(plot, slot) {
  const step = (plot.right - plot.left) / CHART_MINUTES;
  return plot.left + step * (slot + 0.5);
}

function drawGmvBars(ctx, plot, buckets, maxGmv, color) {
  const step = (plot.right - plot.left) / CHART_MINUTES;
  const barWidth = Math.max(1, step * 0.72);
  ctx.fillStyle = color;
  buckets.forEach((p, slot) => {
    if (!p || p.gmv_vnd <= 0) return;
    const h = (p.gmv_vnd / (maxGmv || 1)) * (plot.bottom - plot.top);
    ctx.fillRect(slotX(plot, slot) - barWidth / 2, plot.bottom - h, barWidth, h);
  });
}

function drawViewsLine(ctx, plot, buckets, maxViews, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 3;
  ctx.lineJoin = "round";
  ctx.beginPath();
  let drawing = false;
  buckets.forEach((p, slot) => {
    if (!p) {
      drawing = false;
      return;
    }
    const y = plot.bottom - (p.views / (maxViews || 1)) * (plot.bottom - plot.top);
    if (drawing) ctx.lineTo(slotX(plot, slot), y);
    else ctx.moveTo(slotX(plot, slot), y);
    drawing = true;
  });
  ctx.stroke();
}

function drawChartLabels(ctx, plot, { endMinute, maxGmv, maxViews, colors, height }) {
  if (endMinute === null) return;
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  ctx.fillStyle = colors.gmv;
  ctx.fillText(formatVnd(maxGmv), plot.left, 0);
  ctx.textAlign = "right";
  ctx.fillStyle = colors.views;
  ctx.fillText(formatCount(maxViews), plot.right, 0);

  ctx.fillStyle = colors.text;
  ctx.textBaseline = "bottom";
  for (const slot of [0, 15, 30, 45, CHART_MINUTES - 1]) {
    const minute = endMinute - (CHART_MINUTES - 1 - slot) * MINUTE_MS;
    ctx.textAlign = slot === 0 ? "left" : slot === CHART_MINUTES - 1 ? "right" : "center";
    const x = slot === 0 ? plot.left : slot === CHART_MINUTES - 1 ? plot.right : slotX(plot, slot);
    ctx.fillText(formatClock(minute).slice(0, 5), x, height);
  }
}

/* ---------- Board ---------- */

const BOARD_STRINGS = {
  vi: {
    defaultTitle: "Chợ phiên OCOP",
    gmv: "Doanh thu",
    orders: "Đơn hàng",
    views: "Lượt xem",
    viewersNow: "Đang xem",
    uniqueViewers: "Người xem",
    recent: (gmv, views) => `5 phút qua: doanh thu ${gmv} · ${views} lượt xem`,
    topSessionsGmv: "Phiên dẫn đầu doanh thu",
    topSessionsViewers: "Đông người xem nhất",
    topProducts: "Sản phẩm bán chạy",
    topProvinces: "Tỉnh thành dẫn đầu",
    chartTitle: "60 phút qua",
    chartGmv: "Doanh thu",
    chartViews: "Lượt xem",
    colRank: "#",
    colShop: "Gian hàng / Người bán",
    colSession: "Gian hàng",
    colProvince: "Tỉnh",
    colGmv: "Doanh thu",
    colViewersNow: "Đang xem",
    colProduct: "Sản phẩm",
    colUnits: "Đã bán",
    connecting: "ĐANG KẾT NỐI",
    live: "TRỰC TIẾP",
    reconnecting: "ĐANG KẾT NỐI LẠI",
    updated: (time) => `cập nhật ${time}`,
    stale: (time) => (time ? `MẤT KẾT NỐI – dữ liệu lúc ${time}` : "MẤT KẾT NỐI – chưa có dữ liệu"),
  },
  en: {
    defaultTitle: "OCOP Market Fair",
    gmv: "Revenue",
    orders: "Orders",
    views: "Views",
    viewersNow: "Watching now",
    uniqueViewers: "Unique viewers",
    recent: (gmv, views) => `Last 5 minutes: revenue ${gmv} · ${views} views`,
    topSessionsGmv: "Top sessions by revenue",
    topSessionsViewers: "Most watched now",
    topProducts: "Best-selling products",
    topProvinces: "Top provinces",
    chartTitle: "Last 60 min",
    chartGmv: "Revenue",
    chartViews: "Views",
    colRank: "#",
    colShop: "Shop / Host",
    colSession: "Shop",
    colProvince: "Province",
    colGmv: "Revenue",
    colViewersNow: "Watching",
    colProduct: "Product",
    colUnits: "Sold",
    connecting: "CONNECTING",
    live: "LIVE",
    reconnecting: "RECONNECTING",
    updated: (time) => `updated ${time}`,
    stale: (time) => (time ? `STALE – data from ${time}` : "STALE – no data yet"),
  },
};

const SILENCE_MS = 6000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const WATCHDOG_TICK_MS = 500;

const boardState = {
  t: null,
  data: {},
  lastSeq: null,
  serverTime: null,
  conn: "connecting",
  stale: false,
  socket: null,
  socketOpenedAt: 0,
  lastMessageAt: 0,
  attempt: 0,
  reconnectTimer: null,
};

/* Lists: each is built once with a fixed number of rows so updates only touch text. */

function sessionLabel(s) {
  const [main, sub = ""] = [s.shop, s.host, s.title].filter(Boolean);
  return { main: main || s.session_id, sub };
}

const rankColumn = { cls: "rank", head: "colRank", value: (_, i) => String(i + 1) };

const LISTS = {
  top_sessions_gmv: {
    el: "list-sessions-gmv",
    rows: 10,
    share: (s) => s.gmv_vnd,
    columns: [
      rankColumn,
      { cls: "name", head: "colShop", value: sessionLabel },
      { cls: "province", head: "colProvince", value: (s) => s.province || DASH },
      { cls: "money", head: "colGmv", value: (s) => formatVnd(s.gmv_vnd) },
      { cls: "count", head: "colViewersNow", value: (s) => formatCount(s.viewers_now) },
    ],
  },
  top_sessions_viewers: {
    el: "list-sessions-viewers",
    rows: 5,
    share: (s) => s.viewers_now,
    columns: [
      rankColumn,
      { cls: "name", head: "colSession", value: (s) => sessionLabel(s).main },
      { cls: "count", head: "colViewersNow", value: (s) => formatCount(s.viewers_now) },
    ],
  },
  top_products: {
    el: "list-products",
    rows: 5,
    columns: [
      rankColumn,
      {
        cls: "name name--stars",
        head: "colProduct",
        value: (p) => ({ main: p.name || p.product_id, sub: stars(p.stars) }),
      },
      { cls: "count", head: "colUnits", value: (p) => formatCount(p.units) },
    ],
  },
  top_provinces: {
    el: "list-provinces",
    rows: 5,
    share: (p) => p.gmv_vnd,
    columns: [
      rankColumn,
      { cls: "name", head: "colProvince", value: (p) => p.province || DASH },
      { cls: "money", head: "colGmv", value: (p) => formatVnd(p.gmv_vnd) },
    ],
  },
};

function makeCell(cls, text) {
  const cell = document.createElement("span");
  cell.className = `cell ${cls.split(" ").map((c) => `cell--${c}`).join(" ")}`;
  if (text !== undefined) cell.textContent = text;
  return cell;
}

function buildList(spec, t) {
  const root = document.getElementById(spec.el);
  const head = document.createElement("div");
  head.className = "row row--head";
  for (const col of spec.columns) head.append(makeCell(col.cls, t[col.head]));
  root.append(head);
  spec.rowEls = [];
  for (let i = 0; i < spec.rows; i += 1) {
    const row = document.createElement("div");
    row.className = "row is-empty";
    for (const col of spec.columns) row.append(makeCell(col.cls));
    root.append(row);
    spec.rowEls.push(row);
  }
}

function setCell(cell, value) {
  if (typeof value === "string") {
    cell.textContent = value;
    return;
  }
  cell.replaceChildren(makeCell("main", value.main), makeCell("sub", value.sub));
}

function fillList(spec, items) {
  const list = Array.isArray(items) ? items.slice(0, spec.rows) : [];
  const top = spec.share && list.length ? Math.max(1, spec.share(list[0])) : 1;
  spec.rowEls.forEach((row, i) => {
    const item = list[i];
    row.classList.toggle("is-empty", !item);
    spec.columns.forEach((col, c) => setCell(row.children[c], item ? col.value(item, i) : ""));
    // The bar behind a row shows its size relative to the leader.
    const share = item && spec.share ? Math.max(0, Math.min(1, spec.share(item) / top)) : 0;
    row.style.setProperty("--share", `${(share * 100).toFixed(1)}%`);
  });
}

/* Rendering: one renderer per top-level board key, so a change re-renders only what it carries. */

// Shrinks a big number until it fits its tile; a kiosk has nobody to notice a clipped digit.
function fitText(el) {
  el.style.fontSize = "";
  const overflow = el.scrollWidth / el.clientWidth;
  if (overflow > 1) {
    const base = parseFloat(getComputedStyle(el).fontSize);
    el.style.fontSize = `${Math.floor(base / overflow)}px`;
  }
}

function renderFair(fair) {
  const t = boardState.t;
  const title = (fair && fair.title) || t.defaultTitle;
  document.getElementById("fair-title").textContent = title;
  document.getElementById("fair-place").textContent = (fair && fair.place) || "";
  document.title = title;
}

function renderTotals(totals) {
  const values = {
    gmv_vnd: formatVnd,
    orders: formatCount,
    views: formatCount,
    viewers_now: formatCount,
    unique_viewers: formatCount,
  };
  for (const [key, format] of Object.entries(values)) {
    const el = document.getElementById(`total-${key}`);
    el.textContent = totals ? format(totals[key]) : DASH;
    fitText(el);
  }
}

function renderWindows(windows) {
  const recent = windows && windows["5m"];
  document.getElementById("recent").textContent = recent
    ? boardState.t.recent(formatVnd(recent.gmv_vnd), formatCount(recent.views))
    : "";
}

function renderChart() {
  drawSeriesChart(document.getElementById("chart"), boardState.data.series);
}

const RENDERERS = {
  fair: renderFair,
  totals: renderTotals,
  windows: renderWindows,
  series: renderChart,
  ...Object.fromEntries(
    Object.entries(LISTS).map(([key, spec]) => [key, (items) => fillList(spec, items)]),
  ),
};

function renderKeys(keys) {
  for (const key of keys) {
    if (RENDERERS[key]) RENDERERS[key](boardState.data[key]);
  }
}

function renderStatus() {
  const { t, conn, stale, serverTime } = boardState;
  const time = serverTime === null ? null : formatClock(serverTime);
  document.getElementById("stage").classList.toggle("is-stale", stale);
  document.getElementById("conn").dataset.state = stale ? "stale" : conn;
  document.getElementById("conn-label").textContent = t[conn];
  document.getElementById("updated").textContent = stale ? t.stale(time) : time ? t.updated(time) : "";
}

/* Connection: the server speaks first; any gap in seq means we resync from a fresh snapshot. */

function boardSocketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/board`;
}

function setConn(conn) {
  boardState.conn = conn;
  renderStatus();
}

function connect() {
  boardState.reconnectTimer = null;
  const ws = new WebSocket(boardSocketUrl());
  boardState.socket = ws;
  boardState.socketOpenedAt = performance.now();
  // Events from a socket we already gave up on must not touch the current one.
  ws.onmessage = (event) => {
    if (ws === boardState.socket) onMessage(event.data);
  };
  ws.onclose = () => {
    if (ws !== boardState.socket) return;
    boardState.socket = null;
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  if (boardState.reconnectTimer !== null) return;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** boardState.attempt);
  boardState.attempt = Math.min(boardState.attempt + 1, 16);
  // Jitter keeps every kiosk in the hall from reconnecting in the same instant after an outage.
  const delay = Math.min(BACKOFF_MAX_MS, base * (0.8 + Math.random() * 0.4));
  boardState.reconnectTimer = setTimeout(connect, delay);
  setConn("reconnecting");
}

function dropSocket() {
  const ws = boardState.socket;
  boardState.socket = null;
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
  boardState.lastMessageAt = performance.now();
  if (msg.type === "snapshot") applySnapshot(msg);
  else if (msg.type === "change") applyChange(msg);
  else if (msg.type === "heartbeat") applyHeartbeat(msg);
}

function applySnapshot(msg) {
  boardState.data = msg.board || {};
  boardState.lastSeq = msg.seq;
  boardState.serverTime = msg.server_time;
  boardState.stale = false;
  boardState.attempt = 0;
  renderKeys(Object.keys(RENDERERS));
  setConn("live");
}

function applyChange(msg) {
  if (boardState.lastSeq === null || msg.seq !== boardState.lastSeq + 1) {
    dropSocket();
    return;
  }
  const changes = msg.changes || {};
  boardState.data = { ...boardState.data, ...changes };
  boardState.lastSeq = msg.seq;
  boardState.serverTime = msg.server_time;
  renderKeys(Object.keys(changes));
  renderStatus();
}

function applyHeartbeat(msg) {
  // A heartbeat ahead of our seq means a change went missing on the way.
  if (boardState.lastSeq !== null && msg.seq !== boardState.lastSeq) {
    dropSocket();
    return;
  }
  boardState.serverTime = msg.server_time;
  renderStatus();
}

// Browsers can take minutes to notice a dead TCP connection, so silence itself is the signal.
function watchdog() {
  const now = performance.now();
  const socketSilentFor = now - Math.max(boardState.lastMessageAt, boardState.socketOpenedAt);
  if (boardState.socket && socketSilentFor > SILENCE_MS) dropSocket();
  if (!boardState.stale && now - boardState.lastMessageAt > SILENCE_MS) {
    boardState.stale = true;
    renderStatus();
  }
}

function startBoard() {
  boardState.t = pickLang(BOARD_STRINGS);
  boardState.lastMessageAt = performance.now();
  applyStaticStrings(boardState.t);
  for (const spec of Object.values(LISTS)) buildList(spec, boardState.t);
  renderKeys(Object.keys(RENDERERS));
  new ResizeObserver(renderChart).observe(document.getElementById("chart"));
  setInterval(watchdog, WATCHDOG_TICK_MS);
  connect();
  renderStatus();
}

if (document.body.dataset.page === "board") startBoard();
