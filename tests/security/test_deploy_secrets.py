"""F9: the operator's secrets file stays out of git and out of every image layer."""

from __future__ import annotations

import re
import subprocess

from bot.settings import PROJECT_ROOT


def test_f09_deploy_env_is_ignored_by_git():
    """F9: `cp deploy/env.example deploy/.env` never reaches a commit."""
    for path in ("deploy/.env", ".env", "web/.env"):
        result = subprocess.run(["git", "check-ignore", "-q", path], cwd=PROJECT_ROOT)
        assert result.returncode == 0, f"{path} is not git-ignored"


def _pattern(glob: str) -> re.Pattern:
    """Docker's .dockerignore syntax: ``**`` any depth, ``*`` and ``?`` within one path element."""
    out = ""
    for token in re.split(r"(\*\*/?|\*|\?)", glob.strip("/")):
        out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
    return re.compile(out + r"\Z")


def _docker_ignored(path: str) -> bool:
    """Whether ``path`` is left out of the build context (a matching directory leaves out what it holds)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pattern = _pattern(line.lstrip("!"))
        if any(pattern.match(prefix) for prefix in prefixes):
            ignored = not line.startswith("!")
    return ignored


def test_f09_deploy_env_never_enters_the_image():
    """F9: the Docker build context leaves out deploy/.env, var/ (databases, secrets) and .git."""
    for path in ("deploy/.env", ".env", "var/facts.db", "var/widget.secret", ".git/config"):
        assert _docker_ignored(path), f"{path} would be copied into the image"
    assert not _docker_ignored("bot/domain.yml")
