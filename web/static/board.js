"use strict";

/*
 * Venue board for the OCOP livestream fair: a kiosk nobody touches, 1920×1080 or a
 * portrait panel.
 * Formatting, the chart and reconnect timing come from shared.js, loaded first.
 */

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
    schedule: "Lịch phát sóng",
    liveNow: "Đang live",
    nextUp: "Sắp tới",
    ended: "Đã kết thúc",
    more: (n) => `+ ${n} phiên nữa`,
    campaign: "Chiến dịch",
    fairUpcoming: "sắp diễn ra",
    fairEnded: "đã kết thúc",
    unknownFair: (id) => `Không có hội chợ “${id}” – kiểm tra địa chỉ màn hình`,
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
    delay: (age) => `trễ ${age}`,
    stale: (time) => (time ? `MẤT KẾT NỐI – dữ liệu lúc ${time}` : "MẤT KẾT NỐI – chưa có dữ liệu"),
    banner: {
      gmv_vnd: (v) => `Doanh thu hội chợ vượt mốc ${formatVnd(v, "vi")}`,
      orders: (v) => `Hội chợ vượt mốc ${formatCount(v, "vi")} đơn hàng`,
      views: (v) => `Hội chợ vượt mốc ${formatCount(v, "vi")} lượt xem`,
      lead: (name) => `${name} vượt lên dẫn đầu doanh thu`,
      session: (name, v) => `${name} vượt mốc ${formatVnd(v, "vi")}`,
    },
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
    schedule: "Schedule",
    liveNow: "Live now",
    nextUp: "Next up",
    ended: "Ended",
    more: (n) => `+ ${n} more`,
    campaign: "Campaign",
    fairUpcoming: "upcoming",
    fairEnded: "ended",
    unknownFair: (id) => `No fair “${id}” – check this screen's address`,
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
    delay: (age) => `delay ${age}`,
    stale: (time) => (time ? `STALE – data from ${time}` : "STALE – no data yet"),
    banner: {
      gmv_vnd: (v) => `Fair revenue passes ${formatVnd(v, "en")}`,
      orders: (v) => `The fair passes ${formatCount(v, "en")} orders`,
      views: (v) => `The fair passes ${formatCount(v, "en")} views`,
      lead: (name) => `${name} takes the lead in revenue`,
      session: (name, v) => `${name} passes ${formatVnd(v, "en")}`,
    },
  },
};

const WATCHDOG_TICK_MS = 500;
const ACK_MS = 5000;
const COUNT_MS = 1200; // count-up of a total
const MOVE_MS = 900; // a row sliding to its new rank
const ARROW_MS = 12_000; // how long a moved row keeps its arrow, for someone glancing over
const BANNER_MS = 7000;
const BANNER_QUEUE = 4;
const LATE_MS = 30_000; // a delay worth showing in amber
const SCHEDULE_ROWS = 4; // sessions shown per schedule column
const UNKNOWN_FAIR = 4404; // close code: the store holds no such fair

const boardState = {
  t: null,
  lang: "vi",
  data: {},
  epoch: null,
  lastSeq: null,
  serverTime: null,
  delayMs: null,
  silenceMs: silenceLimit(null),
  conn: "connecting",
  stale: false,
  socket: null,
  socketOpenedAt: 0,
  lastMessageAt: 0,
  attempt: 0,
  reconnectTimer: null,
  banners: [],
  bannerTimer: null,
};

/* Count-up: a total rolls from the value on screen to the new one. */

const shownValue = new WeakMap();
const tweens = new Map();
let tweenFrame = null;

function countTo(el, to, format) {
  const from = shownValue.get(el);
  // Size the tile for the final text first, so the rolling digits never resize it.
  el.textContent = format(to);
  fitText(el);
  shownValue.set(el, to);
  if (!Number.isFinite(from) || !Number.isFinite(to) || from === to || document.hidden) {
    tweens.delete(el);
    return;
  }
  tweens.set(el, { from, to, start: performance.now(), format });
  el.textContent = format(from);
  if (tweenFrame === null) tweenFrame = requestAnimationFrame(stepTweens);
}

function stepTweens(now) {
  tweenFrame = null;
  for (const [el, tween] of tweens) {
    const progress = Math.min(1, (now - tween.start) / COUNT_MS);
    const eased = 1 - (1 - progress) ** 3;
    el.textContent = tween.format(progress >= 1 ? tween.to : tween.from + (tween.to - tween.from) * eased);
    if (progress >= 1) tweens.delete(el);
  }
  if (tweens.size) tweenFrame = requestAnimationFrame(stepTweens);
}

/* Lists: rows are keyed, so a row that changes rank slides to its new place. */

function sessionLabel(s) {
  const [main, sub = ""] = [s.shop, s.host, s.title].filter(Boolean);
  return { main: main || s.session_id, sub };
}

function sessionName(s) {
  return (s && (s.shop || s.host || s.title || s.session_id)) || DASH;
}

const rankColumn = { cls: "rank", head: "colRank", value: (_, i) => String(i + 1) };
// The arrow itself is drawn by CSS from the row's rank-up / rank-down class.
const moveColumn = { cls: "move", head: null, value: () => "" };

const LISTS = {
  top_sessions_gmv: {
    el: "list-sessions-gmv",
    rows: 10,
    key: (s) => s.session_id,
    share: (s) => s.gmv_vnd,
    columns: [
      rankColumn,
      moveColumn,
      { cls: "name", head: "colShop", value: sessionLabel },
      { cls: "province", head: "colProvince", value: (s) => s.province || DASH },
      { cls: "money", head: "colGmv", value: (s) => formatVnd(s.gmv_vnd, boardState.lang) },
      { cls: "count", head: "colViewersNow", value: (s) => formatCount(s.viewers_now, boardState.lang) },
    ],
  },
  top_sessions_viewers: {
    el: "list-sessions-viewers",
    rows: 5,
    key: (s) => s.session_id,
    share: (s) => s.viewers_now,
    columns: [
      rankColumn,
      moveColumn,
      { cls: "name", head: "colSession", value: (s) => sessionLabel(s).main },
      { cls: "count", head: "colViewersNow", value: (s) => formatCount(s.viewers_now, boardState.lang) },
    ],
  },
  top_products: {
    el: "list-products",
    rows: 5,
    key: (p) => p.product_id,
    columns: [
      rankColumn,
      moveColumn,
      { cls: "name", head: "colProduct", value: (p) => p.name || p.product_id },
      { cls: "stars", head: null, value: (p) => stars(p.stars) },
      { cls: "count", head: "colUnits", value: (p) => formatCount(p.units, boardState.lang) },
    ],
  },
  top_provinces: {
    el: "list-provinces",
    rows: 5,
    key: (p) => p.province,
    share: (p) => p.gmv_vnd,
    columns: [
      rankColumn,
      moveColumn,
      { cls: "name", head: "colProvince", value: (p) => p.province || DASH },
      { cls: "money", head: "colGmv", value: (p) => formatVnd(p.gmv_vnd, boardState.lang) },
    ],
  },
};

function makeCell(cls, text) {
  const cell = document.createElement("span");
  cell.className = `cell ${cls.split(" ").map((c) => `cell--${c}`).join(" ")}`;
  if (text !== undefined) cell.textContent = text;
  return cell;
}

function makeRow(spec, empty) {
  const row = document.createElement("div");
  row.className = empty ? "row is-empty" : "row";
  for (const col of spec.columns) row.append(makeCell(col.cls));
  return row;
}

function buildList(spec, t) {
  spec.root = document.getElementById(spec.el);
  spec.root.style.setProperty("--rows", String(spec.rows));
  spec.head = document.createElement("div");
  spec.head.className = "row row--head";
  for (const col of spec.columns) spec.head.append(makeCell(col.cls, col.head ? t[col.head] : ""));
  spec.fillers = Array.from({ length: spec.rows }, () => makeRow(spec, true));
  spec.byKey = new Map();
  spec.ranks = null;
  spec.root.replaceChildren(spec.head, ...spec.fillers);
}

// Whether the cell's text changed.
function setCell(cell, value) {
  const text = typeof value === "string" ? value : `${value.main}\n${value.sub}`;
  if (cell.dataset.text === text) return false;
  cell.dataset.text = text;
  if (typeof value === "string") cell.textContent = value;
  else cell.replaceChildren(makeCell("main", value.main), makeCell("sub", value.sub));
  return true;
}

// Each column (of ``columns``, default all) set at one size down the list, the size its
// longest text needs.
function fitColumns(spec, columns = spec.columns.map((_, c) => c)) {
  const rows = [...spec.byKey.values()];
  for (const c of columns) fitTogether(rows.map((row) => row.children[c]));
}

function markMove(row, direction) {
  row.classList.remove("rank-up", "rank-down");
  row.classList.add(`rank-${direction}`);
  row.dataset.move = direction;
  clearTimeout(row.moveTimer);
  row.moveTimer = setTimeout(() => {
    row.classList.remove("rank-up", "rank-down");
    delete row.dataset.move;
  }, ARROW_MS);
}

function fillList(spec, items) {
  const list = Array.isArray(items) ? items.slice(0, spec.rows) : [];
  const top = spec.share && list.length ? Math.max(1, spec.share(list[0])) : 1;
  const before = new Map();
  for (const [key, row] of spec.byKey) before.set(key, row.getBoundingClientRect().top);
  const ranks = new Map();
  const changed = new Set();
  const rows = list.map((item, i) => {
    const key = String(spec.key(item));
    ranks.set(key, i);
    let row = spec.byKey.get(key);
    if (!row) {
      row = makeRow(spec, false);
      row.dataset.key = key;
      spec.byKey.set(key, row);
    }
    spec.columns.forEach((col, c) => {
      if (setCell(row.children[c], col.value(item, i))) changed.add(c);
    });
    // The bar behind a row shows its size relative to the leader.
    const share = spec.share ? Math.max(0, Math.min(1, spec.share(item) / top)) : 0;
    row.style.setProperty("--share", `${(share * 100).toFixed(1)}%`);
    return row;
  });
  for (const [key, row] of spec.byKey) {
    if (!ranks.has(key)) {
      clearTimeout(row.moveTimer);
      spec.byKey.delete(key);
    }
  }
  spec.root.replaceChildren(spec.head, ...rows, ...spec.fillers.slice(0, spec.rows - rows.length));
  fitColumns(spec, [...changed]);
  const previous = spec.ranks;
  rows.forEach((row, i) => {
    const key = row.dataset.key;
    // Arrows only against an earlier frame: the first one has nothing to compare with.
    if (previous && previous.size) {
      const was = previous.get(key);
      if (was === undefined || was > i) markMove(row, "up");
      else if (was < i) markMove(row, "down");
    }
    const oldTop = before.get(key);
    if (oldTop === undefined) {
      if (previous && previous.size) row.animate(ARRIVE, { duration: MOVE_MS });
      return;
    }
    const dy = oldTop - row.getBoundingClientRect().top;
    if (Math.abs(dy) > 0.5) row.animate(moveFrames(dy), { duration: MOVE_MS });
  });
  spec.ranks = ranks;
}

// A moved row fades out where it was and in where it lands, never drawn in between,
// so at any instant every row on screen is at its old rank or its new one and no two
// rows' text overlap. A new row appears with the others' landing.
const ARRIVE = [{ opacity: 0 }, { opacity: 0, offset: 0.5 }, { opacity: 1 }];

function moveFrames(dy) {
  const lift = `translateY(${dy}px)`;
  return [
    { transform: lift, opacity: 1 },
    { transform: lift, opacity: 0, offset: 0.45, easing: "steps(1, end)" },
    { transform: "none", opacity: 0, offset: 0.5 },
    { transform: "none", opacity: 1 },
  ];
}

/* Rendering: one renderer per top-level board key, so a change re-renders only what it carries. */

// Shrinks a one-line text (a big number, a title) until it fits its box; a kiosk has
// nobody to notice a clipped digit.
function fitText(el) {
  el.style.fontSize = "";
  const overflow = el.scrollWidth / el.clientWidth;
  if (overflow > 1) {
    const base = parseFloat(getComputedStyle(el).fontSize);
    el.style.fontSize = `${Math.floor(base / overflow)}px`;
  }
}

const FIT_STEP = 0.92;
const FIT_TRIES = 16;

function overflows(el) {
  return el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight;
}

// Sets a text that may wrap (a name, a banner) smaller, step by step, until it fits its
// box in both directions.
function fitBox(el) {
  el.style.fontSize = "";
  if (!el.clientWidth || !overflows(el)) return;
  let size = parseFloat(getComputedStyle(el).fontSize);
  for (let i = 0; i < FIT_TRIES && overflows(el); i += 1) {
    size *= FIT_STEP;
    el.style.fontSize = `${size.toFixed(2)}px`;
  }
}

// Fits each of ``els`` and then sets them all at the smallest size, so that a list
// reads evenly rather than one long name standing out in small type.
function fitTogether(els) {
  if (!els.length) return;
  // All written, then all read: one layout for the lot when nothing overflows.
  for (const el of els) el.style.fontSize = "";
  const over = els.filter((el) => el.clientWidth && overflows(el));
  if (!over.length) return;
  for (const el of over) fitBox(el);
  const size = Math.min(...els.map((el) => parseFloat(getComputedStyle(el).fontSize)));
  for (const el of els) el.style.fontSize = `${size}px`;
}

// Every box that fits its text, fitted again: after the typeface has loaded, or the
// screen changed size.
function refit() {
  for (const el of document.querySelectorAll(".stat__value, .brand__title, .brand__place, .recent, .campaign__figures")) fitText(el);
  for (const spec of Object.values(LISTS)) fitColumns(spec);
  fitTogether([...document.querySelectorAll(".slot__name")]);
  fitBox(document.getElementById("banner-text"));
  renderChart();
}

// "Cần Giờ, TP.HCM · 25/11 08:00–21:00", and whether the fair is yet to come or over.
function fairPlace(fair, t) {
  if (!fair) return "";
  const parts = [fair.place];
  if (fair.start && fair.end) {
    parts.push(`${formatDay(fair.start)} ${formatTimeOfDay(fair.start)}–${formatTimeOfDay(fair.end)}`);
  }
  if (fair.status === "upcoming") parts.push(t.fairUpcoming);
  if (fair.status === "ended") parts.push(t.fairEnded);
  return parts.filter(Boolean).join(" · ");
}

function renderFair(fair) {
  const t = boardState.t;
  const title = (fair && fair.title) || t.defaultTitle;
  const titleEl = document.getElementById("fair-title");
  const placeEl = document.getElementById("fair-place");
  titleEl.textContent = title;
  placeEl.textContent = fairPlace(fair, t);
  fitText(titleEl);
  fitText(placeEl);
  document.getElementById("stage").dataset.fairStatus = (fair && fair.status) || "";
  document.title = title;
}

function renderCampaign(campaign) {
  const el = document.getElementById("campaign");
  const figures = document.getElementById("campaign-figures");
  figures.textContent = formatCampaign(campaign, boardState.lang);
  fitText(figures);
  el.classList.toggle("is-set", Boolean(campaign));
}

function slotItem(entry) {
  const item = document.createElement("li");
  item.className = "slot";
  item.dataset.key = entry.session_id;
  const time = document.createElement("span");
  time.className = "slot__time";
  time.textContent = `${formatTimeOfDay(entry.scheduled_start)}–${formatTimeOfDay(entry.scheduled_end)}`;
  const name = document.createElement("span");
  name.className = "slot__name";
  name.textContent = entry.shop || entry.host || entry.title || entry.session_id;
  item.append(time, name);
  return item;
}

// Live now and next up in start order, ended with the latest first; a column that
// holds more than fits says how many more there are.
function renderSchedule(schedule) {
  const t = boardState.t;
  const all = Array.isArray(schedule) ? schedule : [];
  const groups = {
    live: all.filter((s) => s.status === "live"),
    next: all.filter((s) => s.status === "next"),
    ended: all.filter((s) => s.status === "ended").reverse(),
  };
  for (const [status, entries] of Object.entries(groups)) {
    document.getElementById(`count-${status}`).textContent = formatCount(entries.length, boardState.lang);
    const fits = entries.length > SCHEDULE_ROWS ? SCHEDULE_ROWS - 1 : SCHEDULE_ROWS;
    const items = entries.slice(0, fits).map(slotItem);
    if (entries.length > fits) {
      const more = document.createElement("li");
      more.className = "slot slot--more";
      more.textContent = t.more(entries.length - fits);
      items.push(more);
    }
    document.getElementById(`schedule-${status}`).replaceChildren(...items);
  }
  fitTogether([...document.querySelectorAll(".slot__name")]);
}

function showNotice(text) {
  const notice = document.getElementById("notice");
  notice.textContent = text || "";
  notice.hidden = !text;
}

const TOTALS = {
  gmv_vnd: formatVnd,
  orders: formatCount,
  views: formatCount,
  viewers_now: formatCount,
  unique_viewers: formatCount,
};

function renderTotals(totals) {
  for (const [key, format] of Object.entries(TOTALS)) {
    const el = document.getElementById(`total-${key}`);
    if (totals) countTo(el, totals[key], (v) => format(v, boardState.lang));
    else el.textContent = DASH;
  }
}

function renderWindows(windows) {
  const recent = windows && windows["5m"];
  const el = document.getElementById("recent");
  el.textContent = recent
    ? boardState.t.recent(formatVnd(recent.gmv_vnd, boardState.lang), formatCount(recent.views, boardState.lang))
    : "";
  fitText(el);
}

function renderChart() {
  drawSeriesChart(document.getElementById("chart"), boardState.data.series, boardState.lang);
}

const RENDERERS = {
  fair: renderFair,
  campaign: renderCampaign,
  schedule: renderSchedule,
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
  const { t, conn, stale, serverTime, delayMs, lang } = boardState;
  const time = serverTime === null ? null : formatClock(serverTime);
  document.getElementById("stage").classList.toggle("is-stale", stale);
  document.getElementById("conn").dataset.state = stale ? "stale" : conn;
  document.getElementById("conn-label").textContent = t[conn];
  document.getElementById("updated").textContent = stale ? t.stale(time) : time ? t.updated(time) : "";
  const delay = document.getElementById("delay");
  delay.textContent = !stale && delayMs !== null ? t.delay(formatAge(delayMs, lang)) : "";
  delay.classList.toggle("is-late", delayMs !== null && delayMs > LATE_MS);
}

/* Banners: milestones and overtakes the server detected, one at a time. */

function bannerText(banner) {
  const words = boardState.t.banner;
  if (banner.kind === "lead") return words.lead(sessionName(banner.session));
  if (banner.kind === "session_milestone") return words.session(sessionName(banner.session), banner.value);
  if (banner.kind === "milestone" && words[banner.metric]) return words[banner.metric](banner.value);
  return null;
}

function queueBanners(banners) {
  for (const banner of banners || []) {
    const text = bannerText(banner);
    if (text) boardState.banners.push({ kind: banner.kind, text });
  }
  // A burst (a reconnect replaying many changes) keeps only the newest few.
  boardState.banners.splice(0, Math.max(0, boardState.banners.length - BANNER_QUEUE));
  if (boardState.bannerTimer === null) showNextBanner();
}

function showNextBanner() {
  const el = document.getElementById("banner");
  const next = boardState.banners.shift();
  if (!next) {
    el.classList.remove("is-shown");
    boardState.bannerTimer = null;
    return;
  }
  const text = document.getElementById("banner-text");
  text.textContent = next.text;
  el.dataset.kind = next.kind;
  el.classList.add("is-shown");
  fitBox(text);
  boardState.bannerTimer = setTimeout(showNextBanner, BANNER_MS);
}

/* Connection: the server speaks first; a gap in seq means resuming from the last seq seen. */

// The page's ?fair=ID picks the fair whose board this screen shows (else the fair on now).
function pageFair() {
  return new URLSearchParams(location.search).get("fair");
}

function boardSocketUrl() {
  const { epoch, lastSeq } = boardState;
  const query = new URLSearchParams();
  const fair = pageFair();
  if (fair !== null) query.set("fair", fair);
  if (new URLSearchParams(location.search).has("screen")) query.set("screen", new URLSearchParams(location.search).get("screen"));
  if (epoch && lastSeq !== null) {
    query.set("epoch", epoch);
    query.set("seq", String(lastSeq));
  }
  const text = query.toString();
  return socketUrl(`/ws/board${text ? `?${text}` : ""}`);
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
  let opened = false;
  ws.onopen = () => {
    opened = true;
  };
  ws.onclose = (event) => {
    if (ws !== boardState.socket) return;
    boardState.socket = null;
    if (event.code === UNKNOWN_FAIR) {
      // Said once, then asked again slowly: the catalog may name the fair later.
      showNotice(boardState.t.unknownFair(pageFair() || ""));
      boardState.attempt = 16;
    } else if (!opened && pageFair() !== null) {
      explainRefusal(pageFair());
    }
    scheduleReconnect();
  };
}

// A socket refused before it opened gives the page no reason; the API says whether the
// fair id itself is the problem (400: not an id, 404: no such fair).
async function explainRefusal(fair) {
  try {
    const response = await fetch(`/api/board?fair=${encodeURIComponent(fair)}`);
    if (response.status === 400 || response.status === 404) {
      showNotice(boardState.t.unknownFair(fair));
      boardState.attempt = 16;
    }
  } catch {
    // The server is away: the reconnect loop and the stale header already say so.
  }
}

function scheduleReconnect() {
  if (boardState.reconnectTimer !== null) return;
  const delay = backoffDelay(boardState.attempt);
  boardState.attempt = Math.min(boardState.attempt + 1, 16);
  boardState.reconnectTimer = setTimeout(connect, delay);
  setConn("reconnecting");
}

function dropSocket() {
  const ws = boardState.socket;
  boardState.socket = null;
  if (ws) ws.close();
  scheduleReconnect();
}

function sendAck() {
  const ws = boardState.socket;
  if (ws && ws.readyState === WebSocket.OPEN && boardState.lastSeq !== null) {
    ws.send(JSON.stringify({ type: "ack", seq: boardState.lastSeq }));
  }
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
  else if (msg.type === "reload") location.reload();
  window.dispatchEvent(new CustomEvent("ocop:board", { detail: boardState.data }));
}

function noteDelay(serverTime, newestEventMs) {
  if (Number.isFinite(newestEventMs)) boardState.delayMs = Math.max(0, serverTime - newestEventMs);
}

function markLive() {
  boardState.stale = false;
  boardState.attempt = 0;
  setConn("live");
}

function applySnapshot(msg) {
  showNotice("");
  boardState.data = msg.board || {};
  boardState.epoch = msg.epoch || null;
  boardState.lastSeq = msg.seq;
  boardState.serverTime = msg.server_time;
  boardState.silenceMs = silenceLimit(msg.heartbeat_ms);
  noteDelay(msg.server_time, boardState.data.newest_event_ms);
  renderKeys(Object.keys(RENDERERS));
  markLive();
  sendAck();
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
  if ("newest_event_ms" in changes) noteDelay(msg.server_time, changes.newest_event_ms);
  renderKeys(Object.keys(changes));
  queueBanners(msg.banners);
  if (boardState.stale || boardState.conn !== "live") markLive();
  else renderStatus();
}

function applyHeartbeat(msg) {
  // A heartbeat ahead of our seq means a change went missing on the way: resume.
  if (boardState.lastSeq !== null && msg.seq !== boardState.lastSeq) {
    dropSocket();
    return;
  }
  boardState.serverTime = msg.server_time;
  if (boardState.stale || boardState.conn !== "live") {
    markLive();
    sendAck();
  } else {
    renderStatus();
  }
}

// Browsers can take minutes to notice a dead TCP connection, so silence itself is the signal.
function watchdog() {
  const now = performance.now();
  const limit = boardState.silenceMs;
  const socketSilentFor = now - Math.max(boardState.lastMessageAt, boardState.socketOpenedAt);
  if (boardState.socket && socketSilentFor > limit) dropSocket();
  if (!boardState.stale && now - boardState.lastMessageAt > limit) {
    boardState.stale = true;
    renderStatus();
  }
}

function startBoard() {
  boardState.t = pickLang(BOARD_STRINGS);
  boardState.lang = document.documentElement.lang;
  boardState.lastMessageAt = performance.now();
  applyStaticStrings(boardState.t);
  for (const spec of Object.values(LISTS)) buildList(spec, boardState.t);
  renderKeys(Object.keys(RENDERERS));
  new ResizeObserver(renderChart).observe(document.getElementById("chart"));
  window.addEventListener("resize", refit);
  document.fonts.addEventListener("loadingdone", refit);
  setInterval(watchdog, WATCHDOG_TICK_MS);
  setInterval(sendAck, ACK_MS);
  connect();
  renderStatus();
}

if (document.body.dataset.page === "board") startBoard();
