"use strict";

/*
 * Helpers of both pages (venue board and host page): number and money formatting in
 * each language's own way (Intl.NumberFormat), times in Asia/Ho_Chi_Minh, the per-minute
 * chart, and reconnect timing. Each page loads this file before its own script.
 */

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

const NUMBER_FORMATS = new Map();

function numberFormat(locale, options) {
  const key = `${locale} ${JSON.stringify(options)}`;
  if (!NUMBER_FORMATS.has(key)) NUMBER_FORMATS.set(key, new Intl.NumberFormat(locale, options));
  return NUMBER_FORMATS.get(key);
}

function locale(lang) {
  return lang === "en" ? "en" : "vi-VN";
}

// A count the way the language writes it: 12.345 (vi) / 12,345 (en).
function formatCount(n, lang) {
  if (!Number.isFinite(n)) return DASH;
  return numberFormat(locale(lang), { maximumFractionDigits: 0 }).format(n);
}

// About three significant digits, trailing zeros dropped: 1,25 / 12,5 / 850 / 1.250.
// Rounded by toFixed first, as the reports round (9,995 → 9,99: the double is just below).
function formatScaled(x) {
  const digits = Math.abs(x) < 10 ? 2 : Math.abs(x) < 100 ? 1 : 0;
  return numberFormat("vi-VN", { maximumFractionDigits: digits }).format(Number(x.toFixed(digits)));
}

// An amount the way the language writes it: 1,25 tỷ ₫ · 850 triệu ₫ · 12.500 ₫ (vi);
// ₫1.25B · ₫850M · ₫12,500 (en).
function formatVnd(n, lang) {
  if (!Number.isFinite(n)) return DASH;
  // Halves round away from zero, as Intl.NumberFormat rounds the digits it keeps.
  const v = Math.sign(n) * Math.round(Math.abs(n));
  if (lang === "en") {
    const compact = Math.abs(v) >= 999_500;
    return numberFormat("en", {
      style: "currency", currency: "VND", currencyDisplay: "narrowSymbol",
      ...(compact ? { notation: "compact", maximumSignificantDigits: 3 } : {}),
    }).format(v);
  }
  // 999,5 triệu would round to "1.000 triệu", so it already reads as tỷ.
  if (Math.abs(v) >= 999_500_000) return `${formatScaled(v / 1e9)} tỷ ₫`;
  if (Math.abs(v) >= 1_000_000) return `${formatScaled(v / 1e6)} triệu ₫`;
  return `${formatCount(v, lang)} ₫`;
}

// HH:MM:SS in Asia/Ho_Chi_Minh.
function formatClock(ms) {
  if (!Number.isFinite(ms)) return "--:--:--";
  return new Date(ms + VN_OFFSET_MS).toISOString().slice(11, 19);
}

// HH:MM in Asia/Ho_Chi_Minh of an RFC 3339 time ("2023-11-25T08:00:00+07:00" → 08:00).
function formatTimeOfDay(text) {
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? formatClock(ms).slice(0, 5) : "--:--";
}

// DD/MM in Asia/Ho_Chi_Minh of an RFC 3339 time.
function formatDay(text) {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) return "";
  const iso = new Date(ms + VN_OFFSET_MS).toISOString();
  return `${iso.slice(8, 10)}/${iso.slice(5, 7)}`;
}

// A headline figure, one decimal at most: 100,4 tỷ · 301 triệu · 812 (vi); 100.4B (en).
function formatHeadline(n, lang) {
  if (!Number.isFinite(n)) return DASH;
  if (lang === "en") {
    return numberFormat("en", { notation: "compact", maximumFractionDigits: 1 }).format(n);
  }
  const one = numberFormat("vi-VN", { maximumFractionDigits: 1 });
  const v = Math.abs(n);
  // 999,96 triệu would round to "1.000 triệu", so it already reads as tỷ.
  if (v >= 999_950_000) return `${one.format(n / 1e9)} tỷ`;
  if (v >= 999_950) return `${one.format(n / 1e6)} triệu`;
  return formatCount(n, lang);
}

// The campaign's headline, as the organisers quote it:
// "812 phiên · 14 tỉnh · 301 triệu lượt xem · 100,4 tỷ ₫" / "… 301M views · ₫100.4B".
function formatCampaign(c, lang) {
  if (!c) return "";
  const views = formatHeadline(c.views, lang);
  if (lang === "en") {
    const gmv = numberFormat("en", {
      style: "currency", currency: "VND", currencyDisplay: "narrowSymbol",
      notation: "compact", maximumFractionDigits: 1,
    }).format(c.gmv_vnd);
    return `${formatCount(c.sessions, lang)} sessions · ${formatCount(c.provinces, lang)} provinces`
      + ` · ${views} views · ${gmv}`;
  }
  return `${formatCount(c.sessions, lang)} phiên · ${formatCount(c.provinces, lang)} tỉnh`
    + ` · ${views} lượt xem · ${formatHeadline(c.gmv_vnd, lang)} ₫`;
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
function drawSeriesChart(canvas, series, lang) {
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

  ctx.font = `600 ${fontPx}px ${getComputedStyle(canvas).fontFamily}`;
  drawGrid(ctx, plot, colors.grid);
  drawGmvBars(ctx, plot, buckets, maxGmv, colors.gmv);
  drawViewsLine(ctx, plot, buckets, maxViews, colors.views);
  // Kept on the canvas so the layout tests can check that no two labels touch.
  canvas.labelBoxes = drawChartLabels(ctx, plot, {
    endMinute, colors, height,
    gmvText: formatVnd(maxGmv, lang), viewsText: formatCount(maxViews, lang),
  });
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

// Minutes between time labels, tried from the densest; the first whose labels keep a
// gap of one label's width wins, measured in the chart's own font.
const LABEL_STEPS = [5, 10, 15, 20, 30, 60];

function drawChartLabels(ctx, plot, { endMinute, colors, height, gmvText, viewsText }) {
  if (endMinute === null) return [];
  const boxes = [];
  const place = (text, x, y, align, baseline, color) => {
    const w = ctx.measureText(text).width;
    const left = align === "left" ? x : align === "right" ? x - w : x - w / 2;
    const m = ctx.measureText(text);
    const h = m.actualBoundingBoxAscent + m.actualBoundingBoxDescent;
    const box = { text, left, right: left + w, top: baseline === "top" ? y : y - h,
                  bottom: baseline === "top" ? y + h : y };
    // A label that would touch one already drawn is left out rather than overprinted.
    const gap = ctx.measureText(" ").width;
    if (boxes.some((b) => box.left - gap < b.right && b.left < box.right + gap
        && box.top < b.bottom && b.top < box.bottom)) return;
    ctx.textAlign = align;
    ctx.textBaseline = baseline;
    ctx.fillStyle = color;
    ctx.fillText(text, x, y);
    boxes.push(box);
  };
  place(gmvText, plot.left, 0, "left", "top", colors.gmv);
  place(viewsText, plot.right, 0, "right", "top", colors.views);

  const label = (slot) => formatClock(endMinute - (CHART_MINUTES - 1 - slot) * MINUTE_MS).slice(0, 5);
  const labelWidth = ctx.measureText("00:00").width;
  const step = (plot.right - plot.left) / CHART_MINUTES;
  const every = LABEL_STEPS.find((m) => m * step >= 2 * labelWidth) || CHART_MINUTES;
  place(label(0), plot.left, height, "left", "bottom", colors.text);
  place(label(CHART_MINUTES - 1), plot.right, height, "right", "bottom", colors.text);
  for (let slot = every; slot < CHART_MINUTES - 1; slot += every) {
    place(label(slot), slotX(plot, slot), height, "center", "bottom", colors.text);
  }
  return boxes;
}

// Decimal comma for Vietnamese, point for English: 0,8 giây / 0.8 s.
function formatDecimal(x, digits, lang) {
  const text = x.toFixed(digits);
  return lang === "en" ? text : text.replace(".", ",");
}

// An age in ms as a short duration: 0,8 giây · 12 giây · 3 phút.
function formatAge(ms, lang) {
  const s = Math.max(0, ms) / 1000;
  const [sec, min] = lang === "en" ? ["s", "min"] : ["giây", "phút"];
  if (s < 10) return `${formatDecimal(s, 1, lang)} ${sec}`;
  if (s < 120) return `${Math.round(s)} ${sec}`;
  return `${Math.round(s / 60)} ${min}`;
}

function formatPercent(ratio, lang) {
  if (!Number.isFinite(ratio)) return DASH;
  const pct = ratio * 100;
  return `${formatDecimal(pct, pct < 10 ? 1 : 0, lang)} %`;
}

// Reconnect delays double from 0,5 s to 10 s, with jitter so that every screen in the
// hall does not reconnect in the same instant after an outage.
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;

function backoffDelay(attempt) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
  return Math.min(BACKOFF_MAX_MS, base * (0.8 + Math.random() * 0.4));
}

// Without a heartbeat for three periods the connection counts as lost.
function silenceLimit(heartbeatMs) {
  return Math.max(3000, 3 * (heartbeatMs || 2000));
}

function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}
