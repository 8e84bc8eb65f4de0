"""Regenerate bot/lexicon/cities.yml (city and district names → province) from the package cpca.

cpca (PyPI, MIT licence) ships the national administrative divisions as resources/adcodes.csv
(12-digit code, name). This script reads that file without importing cpca (whose import needs
pandas and pyahocorasick) and writes, for every province, the names that point to it:

- every prefecture-level city, league and autonomous prefecture, full and short
  (苏州市/苏州, 延边朝鲜族自治州/延边, 大兴安岭地区/大兴安岭);
- every district and county of the four municipalities, full and short (浦东新区/浦东, 海淀区/海淀);
- county-level cities, full and short (昆山市/昆山), and other districts and counties by their
  full name (滨江区), where the name points to a single province.

A name that points to two provinces (南山区, 朝阳) is left out, and so is a short form that is a
common word rather than a place name in jieba's dictionary (合作市 → not 合作).

Usage: ``pip download cpca==0.5.5 --no-deps -d /tmp/cpca && unzip /tmp/cpca/*.whl -d /tmp/cpca``
then ``python scripts/make_cities.py --csv /tmp/cpca/cpca/resources/adcodes.csv``; with cpca
installed, ``python scripts/make_cities.py`` finds the file itself.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bot" / "lexicon" / "cities.yml"
PACKAGE = "cpca"
MUNICIPALITIES = {"11", "12", "31", "50"}
OUTSIDE = {"71", "81", "82"}  # Taiwan, Hong Kong, Macao: no provincial communications administration
PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
# a short form that jieba knows as one of these is a place name, not a common word
PLACE_TAGS = {"ns", "nr", "nrt", "nz"}
COMMON_WORD_FREQUENCY = 3000  # … unless it is this frequent (和平, 东方 are words first)
# names that are ordinary words or brands in a visitor's message (阿里云, 金山云, 来宾, 东区)
EXCLUDED = {"阿里", "金山", "来宾", "石柱", "海伦", "东区", "西区", "矿区", "新县", "南县", "古县", "城区", "郊区"}
SUFFIXES = ("特别行政区", "自治州", "自治县", "自治旗", "新区", "地区", "林区", "特区", "市", "区", "县", "盟", "旗")


def find_csv() -> Path:
    """Locate cpca's adcodes.csv in its installed distribution."""
    try:
        distribution = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        sys.exit(f"{PACKAGE} is not installed: pass --csv (see this script's docstring)")
    return Path(distribution.locate_file("cpca/resources/adcodes.csv"))


def nations(csv_path: Path) -> list[str]:
    """The 56 ethnic groups' names (from cpca beside adcodes.csv), with and without 族, longest first."""
    names = [
        line.strip()
        for line in (csv_path.parent / "56_nations.csv").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    forms = {n for name in names for n in (name, name.removesuffix("族")) if len(n) >= 2}
    return sorted(forms, key=len, reverse=True)


def short_form(name: str, ethnic: list[str]) -> str:
    """苏州市 → 苏州, 延边朝鲜族自治州 → 延边, 浦东新区 → 浦东; '' when too short to be safe."""
    short = name
    for suffix in SUFFIXES:
        if short.endswith(suffix) and len(short) > len(suffix):
            short = short[: -len(suffix)]
            break
    cut = min((short.find(n) for n in ethnic if short.find(n) > 0), default=-1)
    if cut > 0:
        short = short[:cut]
    return short if len(short) >= 2 and short != name else ""


def jieba_words() -> dict[str, tuple[int, str]]:
    import jieba

    words = {}
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 3:
                words[parts[0]] = (int(parts[1]), parts[2])
    return words


def is_place_word(word: str, dictionary: dict[str, tuple[int, str]]) -> bool:
    if word not in dictionary:
        return True
    frequency, tag = dictionary[word]
    return tag in PLACE_TAGS and frequency < COMMON_WORD_FREQUENCY


def build(csv_path: Path) -> dict[str, list[str]]:
    with csv_path.open(encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    names = {row["adcode"]: row["name"].strip() for row in rows}
    ethnic, dictionary = nations(csv_path), jieba_words()
    provinces = {code[:2]: name for code, name in names.items() if code[2:] == "0" * 10}
    candidates: dict[str, set[str]] = defaultdict(set)  # name → provinces it points to

    def add(name: str, province: str) -> None:
        if name and name not in PLACEHOLDERS and name not in EXCLUDED and name != province:
            candidates[name].add(province)

    for code, name in names.items():
        prov_code = code[:2]
        if prov_code in OUTSIDE or prov_code not in provinces or name in PLACEHOLDERS or code[2:] == "0" * 10:
            continue
        province = provinces[prov_code]
        prefecture = code[4:] == "0" * 8
        county = not prefecture and code[6:] == "0" * 6
        if not (prefecture or county):
            continue
        short = short_form(name, ethnic)
        if prefecture or prov_code in MUNICIPALITIES:
            add(name, province)
            if short and (prefecture or is_place_word(short, dictionary)):
                add(short, province)
        elif name.endswith("市"):  # county-level city
            add(name, province)
            if short and is_place_word(short, dictionary):
                add(short, province)
        else:
            add(name, province)
    table: dict[str, list[str]] = defaultdict(list)
    for name, where in candidates.items():
        if len(where) == 1 and name not in provinces.values():
            table[next(iter(where))].append(name)
    return {province: sorted(table[province]) for province in sorted(table)}


def render(table: dict[str, list[str]], version: str) -> str:
    lines = [
        "# City and district names → province, for the EntityRuler (bot/plugins/nlu/entities.py).",
        f"# Generated by scripts/make_cities.py from {PACKAGE} {version} (resources/adcodes.csv, MIT licence):",
        "# do not edit by hand; regenerate. A name that points to two provinces is left out.",
        f"source: {PACKAGE} {version}",
        "province:",
    ]
    for province, names in table.items():
        lines.append(f"  {province}: [{', '.join(names)}]")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, help="cpca's resources/adcodes.csv (default: the installed package's)")
    parser.add_argument("--version", default=None, help="the cpca version the file comes from")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    csv_path = args.csv or find_csv()
    version = args.version
    if version is None:
        try:
            version = metadata.version(PACKAGE)
        except metadata.PackageNotFoundError:
            version = "0.5.5"
    table = build(csv_path)
    args.out.write_text(render(table, version), encoding="utf-8")
    print(f"wrote {sum(len(v) for v in table.values())} names for {len(table)} provinces to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
