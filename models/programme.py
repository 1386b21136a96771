"""The two programmes share one lifecycle but name every document differently; users expect
to see their programme's own words, so the names live here, next to the enum."""

from __future__ import annotations

from enum import StrEnum


class Programme(StrEnum):
    settlement = "settlement"  # 定住自立圏
    metropolitan = "metropolitan"  # 連携中枢都市圏

    @property
    def ja(self) -> str:
        return {"settlement": "定住自立圏", "metropolitan": "連携中枢都市圏"}[self.value]

    @property
    def declaration_ja(self) -> str:
        return {"settlement": "中心市宣言", "metropolitan": "連携中枢都市宣言"}[self.value]

    @property
    def agreement_ja(self) -> str:
        return {"settlement": "定住自立圏形成協定", "metropolitan": "連携協約"}[self.value]

    @property
    def policy_ja(self) -> str:
        """A merged city forming a zone alone writes a policy (方針) instead of agreements."""
        return {"settlement": "定住自立圏形成方針", "metropolitan": "連携中枢都市圏形成方針"}[self.value]

    @property
    def vision_ja(self) -> str:
        return {"settlement": "定住自立圏共生ビジョン", "metropolitan": "連携中枢都市圏ビジョン"}[self.value]

    @property
    def hub_ja(self) -> str:
        return {"settlement": "中心市", "metropolitan": "連携中枢都市"}[self.value]
