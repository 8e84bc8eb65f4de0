"""Eligibility rules: compare what a company has with thresholds read from the facts database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

SCOPE_KEYS = {"全网": "national", "地网": "local"}


@dataclass(frozen=True)
class CapitalVerdict:
    capital: float
    scope: Optional[str]  # 全网/地网 asked about, or None when the visitor did not say
    local: float
    national: float

    @property
    def minimum(self) -> float:
        return self.national if self.scope == "全网" else self.local

    @property
    def enough(self) -> bool:
        return self.capital >= self.minimum

    @property
    def local_only(self) -> bool:
        """Enough for 地网 but not for 全网 (the common case worth saying)."""
        return self.local <= self.capital < self.national


def capital_thresholds(data: Optional[dict]) -> tuple[float, float]:
    """Return (local, national) minimum registered capital in 万元 from a fact's data."""
    minimums = (data or {}).get("capital_min_wan") or {}
    return float(minimums["local"]), float(minimums["national"])


def capital_verdict(capital: float, scope: Optional[str], data: Optional[dict]) -> CapitalVerdict:
    local, national = capital_thresholds(data)
    return CapitalVerdict(
        capital=float(capital), scope=scope if scope in SCOPE_KEYS else None, local=local, national=national
    )


def wan(amount: float) -> str:
    """Format an amount in 万 without a trailing .0."""
    return str(int(amount)) if float(amount).is_integer() else str(amount)
