"""Policy perspectives and fields (DOMAIN.md §2 and the metropolitan roles).

An agreement must name at least one initiative under each of its programme's three
perspectives; KPIs are classified by the same perspective + field, so roll-ups can count
"医療 97, 福祉 88" the way the ministry does.
"""

from __future__ import annotations

from enum import StrEnum

from .programme import Programme


class Perspective(StrEnum):
    # 定住自立圏
    living = "living"  # 生活機能の強化
    network = "network"  # 結びつきやネットワークの強化
    management = "management"  # 圏域マネジメント能力の強化
    # 連携中枢都市圏
    growth = "growth"  # 圏域全体の経済成長のけん引
    urban = "urban"  # 高次の都市機能の集積・強化
    services = "services"  # 圏域全体の生活関連機能サービスの向上


PERSPECTIVE_JA: dict[Perspective, str] = {
    Perspective.living: "生活機能の強化",
    Perspective.network: "結びつきやネットワークの強化",
    Perspective.management: "圏域マネジメント能力の強化",
    Perspective.growth: "圏域全体の経済成長のけん引",
    Perspective.urban: "高次の都市機能の集積・強化",
    Perspective.services: "圏域全体の生活関連機能サービスの向上",
}

# field letter -> Japanese label, per perspective (DOMAIN.md lists a–f / a–d).
FIELDS: dict[Perspective, dict[str, str]] = {
    Perspective.living: {
        "a": "医療",
        "b": "福祉",
        "c": "教育",
        "d": "土地利用",
        "e": "産業振興",
        "f": "その他",
    },
    Perspective.network: {
        "a": "地域公共交通",
        "b": "ICTインフラ整備",
        "c": "道路等の交通インフラ",
        "d": "地産地消",
        "e": "交流・移住",
        "f": "その他",
    },
    Perspective.management: {
        "a": "人材の育成",
        "b": "外部からの行政及び民間人材の確保",
        "c": "圏域内市町村の職員等の交流",
        "d": "その他",
    },
    Perspective.growth: {
        "a": "産学金官の共同研究・新製品開発支援",
        "b": "六次産業化支援",
        "c": "その他",
    },
    Perspective.urban: {"a": "高度な医療サービスの提供", "b": "高等教育・研究開発の環境整備", "c": "その他"},
    Perspective.services: {
        "a": "地域医療確保のための病院輪番制",
        "b": "地域公共交通ネットワークの形成",
        "c": "その他",
    },
}

PROGRAMME_PERSPECTIVES: dict[Programme, tuple[Perspective, ...]] = {
    Programme.settlement: (Perspective.living, Perspective.network, Perspective.management),
    Programme.metropolitan: (Perspective.growth, Perspective.urban, Perspective.services),
}


def field_label(perspective: Perspective, field: str) -> str:
    return FIELDS[perspective][field]


def policy_field_key(perspective: Perspective, field: str) -> str:
    """A stable key such as 'living.a' used in roll-ups and CSV files."""
    return f"{perspective.value}.{field}"
