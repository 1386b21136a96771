"""Who performs an act. The web layer maps a token to an Actor; the workflow checks that the
actor may make the act (a municipality acts only as itself), so the rule holds for every
entry point, not just HTTP."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Role(StrEnum):
    ministry = "ministry"  # 総務省 coordinator
    prefecture = "prefecture"
    municipality = "municipality"
    system = "system"  # the scheduler and the workflow itself


class Actor(BaseModel):
    role: Role
    code: str | None = Field(default=None, max_length=6)  # prefecture (2) or municipality (6)
    name: str | None = Field(default=None, max_length=100)

    def label(self) -> str:
        if self.role is Role.ministry:
            return self.name or "総務省"
        if self.role is Role.system:
            return self.name or "kenflow"
        return f"{self.name or ''}({self.code})" if self.name else str(self.code)


SYSTEM = Actor(role=Role.system, name="kenflow")
