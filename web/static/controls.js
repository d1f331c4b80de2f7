"use strict";

/* Staff controls on the venue board: the message banner and the fair goal's progress
   bar. board.js announces every board it applies ("ocop:board"); the board carries what
   staff set in Redis (web/controls.py), so every screen shows the same. */

const CONTROL_STRINGS = {
  vi: {
    goal: (percent) => `đạt ${percent} % mục tiêu`,
    pace: (time) => `dự kiến về đích ${time}`,
    reached: "đã về đích",
  },
  en: {
    goal: (percent) => `${percent}% of the goal`,
    pace: (time) => `on pace to reach it at ${time}`,
    reached: "goal reached",
  },
};

const CONTROL_CLOCK = new Intl.DateTimeFormat("en-GB", {
  timeZone: "Asia/Ho_Chi_Minh", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

function controlStrings() {
  const lang = new URLSearchParams(location.search).get("lang");
  return CONTROL_STRINGS[lang] || CONTROL_STRINGS.vi;
}

function controlElement(box, cls, tag = "div") {
  let el = box.querySelector(`.${cls}`);
  if (!el) {
    el = document.createElement(tag);
    el.className = cls;
    box.append(el);
  }
  return el;
}

function renderStaffMessage(box, message) {
  const el = controlElement(box, "controls__message", "p");
  el.id = "staff-message";
  el.hidden = !(message && message.text);
  el.textContent = el.hidden ? "" : message.text;
}

function goalText(goal, t) {
  const percent = Math.floor(Math.max(0, goal.ratio) * 100);
  if (goal.gmv_vnd >= goal.goal_vnd) return `${t.goal(percent)} · ${t.reached}`;
  if (goal.projected_finish_ms === null) return t.goal(percent);
  return `${t.goal(percent)} · ${t.pace(CONTROL_CLOCK.format(goal.projected_finish_ms))}`;
}

function renderGoal(box, goal) {
  const el = controlElement(box, "controls__goal");
  el.id = "goal";
  el.hidden = !goal;
  if (!goal) return;
  const bar = controlElement(el, "controls__bar");
  const fill = controlElement(bar, "controls__fill");
  fill.style.width = `${Math.min(100, Math.max(0, goal.ratio * 100))}%`;
  controlElement(el, "controls__text", "span").textContent = goalText(goal, controlStrings());
}

window.addEventListener("ocop:board", (event) => {
  const box = document.getElementById("controls");
  const board = event.detail || {};
  renderStaffMessage(box, board.message);
  renderGoal(box, board.goal);
  box.hidden = !(board.message && board.message.text) && !board.goal;
});
