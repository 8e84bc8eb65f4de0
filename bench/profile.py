"""Where a turn's time goes: py-spy samples of the Rasa process, summed per stage.

``Sampler`` runs ``py-spy record --format raw`` against a running process for as
long as its ``with`` block lasts; ``stages`` reads the collapsed stacks and
returns each stage's share of the samples spent handling messages. A stage is
recognised by the functions on the stack (file and function name), so stages
may overlap: a stage can sit inside another, as in py-spy's own flame graphs.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

RATE = 200  # samples a second: enough for a few thousand samples per profiled run, little overhead


@dataclass(frozen=True)
class Stage:
    name: str
    # (function, file) pairs: a frame matches when its function is ``function`` ("" for any) and its file
    # path ends with ``file`` (py-spy writes paths relative to site-packages, others in full)
    frames: tuple[tuple[str, str], ...]


# a sample counts as a turn's work when one of these is on its stack (Rasa's MessageProcessor)
TURN = Stage("turn", (("handle_message", "rasa/core/processor.py"), ("parse_message", "rasa/core/processor.py")))
# the stages of issue #24's table, in the order a turn meets them
STAGES = (
    Stage("NLU parse (DIET, featurisers, entities, retrieval)", (("parse_message", "rasa/core/processor.py"),)),
    Stage(
        "tracker store: read the conversation, rebuild the tracker",
        (("retrieve", "rasa/core/tracker_store.py"), ("retrieve", "bot/plugins/tracker_store.py")),
    ),
    Stage(
        "tracker store: write the new events",
        (("save", "rasa/core/tracker_store.py"), ("save", "bot/plugins/tracker_store.py")),
    ),
    Stage(
        "states over the history (past_states, applied_events)",
        (
            ("states_for_tracker_history", "rasa/shared/core/domain.py"),
            ("states_for_tracker_history", "bot/plugins/history.py"),
            ("applied_events", ""),
        ),
    ),
    Stage("RulePolicy", (("", "rasa/core/policies/rule_policy.py"),)),
    Stage("MemoizationPolicy", (("", "rasa/core/policies/memoization.py"),)),
    Stage("TEDPolicy (TensorFlow)", (("", "rasa/core/policies/ted_policy.py"),)),
    Stage(
        "custom action call (tracker serialised, sent, answer checked)",
        (("run", "rasa/core/actions/action.py"), ("_action_call_format", ""), ("multi_request", "")),
    ),
    Stage("SQLAlchemy statement cache keys (_gen_cache_key)", (("_gen_cache_key", ""),)),
)


def frames(stack: str) -> list[tuple[str, str]]:
    """``name (path:line);…`` as (name, path) pairs."""
    found = []
    for frame in stack.split(";"):
        name, _, where = frame.partition(" (")
        found.append((name.strip(), where.rsplit(":", 1)[0]))
    return found


def matches(stage: Stage, stack: list[tuple[str, str]]) -> bool:
    return any(
        (not function or name == function) and path.endswith(file)
        for name, path in stack
        for function, file in stage.frames
    )


def available() -> bool:
    """Whether py-spy is installed (``pip install -e '.[dev]'`` installs it)."""
    return shutil.which("py-spy") is not None or (Path(sys.executable).parent / "py-spy").exists()


def _executable() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else "py-spy"


class Sampler:
    """Sample process ``pid`` with py-spy while the block runs; ``counts`` then holds the collapsed stacks."""

    def __init__(self, pid: int, rate: int = RATE) -> None:
        self.pid = pid
        self.rate = rate
        self.counts: dict[str, int] = {}
        self._folder = tempfile.TemporaryDirectory(prefix="bench-profile-")
        self._output = Path(self._folder.name) / "stacks.txt"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sampler:
        # --nonblocking: read the stacks without pausing Rasa, so the profiled turns run at their own speed
        self._process = subprocess.Popen(
            [
                _executable(),
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(self._output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        process = self._process
        if process is not None:
            process.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._output.exists():
            self.counts = collapsed(self._output.read_text(errors="replace"))
        self._folder.cleanup()


def collapsed(text: str) -> dict[str, int]:
    """Parse py-spy's raw output: one ``frame;frame;… count`` line per distinct stack."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[stack] = counts.get(stack, 0) + int(count)
    return counts


def stages(counts: dict[str, int]) -> dict[str, float]:
    """Each stage's share (%) of the samples taken while Rasa handled a message; ``turn samples`` their number."""
    parsed = {stack: frames(stack) for stack in counts}
    turn = {stack: n for stack, n in counts.items() if matches(TURN, parsed[stack])}
    total = sum(turn.values())
    shares: dict[str, float] = {}
    for stage in STAGES:
        hits = sum(n for stack, n in turn.items() if matches(stage, parsed[stack]))
        shares[stage.name] = round(100 * hits / total, 1) if total else 0.0
    shares["turn samples"] = float(total)
    return shares


def hottest(counts: dict[str, int], top: int = 10) -> list[tuple[str, float]]:
    """The functions running (innermost frame) on most turn samples, as shares (%): what to look at next."""
    seen: dict[str, int] = {}
    total = 0
    for stack, n in counts.items():
        parsed = frames(stack)
        if not matches(TURN, parsed):
            continue
        total += n
        name, path = parsed[-1]
        label = f"{name} ({path.split('site-packages/')[-1]})"
        seen[label] = seen.get(label, 0) + n
    ranked = sorted(seen.items(), key=lambda item: -item[1])[:top]
    return [(label, round(100 * n / total, 1)) for label, n in ranked]
