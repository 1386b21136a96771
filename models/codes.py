"""Municipality codes (全国地方公共団体コード, JIS X 0402) and prefectures (JIS X 0401).

Clerks write codes both with and without the check digit; we accept either and always store
the six-digit form so that ids, search attributes and joins agree.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

PREFECTURES: dict[str, str] = {
    "01": "北海道",
    "02": "青森県",
    "03": "岩手県",
    "04": "宮城県",
    "05": "秋田県",
    "06": "山形県",
    "07": "福島県",
    "08": "茨城県",
    "09": "栃木県",
    "10": "群馬県",
    "11": "埼玉県",
    "12": "千葉県",
    "13": "東京都",
    "14": "神奈川県",
    "15": "新潟県",
    "16": "富山県",
    "17": "石川県",
    "18": "福井県",
    "19": "山梨県",
    "20": "長野県",
    "21": "岐阜県",
    "22": "静岡県",
    "23": "愛知県",
    "24": "三重県",
    "25": "滋賀県",
    "26": "京都府",
    "27": "大阪府",
    "28": "兵庫県",
    "29": "奈良県",
    "30": "和歌山県",
    "31": "鳥取県",
    "32": "島根県",
    "33": "岡山県",
    "34": "広島県",
    "35": "山口県",
    "36": "徳島県",
    "37": "香川県",
    "38": "愛媛県",
    "39": "高知県",
    "40": "福岡県",
    "41": "佐賀県",
    "42": "長崎県",
    "43": "熊本県",
    "44": "大分県",
    "45": "宮崎県",
    "46": "鹿児島県",
    "47": "沖縄県",
}

# The prefectures of the three great metropolitan areas (三大都市圏), where a central city must
# also show that fewer than 10% of its commuters go to the special wards or a designated city.
METRO_AREA_PREFECTURES: frozenset[str] = frozenset(
    {"11", "12", "13", "14", "21", "23", "24", "26", "27", "28", "29"}
)


class CodeError(ValueError):
    """A code a clerk typed that cannot be a municipality or prefecture code."""


def check_digit(first_five: str) -> int:
    """JIS X 0402 check digit: weights 6..2, then (11 - s mod 11) mod 10."""
    s = sum(w * int(d) for w, d in zip((6, 5, 4, 3, 2), first_five, strict=True))
    return (11 - s % 11) % 10


@lru_cache(maxsize=4096)
def normalize_municipality_code(raw: str | int) -> str:
    """Return the six-digit code for a five- or six-digit input, or raise CodeError saying why.

    Cached: every MunicipalityCode field runs this whenever a model is loaded, and the worker
    loads a zone's state (its members, agreements, notices) for each projection; there are
    ~1,900 codes. A refused input raises, and raising is never cached."""
    text = str(raw).strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if not text.isdigit() or len(text) not in (5, 6):
        raise CodeError(
            f"団体コード「{raw}」は5桁または6桁の数字で入力してください "
            f"(municipality code must be 5 or 6 digits, got {raw!r})"
        )
    five = text[:5]
    if five[:2] not in PREFECTURES:
        raise CodeError(
            f"団体コード「{raw}」の都道府県部分 {five[:2]} は01〜47ではありません "
            f"(prefecture part {five[:2]} is not 01-47)"
        )
    expected = check_digit(five)
    if len(text) == 6 and int(text[5]) != expected:
        raise CodeError(
            f"団体コード「{raw}」の検査数字が誤っています。正しくは {five}{expected} です "
            f"(check digit of {raw!r} is wrong; did you mean {five}{expected}?)"
        )
    return f"{five}{expected}"


def prefecture_code_of(municipality_code: str) -> str:
    return normalize_municipality_code(municipality_code)[:2]


def prefecture_name(pref_code: str) -> str:
    return PREFECTURES[pref_code]


def normalize_prefecture(raw: str | int) -> str:
    """Accept '25', 25, '滋賀県', '滋賀' or a municipality code's prefix; return the two-digit code."""
    text = str(raw).strip()
    if text.isdigit() and 1 <= int(text) <= 47 and len(text) <= 2:
        return f"{int(text):02d}"
    for code, name in PREFECTURES.items():
        short = name if name == "北海道" else name[:-1]
        if text in (name, short):
            return code
    raise CodeError(
        f"都道府県「{raw}」が見つかりません。名称(例: 滋賀県)または2桁のコード(01〜47)で指定してください "
        f"(unknown prefecture {raw!r}; use a name such as 滋賀県 or a code 01-47)"
    )


def _municipality(v: object) -> str:
    if not isinstance(v, (str, int)):
        raise CodeError("団体コードは文字列で指定してください (municipality code must be a string)")
    return normalize_municipality_code(v)


def _prefecture(v: object) -> str:
    if not isinstance(v, (str, int)):
        raise CodeError("都道府県は文字列で指定してください (prefecture must be a string)")
    return normalize_prefecture(v)


MunicipalityCode = Annotated[str, BeforeValidator(_municipality)]
PrefectureCode = Annotated[str, BeforeValidator(_prefecture), AfterValidator(lambda v: v)]
