"""Today's provincial unit for a province name as a catalog writes it.

Vietnam merged its provinces on 1 July 2025, 63 provincial units into 34: Bắc Kạn joined
Thái Nguyên, Bắc Giang joined Bắc Ninh, Hà Giang joined Tuyên Quang, and so on. A
campaign catalog from 2023 names the old units, a newer one the new units, and people
spell them several ways ("TP.HCM", "TP. Hồ Chí Minh", "Tỉnh Bắc Giang"). One province
must never be split under two names, so everything that groups by province groups by
``province_now``::

    province_now("Bắc Kạn")          # "Thái Nguyên"
    province_now("TP. Hồ Chí Minh")  # "Hồ Chí Minh"
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9]+")


class ProvinceError(ValueError):
    """A province name that names no provincial unit, or more than one.

    ``name`` is the input::

        try:
            province_now("Atlantis")
        except ProvinceError as exc:
            exc.name  # "Atlantis"
    """

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        super().__init__(f"{name!r}: {problem}")


def _words(text: str) -> list[str]:
    """Lower-case ASCII words of ``text``, diacritics dropped ("Đắk Lắk" → dak, lak)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _WORD.findall(plain.lower())


# The library is imported on first use: it loads shapely, numpy and geopy (about 0.5 s
# and 65 MB), which every `ocop-live` command would pay at start, since they all import
# the catalog model, even those that never look a province up.
@lru_cache(maxsize=1)
def _legacy_keywords() -> dict[str, str]:
    """Keyword ("backan", "tinhbackan", "hcm") → the 63-unit province's full name."""
    # vietnamadminunits rather than vietnam-provinces: vietnam-provinces 2025.10.1 lists
    # only the 34 units of today, with no way from "Bắc Kạn" to Thái Nguyên, while
    # vietnamadminunits carries the 63-unit dataset (each unit's name keywords and
    # abbreviations such as "hcm") and converts a 63-unit address to its 34-unit successor.
    from vietnamadminunits.database import query

    rows = query("SELECT DISTINCT province, provinceKeywords FROM admin_units_legacy")
    return {keyword: str(row["province"])
            for row in rows for keyword in json.loads(row["provinceKeywords"])}


@lru_cache(maxsize=64)
def _successor(legacy: str) -> str:
    """The 34-unit province a 63-unit province (by full name) became part of."""
    from vietnamadminunits import convert_address

    unit = convert_address(legacy).short_province
    if not unit:
        raise ProvinceError(legacy, "the administrative units library has no successor for it")
    return str(unit)


@lru_cache(maxsize=1024)
def province_now(name: str) -> str:
    """Today's provincial unit (short name, with diacritics) for a 2023 or 2025 name.

    The name must name exactly one province by whole words, whatever the prefix ("Tỉnh",
    "TP.") or the accents: "Cần Giờ, TP.HCM" is TP.HCM, but "Phnom Penh" is not Hà Nội
    ("hn") and "Hà Giang, Hà Nội" names two. Raises ProvinceError otherwise.
    """
    words = _words(name)
    keywords = _legacy_keywords()
    found = {
        keywords[run]
        for start in range(len(words))
        for end in range(start + 1, len(words) + 1)
        if (run := "".join(words[start:end])) in keywords
    }
    if not found:
        raise ProvinceError(name, "not a province of Vietnam (63 units before 1 July 2025 "
                                  "or 34 after)")
    if len(found) > 1:
        raise ProvinceError(name, f"names several provinces: {', '.join(sorted(found))}")
    return _successor(found.pop())
