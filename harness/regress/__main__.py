"""`python -m harness.regress --baseline results/baselines/NAME.parquet [--current results/]
[--tolerances conf/regress/default.yaml] [--format md|json] [--update] [--include-predicted]`

Exit 0: nothing regressed. 1: something regressed. 2: bad input (nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import ConfigError
from harness.record.store import load_results, read_table, write_frame
from harness.regress.compare import compare, to_markdown
from harness.regress.rules import load_rules

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "conf" / "regress" / "default.yaml"


def _current(path: Path):
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    return read_table(path) if path.is_file() else load_results(path)


def update(baseline: Path, current) -> str:
    """Write current rows as the new baseline; refuse when any row is not ok."""
    if current.empty:
        raise ValueError("refusing to write a baseline: no current rows")
    bad = current[current["status"] != "ok"]
    if not bad.empty:
        raise ValueError(f"refusing to write {baseline}: {len(bad)} row(s) have status != ok "
                         f"({', '.join(sorted(set(bad['status'])))}); fix or remove them first")
    write_frame(current, baseline)
    return f"wrote {len(current)} row(s) to {baseline}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.regress", description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--current", type=Path, default=Path("results"))
    parser.add_argument("--tolerances", type=Path, default=DEFAULT_RULES)
    parser.add_argument("--format", choices=["md", "json"], default="md")
    parser.add_argument("--update", action="store_true", help="write current rows as the new baseline (explicit)")
    parser.add_argument("--include-predicted", action="store_true",
                        help="also compare mode=predict rows (predictions, left out by default)")
    parser.add_argument("--fail-on-missing", action="store_true", help="exit 1 when a baseline row has no current row")
    args = parser.parse_args(argv)
    try:
        current = _current(args.current)
        if args.update:
            print(update(args.baseline, current))
            return 0
        baseline = read_table(args.baseline)
        rules = load_rules(args.tolerances)
    except (ValueError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = compare(baseline, current, rules, include_predicted=args.include_predicted)
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(to_markdown(result, str(args.baseline), str(args.current)))
    failed = result.failed or (args.fail_on_missing and bool(result.missing))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
