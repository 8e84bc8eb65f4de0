"""Load ``data/facts/*.yml`` into the facts database, and export the database back to them.

Usage::

    python -m tools.facts [PATH ...]            # load (default data/facts)
    python -m tools.facts export [--out DIR]    # write the database's facts to DIR (default data/facts)

The loading and the writing are bot/facts_files (the launcher loads and the console exports with them too).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot import settings as settings_module
from bot.facts_files.loader import FactsFileError, load_facts
from bot.facts_files.writer import export_facts


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export"]:
        return _export_main(argv[1:])
    parser = argparse.ArgumentParser(
        description="Load facts YAML files into the facts database (`export` writes the database back to them)."
    )
    parser.add_argument("paths", nargs="*", type=Path, default=[settings_module.PROJECT_ROOT / "data" / "facts"])
    parser.add_argument("--database-url", help="default: $DATABASE_URL or var/facts.db")
    args = parser.parse_args(argv)
    try:
        url = args.database_url or settings_module.load().database_url
        report = load_facts(args.paths, url)
    except (FactsFileError, settings_module.SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # database unreachable etc.: one clear line, no traceback
        print(f"error: could not load facts: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def _export_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.facts export", description="Write the facts database back to data/facts/*.yml."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=settings_module.PROJECT_ROOT / "data" / "facts",
        help="folder to write (default data/facts; its files keep their comments)",
    )
    parser.add_argument("--database-url", help="default: $DATABASE_URL or var/facts.db")
    args = parser.parse_args(argv)
    try:
        url = args.database_url or settings_module.load().database_url
        report = export_facts(url, args.out)
    except settings_module.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # database unreachable etc.: one clear line, no traceback
        print(f"error: could not export facts: {type(exc).__name__}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
