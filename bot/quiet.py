"""Keep each service's output for its own lines and real problems.

Known third-party chatter is silenced by name, one entry at a time, so a new warning (ours above all)
still shows: the deprecations that the pinned libraries print at start-up, and rasa_sdk's per-turn
「Skipping validation for `lead_…`」 (a form slot without a validate method is how our forms are meant
to work). ``install`` runs first in every service (services/serve.py) and in the launcher; pytest's own
list is in pyproject.toml.
"""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any

# (start of the message, category): the deprecations the pinned third-party libraries print
KNOWN_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    ("pkg_resources is deprecated as an API", DeprecationWarning),
    ("Deprecated call to `pkg_resources.declare_namespace", DeprecationWarning),
    ("'BaseCommand' is deprecated", DeprecationWarning),
    ("'click.utils.get_", DeprecationWarning),
    ("Importing 'parser.split_arg_string' is deprecated", DeprecationWarning),
    ("jax.xla_computation is deprecated", DeprecationWarning),
    ("distutils Version classes are deprecated", DeprecationWarning),
    ("The explicit passing of coroutine objects to asyncio.wait() is deprecated", DeprecationWarning),
    ("the load_module() method is deprecated", DeprecationWarning),
    ("Slot auto-fill has been removed in 3.0", UserWarning),
    # TEDPolicy's default; DIET, where it matters for our intents, has it on (bot/config.yml)
    ("constrain_similarities is set to `False`", UserWarning),
)
# the same by pattern: pyparsing 3.3's renamed camelCase API, still called by packaging and matplotlib
KNOWN_PATTERNS: tuple[tuple[str, type[Warning]], ...] = ((r"'\w+' deprecated - use '\w+'", DeprecationWarning),)
# logger → starts of the messages it logs on every turn that tell nobody anything
LOG_CHATTER: dict[str, tuple[str, ...]] = {
    "rasa_sdk.forms": ("Skipping validation for",),
}


class _DropChatter(logging.Filter):
    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self._starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._starts)


def _known(message: str, category: type[Warning]) -> bool:
    return any(issubclass(category, c) and message.startswith(m) for m, c in KNOWN_WARNINGS) or any(
        issubclass(category, c) and re.match(p, message) for p, c in KNOWN_PATTERNS
    )


def install() -> None:
    """Silence the known chatter in this process (idempotent).

    Filters alone do not hold: Sanic and Rasa put their own in front when they are imported or start
    ("once" for every DeprecationWarning, every UserWarning), so the known ones are also dropped where a
    warning is shown.
    """
    for message, category in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message), category=category)
    for pattern, category in KNOWN_PATTERNS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    shown = warnings.showwarning
    if not getattr(shown, "quiet", False):

        def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if not _known(str(message), category):
                shown(message, category, *args, **kwargs)

        show.quiet = True  # type: ignore[attr-defined]
        warnings.showwarning = show
    for name, starts in LOG_CHATTER.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropChatter) for f in logger.filters):
            logger.addFilter(_DropChatter(starts))


def pythonwarnings() -> str:
    """The same warnings as a PYTHONWARNINGS value, for the processes a service starts."""
    return ",".join(f"ignore:{message}:{category.__name__}" for message, category in KNOWN_WARNINGS)
