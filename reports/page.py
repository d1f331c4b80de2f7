"""The report as one self-contained HTML page (pure): CSS inline, charts as data: URIs.

Nothing on the page is fetched: it opens from a mail attachment or a USB stick as it
opens here, and Chromium prints it to A4 (``reports/pdf.py``). Every figure cell carries
its exact number in ``data-value`` (and its field in ``data-field``) next to the text a
person reads, so a test or a partner's script can take the numbers back out.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from html import escape
from importlib.resources import files

from reports.deadletters import REASON_TEXT, DeadLetterSummary
from reports.figures import Figures, Headline, ProductLine, ProvinceLine, SessionLine
from reports.formats import (
    DASH,
    EN_DASH,
    format_campaign,
    format_count,
    format_date,
    format_headline,
    format_hours,
    format_moment,
    format_slot,
    format_vnd,
)

CSS = files("reports").joinpath("report.css").read_text(encoding="utf-8")
STATUS = {"live": "đang diễn ra", "upcoming": "sắp diễn ra", "ended": "đã kết thúc"}
STAT_COLUMNS = 4  # report.css's .stats grid
CHART_ALT = {"revenue.png": "Doanh thu mỗi 15 phút", "views.png": "Lượt xem mỗi 15 phút"}


def _text(value: object) -> str:
    return escape(value) if isinstance(value, str) and value else DASH


def _cell(field: str, value: int, text: str) -> str:
    return f'<td class="num" data-field="{field}" data-value="{value}">{text}</td>'


def _count(field: str, value: int) -> str:
    return _cell(field, value, format_count(value))


def _vnd(field: str, value: int) -> str:
    return _cell(field, value, format_vnd(value))


def _head(columns: Iterable[tuple[str, str]]) -> str:
    """``<colgroup>`` and ``<thead>`` of (label, class) columns; a ``num`` class aligns
    right, a ``w-*`` class fixes the width (``report.css``)."""
    cols = "".join(f'<col class="{cls}">' for _, cls in columns)
    heads = "".join(f'<th class="{cls}">{label}</th>' for label, cls in columns)
    return f"<colgroup>{cols}</colgroup><thead><tr>{heads}</tr></thead>"


def _stat(field: str, value: int, label: str, *, money: bool = False, span: int = 1) -> str:
    shown = format_headline(value) + (" ₫" if money else "")
    exact = format_count(value) + (" ₫" if money else "")
    extra = f'<span class="stat__exact">{exact}</span>' if exact != shown else ""
    wide = f' style="grid-column: span {span}"' if span > 1 else ""
    return (f'<div class="stat" data-field="{field}" data-value="{value}"{wide}>'
            f'<span class="stat__value">{shown}</span>{extra}'
            f'<span class="stat__label">{label}</span></div>')


def _stats(headline: Headline) -> str:
    tiles = [_stat("sessions", headline.sessions, "phiên có số liệu")]
    if headline.fairs is not None:
        tiles.append(_stat("fairs", headline.fairs, "ngày hội chợ"))
    tiles += [
        _stat("provinces", headline.provinces, "tỉnh, thành"),
        _stat("views", headline.views, "lượt xem"),
        _stat("unique_viewers", headline.unique_viewers, "người xem"),
        _stat("orders", headline.orders, "đơn hàng"),
    ]
    # Revenue, the figure partners look for first, fills the last row.
    tiles.append(_stat("gmv_vnd", headline.gmv_vnd, "doanh thu", money=True,
                       span=STAT_COLUMNS - len(tiles) % STAT_COLUMNS))
    return f'<section class="stats" id="stats">{"".join(tiles)}</section>'


def _headline_text(headline: Headline) -> str:
    return format_campaign(sessions=headline.sessions, provinces=headline.provinces,
                           views=headline.views, gmv_vnd=headline.gmv_vnd)


def _masthead(figures: Figures) -> str:
    if figures.scope == "fair":
        eyebrow = "Báo cáo hội chợ"
        where = [figures.place or "", format_hours(figures.start_ms, figures.end_ms),
                 STATUS.get(figures.status or "", "")]
    else:
        eyebrow = "Báo cáo chiến dịch"
        played = sum(1 for line in figures.fairs if line.sessions)
        where = [f"{format_count(played)} ngày hội chợ",
                 f"{format_date(figures.start_ms)} {EN_DASH} {format_date(figures.end_ms)}"
                 if figures.start_ms is not None and figures.end_ms is not None else ""]
    place = " · ".join(escape(part) for part in where if part and part != DASH)
    return (f'<header class="masthead"><p class="eyebrow">{eyebrow}</p>'
            f'<h1 id="title">{escape(figures.title)}</h1>'
            f'<p class="where" id="where">{place}</p>'
            f'<p class="headline" id="headline">{_headline_text(figures.headline)}</p>'
            "</header>")


def _charts(charts: Mapping[str, bytes], campaign: bool) -> str:
    caption = ("Mỗi cụm cột là một ngày hội chợ, mỗi cột 15 phút (giờ Việt Nam), tổng các "
               "phiên của ngày đó." if campaign else
               "Mỗi cột là 15 phút (giờ Việt Nam), tổng các phiên của hội chợ.")
    parts = []
    for name, data in charts.items():
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        parts.append(f'<figure><h2>{CHART_ALT[name]}</h2>'
                     f'<img class="chart" data-chart="{name}" src="{uri}" '
                     f'alt="{CHART_ALT[name]}"><figcaption>{caption}</figcaption></figure>')
    return f'<section class="charts" id="charts">{"".join(parts)}</section>'


def _fairs_table(figures: Figures) -> str:
    rows = []
    for line in figures.fairs:
        status = STATUS.get(line.status, line.status)
        rows.append(
            f'<tr data-fair="{escape(line.fair_id)}">'
            f'<td>{format_date(line.start_ms)}'
            f'<span class="sub">{escape(status)}</span></td>'
            f'<td>{_text(line.title)}<span class="sub">{_text(line.place)}</span></td>'
            f'{_count("sessions", line.sessions)}{_count("views", line.views)}'
            f'{_count("unique_viewers", line.unique_viewers)}{_count("orders", line.orders)}'
            f'{_vnd("gmv_vnd", line.gmv_vnd)}</tr>')
    c = figures.campaign
    rows.append(
        '<tr class="total" data-fair="">'
        '<td></td><td>Toàn chiến dịch</td>'
        f'{_count("sessions", c.sessions)}{_count("views", c.views)}'
        f'{_count("unique_viewers", c.unique_viewers)}{_count("orders", c.orders)}'
        f'{_vnd("gmv_vnd", c.gmv_vnd)}</tr>')
    head = _head([("Ngày", "w-date"), ("Hội chợ", ""), ("Phiên", "num w-s"),
                  ("Lượt xem", "num w-m"), ("Người xem", "num w-m"), ("Đơn", "num w-m"),
                  ("Doanh thu", "num w-l")])
    return (f'<section id="fairs"><h2>Từng ngày hội chợ</h2>'
            f'<table class="fairs">{head}<tbody>{"".join(rows)}</tbody></table>'
            '<p class="hint">Người xem của cả chiến dịch đếm mỗi người một lần, nên nhỏ hơn '
            "tổng của các ngày khi khán giả quay lại.</p></section>")


def _sessions_table(sessions: list[SessionLine]) -> str:
    rows = []
    for n, line in enumerate(sessions, 1):
        rows.append(
            f'<tr data-session="{escape(line.session_id)}"><td class="num">{n}</td>'
            f'<td>{format_slot(line.start_ms, line.end_ms)}</td>'
            f'<td>{_text(line.shop)}<span class="sub">{_text(line.host)}</span></td>'
            f'<td>{_text(line.province)}</td>'
            f'{_count("views", line.views)}{_count("orders", line.orders)}'
            f'{_count("units", line.units)}{_vnd("gmv_vnd", line.gmv_vnd)}</tr>')
    head = _head([("#", "num w-n"), ("Giờ", "w-time"), ("Gian hàng · người dẫn", ""),
                  ("Tỉnh", "w-prov"), ("Lượt xem", "num w-m"), ("Đơn", "num w-s"),
                  ("Đã bán", "num w-s"), ("Doanh thu", "num w-l")])
    return (f'<section id="sessions"><h2>Các phiên của hội chợ</h2>'
            f'<table class="sessions">{head}<tbody>{"".join(rows)}</tbody></table>'
            "</section>")


def _top_sessions(sessions: list[SessionLine], campaign: bool) -> str:
    rows = []
    for n, line in enumerate(sessions, 1):
        where = f'<span class="sub">{_text(line.fair_title)}</span>' if campaign else ""
        rows.append(
            f'<tr data-session="{escape(line.session_id)}"><td class="num">{n}</td>'
            f'<td>{_text(line.shop)}{where}</td><td>{_text(line.province)}</td>'
            f'{_count("views", line.views)}{_count("orders", line.orders)}'
            f'{_vnd("gmv_vnd", line.gmv_vnd)}</tr>')
    head = _head([("#", "num w-n"), ("Gian hàng", ""), ("Tỉnh", "w-prov"),
                  ("Lượt xem", "num w-m"), ("Đơn", "num w-s"), ("Doanh thu", "num w-l")])
    body = "".join(rows) or '<tr><td colspan="6">Chưa có phiên nào có doanh thu.</td></tr>'
    return (f'<section id="top-sessions"><h2>Phiên dẫn đầu doanh thu</h2>'
            f'<table>{head}<tbody>{body}</tbody></table></section>')


def _top_products(products: list[ProductLine]) -> str:
    rows = []
    for n, line in enumerate(products, 1):
        stars = f' <span class="stars">{"★" * max(0, min(5, line.stars))}</span>' \
            if line.stars else ""
        rows.append(
            f'<tr data-product="{escape(line.product_id)}"><td class="num">{n}</td>'
            f'<td>{_text(line.name)}{stars}</td><td>{_text(line.shop)}</td>'
            f'{_count("units", line.units)}{_vnd("gmv_vnd", line.gmv_vnd)}</tr>')
    head = _head([("#", "num w-n"), ("Sản phẩm OCOP", ""), ("Gian hàng", "w-shop"),
                  ("Đã bán", "num w-s"), ("Doanh thu", "num w-l")])
    body = "".join(rows) or '<tr><td colspan="5">Chưa có sản phẩm nào được bán.</td></tr>'
    return (f'<section id="top-products"><h2>Sản phẩm bán chạy</h2>'
            f'<table>{head}<tbody>{body}</tbody></table></section>')


def _provinces(provinces: list[ProvinceLine]) -> str:
    whole = sum(line.gmv_vnd for line in provinces)
    rows = []
    for line in provinces:
        name = "Chưa có trong danh mục" if line.province == "?" else escape(line.province)
        share = f"{line.gmv_vnd / whole * 100:.1f} %".replace(".", ",") if whole else DASH
        rows.append(
            f'<tr data-province="{escape(line.province)}"><td>{name}</td>'
            f'{_count("sessions", line.sessions)}{_count("views", line.views)}'
            f'{_count("orders", line.orders)}{_vnd("gmv_vnd", line.gmv_vnd)}'
            f'<td class="num">{share}</td></tr>')
    head = _head([("Tỉnh, thành (hiện nay)", ""), ("Phiên", "num w-s"),
                  ("Lượt xem", "num w-m"), ("Đơn", "num w-m"), ("Doanh thu", "num w-l"),
                  ("Tỷ trọng", "num w-s")])
    body = "".join(rows) or '<tr><td colspan="6">Chưa có số liệu.</td></tr>'
    return (f'<section id="provinces"><h2>Theo tỉnh, thành</h2>'
            f'<table>{head}<tbody>{body}</tbody></table>'
            '<p class="hint">Theo đơn vị hành chính từ 1/7/2025: một phiên ghi "Bắc Kạn" '
            "được tính vào Thái Nguyên.</p></section>")


def _dead_letters(summary: DeadLetterSummary) -> str:
    if summary.problem is not None:
        body = f'<p class="note" id="dlq-problem">{escape(summary.problem)}</p>'
    elif not summary.total:
        body = '<p id="dlq-none">Không có bản ghi lỗi nào.</p>'
    else:
        mine = summary.of_members
        rows = []
        for reason, n in sorted(summary.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            text = REASON_TEXT.get(reason, "")
            own = "" if mine is None else _count("of_members", mine[reason])
            rows.append(f'<tr data-reason="{escape(reason)}"><td>{escape(text) or DASH}'
                        f'<span class="sub"><code>{escape(reason)}</code></span></td>'
                        f'{_count("dead_letters", n)}{own}</tr>')
        own_head = [] if mine is None else [("Của các phiên này", "num w-l")]
        head = _head([("Lý do", ""), ("Bản ghi", "num w-m"), *own_head])
        body = f'<table class="dlq">{head}<tbody>{"".join(rows)}</tbody></table>'
        if summary.unreadable:
            body += (f'<p class="hint">Thêm {format_count(summary.unreadable)} bản ghi không '
                     "đọc được (không do ocop-live ghi).</p>")
    return (f'<section id="dead-letters"><h2>Bản ghi lỗi (dead letters)</h2>{body}'
            f'<p class="hint">Từ topic <code>{escape(summary.topic)}</code>. Bản ghi lỗi '
            "không được tính vào số liệu nào ở trên; xem từng bản ghi bằng "
            "<code>ocop-live dlq show</code>.</p></section>")


def _notes(figures: Figures) -> str:
    newest = (f"; sự kiện mới nhất đã tính lúc {format_moment(figures.newest_event_ms)}"
              if figures.newest_event_ms is not None else "")
    context = ""
    if figures.scope == "fair":
        context = (f"<li>Toàn chiến dịch: {_headline_text(figures.campaign)} "
                   f"({format_count(figures.campaign.fairs or 0)} ngày hội chợ).</li>")
    return (
        '<footer class="notes" id="notes"><ul>'
        f"<li>Số liệu đọc lúc {format_moment(figures.as_of_ms)} (giờ Việt Nam){newest}, cùng "
        "nguồn và cùng cách tính với bảng điều khiển tại hội chợ.</li>"
        f"{context}"
        "<li>Phiên có số liệu: phiên có ít nhất một lượt xem hoặc đơn được tính. Người xem: "
        "số người khác nhau, ước lượng bằng HyperLogLog (sai số chuẩn 0,81 %), không bao giờ "
        "lớn hơn lượt xem.</li>"
        "<li>Doanh thu: các đơn đã đặt hoặc đã thanh toán; đơn hủy hay hoàn tiền được trừ. "
        "Trên biểu đồ, một đơn luôn nằm ở 15 phút nó được đặt.</li>"
        "</ul></footer>")


def render(figures: Figures, charts: Mapping[str, bytes], dead_letters: DeadLetterSummary
           ) -> str:
    """The whole page."""
    campaign = figures.scope == "campaign"
    sections = [
        _masthead(figures),
        _stats(figures.headline),
        _charts(charts, campaign),
        _fairs_table(figures) if campaign else _sessions_table(figures.sessions),
        _provinces(figures.provinces),
        _top_sessions(figures.top_sessions, campaign),
        _top_products(figures.top_products),
        _dead_letters(dead_letters),
        _notes(figures),
    ]
    kind = "chiến dịch" if campaign else "hội chợ"
    fair = f' data-fair="{escape(figures.fair_id)}"' if figures.fair_id is not None else ""
    return (
        '<!doctype html>\n<html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(figures.title)} {EN_DASH} báo cáo {kind}</title>"
        f"<style>{CSS}</style></head>"
        f'<body><main class="sheet" data-scope="{figures.scope}"{fair}>'
        f'{"".join(sections)}</main></body></html>\n')
