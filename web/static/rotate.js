"use strict";

/*
 * Rotation for big screens: /board?rotate=30s shows in turn the live board, the fair's
 * summary and the campaign, each for that long, with a countdown to the next view.
 * The fair and campaign views draw the board the socket already delivers ("ocop:board",
 * board.js) and each fair's totals from GET /api/fairs, asked once a minute. The server
 * refuses any rotate= but whole seconds or minutes from 10s to 10m (web/server.py
 * parse_rotate), so a page that gets here reads a valid one.
 */

const ROTATE_STRINGS = {
  vi: {
    board: "Bảng trực tiếp",
    fair: "Tổng kết hội chợ",
    campaign: "Chiến dịch",
    next: (view) => `Tiếp theo: ${view}`,
    gmv: "Doanh thu",
    orders: "Đơn hàng",
    views: "Lượt xem",
    viewersNow: "Đang xem",
    uniqueViewers: "Người xem",
    sessions: "Phiên",
    provinces: "Tỉnh",
    ranking: "Xếp hạng doanh thu",
    schedule: "Lịch phát sóng",
    live: "Đang live",
    next_: "Sắp tới",
    ended: "Đã kết thúc",
    fairs: "Các hội chợ",
    fairCount: (n) => `${n} hội chợ`,
    status: { live: "đang diễn ra", upcoming: "sắp diễn ra", ended: "đã kết thúc" },
    more: (n) => `+ ${n} hội chợ nữa`,
  },
  en: {
    board: "Live board",
    fair: "Fair summary",
    campaign: "Campaign",
    next: (view) => `Next: ${view}`,
    gmv: "Revenue",
    orders: "Orders",
    views: "Views",
    viewersNow: "Watching now",
    uniqueViewers: "Unique viewers",
    sessions: "Sessions",
    provinces: "Provinces",
    ranking: "Revenue ranking",
    schedule: "Schedule",
    live: "Live now",
    next_: "Next up",
    ended: "Ended",
    fairs: "Fairs",
    fairCount: (n) => `${n} fairs`,
    status: { live: "live", upcoming: "upcoming", ended: "ended" },
    more: (n) => `+ ${n} more fairs`,
  },
};

const ROTATE_VIEWS = ["board", "fair", "campaign"];
const ROTATE_TICK_MS = 250;
const FAIRS_EVERY_MS = 60_000;
const RANKED_SHOWN = 5;
const FAIRS_SHOWN = 6;

const rotation = {
  periodMs: 0,
  view: 0,
  switchAt: 0,
  board: {},
  fairs: [],
  t: ROTATE_STRINGS.vi,
  lang: "vi",
};

function rotatePeriodMs() {
  const match = /^(\d{1,4})(s|m)$/.exec(new URLSearchParams(location.search).get("rotate") || "");
  if (!match) return 0;
  return Number(match[1]) * (match[2] === "m" ? 60_000 : 1000);
}

function rotateElement(tag, cls, text) {
  const el = document.createElement(tag);
  el.className = cls;
  if (text !== undefined) el.textContent = text;
  return el;
}

function rotateTile(label, value, cls = "") {
  const tile = rotateElement("div", `rotate-tile ${cls}`.trim());
  tile.append(rotateElement("span", "rotate-tile__label", label),
    rotateElement("span", "rotate-tile__value", value));
  return tile;
}

function rotatePanel(title, body) {
  const panel = rotateElement("section", "rotate-panel");
  panel.append(rotateElement("h3", "rotate-panel__title", title), body);
  return panel;
}

function rotateRow(rank, main, sub, figure) {
  const row = rotateElement("li", "rotate-row");
  const name = rotateElement("span", "rotate-row__name");
  name.append(rotateElement("span", "rotate-row__main", main));
  if (sub) name.append(rotateElement("span", "rotate-row__sub", sub));
  row.append(rotateElement("span", "rotate-row__rank", rank), name,
    rotateElement("span", "rotate-row__figure", figure));
  return row;
}

function rotateHead(view, title, sub) {
  const head = rotateElement("header", "rotate-view__head");
  head.append(rotateElement("span", "rotate-view__kicker", rotation.t[view]),
    rotateElement("h2", "rotate-view__title", title));
  if (sub) head.append(rotateElement("p", "rotate-view__sub", sub));
  return head;
}

function renderFairView(el) {
  const { t, lang, board } = rotation;
  const fair = board.fair || {};
  const totals = board.totals || {};
  const tiles = rotateElement("div", "rotate-tiles");
  tiles.append(rotateTile(t.gmv, formatVnd(totals.gmv_vnd, lang), "rotate-tile--gold"),
    rotateTile(t.orders, formatCount(totals.orders, lang)),
    rotateTile(t.views, formatCount(totals.views, lang)),
    rotateTile(t.viewersNow, formatCount(totals.viewers_now, lang)),
    rotateTile(t.uniqueViewers, formatCount(totals.unique_viewers, lang)));
  const ranking = rotateElement("ol", "rotate-list");
  (board.top_sessions_gmv || []).slice(0, RANKED_SHOWN).forEach((s, i) => {
    const label = sessionLabel(s);
    ranking.append(rotateRow(String(i + 1), label.main, label.sub, formatVnd(s.gmv_vnd, lang)));
  });
  const schedule = Array.isArray(board.schedule) ? board.schedule : [];
  const counts = rotateElement("ol", "rotate-list");
  for (const [status, label] of [["live", t.live], ["next", t.next_], ["ended", t.ended]]) {
    const entries = schedule.filter((s) => s.status === status);
    const names = entries.slice(0, 2).map(sessionName).join(" · ");
    counts.append(rotateRow("", label, names, formatCount(entries.length, lang)));
  }
  const columns = rotateElement("div", "rotate-columns");
  columns.append(rotatePanel(t.ranking, ranking), rotatePanel(t.schedule, counts));
  el.replaceChildren(rotateHead("fair", fair.title || document.title, fair.place || ""),
    tiles, columns);
}

function renderCampaignView(el) {
  const { t, lang, board, fairs } = rotation;
  const campaign = board.campaign || {};
  const tiles = rotateElement("div", "rotate-tiles rotate-tiles--four");
  tiles.append(rotateTile(t.gmv, formatVnd(campaign.gmv_vnd, lang), "rotate-tile--gold"),
    rotateTile(t.views, formatHeadline(campaign.views, lang)),
    rotateTile(t.sessions, formatCount(campaign.sessions, lang)),
    rotateTile(t.provinces, formatCount(campaign.provinces, lang)));
  const list = rotateElement("ol", "rotate-list");
  const ranked = [...fairs].sort((a, b) => ((b.totals || {}).gmv_vnd || 0) - ((a.totals || {}).gmv_vnd || 0));
  const fits = ranked.length > FAIRS_SHOWN ? FAIRS_SHOWN - 1 : FAIRS_SHOWN;
  ranked.slice(0, fits).forEach((f, i) => {
    const sub = [f.place, t.status[f.status]].filter(Boolean).join(" · ");
    list.append(rotateRow(String(i + 1), f.title || f.fair_id, sub, formatVnd((f.totals || {}).gmv_vnd, lang)));
  });
  if (ranked.length > fits) list.append(rotateRow("", t.more(ranked.length - fits), "", ""));
  const body = rotateElement("div", "rotate-columns rotate-columns--one");
  body.append(rotatePanel(t.fairs, list));
  const title = fairs.length ? t.fairCount(formatCount(fairs.length, lang)) : t.campaign;
  el.replaceChildren(rotateHead("campaign", title, ""), tiles, body);
}

function rotateContainer(view) {
  return document.getElementById(view === "board" ? "stage" : `rotate-${view}`);
}

// Only the view on screen is drawn: a hidden one has no layout to fit text in.
function renderRotateView() {
  const view = ROTATE_VIEWS[rotation.view];
  const el = rotateContainer(view);
  if (view === "fair") renderFairView(el);
  if (view === "campaign") renderCampaignView(el);
  for (const value of el.querySelectorAll(".rotate-tile__value")) fitText(value);
  el.append(document.getElementById("rotate-timer"));
}

function showRotateView(index) {
  rotation.view = index;
  const view = ROTATE_VIEWS[index];
  document.body.dataset.view = view;
  for (const other of ROTATE_VIEWS.slice(1)) rotateContainer(other).hidden = other !== view;
  renderRotateView();
  if (view === "board") refit();
}

function renderCountdown(now) {
  const left = Math.max(0, rotation.switchAt - now);
  const seconds = Math.ceil(left / 1000);
  const next = ROTATE_VIEWS[(rotation.view + 1) % ROTATE_VIEWS.length];
  document.getElementById("rotate-next").textContent = rotation.t.next(rotation.t[next]);
  document.getElementById("rotate-count").textContent =
    `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  document.getElementById("rotate-fill").style.width = `${(100 * left) / rotation.periodMs}%`;
}

function rotateTick() {
  const now = performance.now();
  if (now >= rotation.switchAt) {
    rotation.switchAt = now + rotation.periodMs;
    showRotateView((rotation.view + 1) % ROTATE_VIEWS.length);
  }
  renderCountdown(now);
}

async function fetchFairs() {
  try {
    const response = await fetch("/api/fairs");
    if (!response.ok) return;
    const fairs = await response.json();
    rotation.fairs = Array.isArray(fairs) ? fairs : [];
    if (ROTATE_VIEWS[rotation.view] === "campaign") renderRotateView();
  } catch {
    // The server is away: the board's header says so; the last list stays.
  }
}

function startRotation() {
  rotation.periodMs = rotatePeriodMs();
  if (!rotation.periodMs) return;
  rotation.lang = document.documentElement.lang === "en" ? "en" : "vi";
  rotation.t = ROTATE_STRINGS[rotation.lang];
  for (const view of ROTATE_VIEWS.slice(1)) {
    const el = rotateElement("section", "rotate-view");
    el.id = `rotate-${view}`;
    el.hidden = true;
    document.body.append(el);
  }
  const timer = rotateElement("div", "rotate-timer");
  timer.id = "rotate-timer";
  const bar = rotateElement("span", "rotate-timer__bar");
  const fill = rotateElement("span", "rotate-timer__fill");
  fill.id = "rotate-fill";
  bar.append(fill);
  const next = rotateElement("span", "rotate-timer__next");
  next.id = "rotate-next";
  const count = rotateElement("span", "rotate-timer__count");
  count.id = "rotate-count";
  timer.append(next, count, bar);
  document.body.append(timer);
  window.addEventListener("ocop:board", (event) => {
    rotation.board = event.detail || {};
    if (ROTATE_VIEWS[rotation.view] !== "board") renderRotateView();
  });
  rotation.switchAt = performance.now() + rotation.periodMs;
  showRotateView(0);
  renderCountdown(performance.now());
  fetchFairs();
  setInterval(fetchFairs, FAIRS_EVERY_MS);
  setInterval(rotateTick, ROTATE_TICK_MS);
}

startRotation();
