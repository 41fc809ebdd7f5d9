"""The tolerance file: one rule per column, with per-task / per-method overrides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.errors import ConfigError
from harness.record.schema import NAMES

KINDS = ("exact", "abs", "rel")
DIRECTIONS = ("higher", "lower", "both")


@dataclass(frozen=True)
class Rule:
    kind: str
    tolerance: float = 0.0
    better: str = "both"

    def verdict(self, baseline: float, current: float) -> str:
        """'ok', 'regression' or 'improvement' for one pair of values."""
        delta = current - baseline
        if self.kind == "exact":
            return "ok" if delta == 0 else "regression"
        allowed = self.tolerance * (abs(baseline) if self.kind == "rel" else 1.0)
        if abs(delta) <= allowed:
            return "ok"
        worse = {"higher": delta < 0, "lower": delta > 0, "both": True}[self.better]
        return "regression" if worse else "improvement"


@dataclass
class Rules:
    columns: dict[str, Rule]
    overrides: list[tuple[dict, dict[str, Rule]]]

    def for_row(self, identity: dict) -> dict[str, Rule]:
        for match, columns in self.overrides:
            if all(str(identity.get(k)) == str(v) for k, v in match.items()):
                return {**self.columns, **columns}
        return self.columns


def _rules(section: dict, path: Path, where: str) -> dict[str, Rule]:
    out = {}
    for column, spec in (section or {}).items():
        if column not in NAMES:
            raise ConfigError(f"{path}: {where}.{column}: not a result column")
        if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
            raise ConfigError(f"{path}: {where}.{column}.kind: expected one of {', '.join(KINDS)}")
        if spec.get("better", "both") not in DIRECTIONS:
            raise ConfigError(f"{path}: {where}.{column}.better: expected one of {', '.join(DIRECTIONS)}")
        try:
            out[column] = Rule(spec["kind"], float(spec.get("tolerance", 0.0)), spec.get("better", "both"))
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: {where}.{column}.tolerance: expected a number") from None
    return out


def load_rules(path: str | Path) -> Rules:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read tolerance file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or "columns" not in data:
        raise ConfigError(f"{path}: expected a mapping with a 'columns' section")
    overrides = []
    for i, item in enumerate(data.get("overrides") or []):
        if not isinstance(item, dict) or not isinstance(item.get("match"), dict):
            raise ConfigError(f"{path}: overrides[{i}].match: expected a mapping of column: value")
        overrides.append((item["match"], _rules(item.get("columns"), path, f"overrides[{i}].columns")))
    return Rules(_rules(data["columns"], path, "columns"), overrides)
