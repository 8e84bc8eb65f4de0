"""Console screen (admin): facts — browse, edit as versions, see each version's diff, restore, export."""

from __future__ import annotations

import datetime as dt
import difflib
import io
import zipfile
from typing import Any

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.facts_files import writer as facts_files
from bot.settings import PROJECT_ROOT
from bot.store import facts
from web import context
from web.console.auth import admin_required, login_required, token_required

bp = Blueprint("console_facts", __name__, url_prefix="/console/facts")
api = Blueprint("facts_api", __name__)
STALE_AFTER = dt.timedelta(days=180)
FIELD_LABELS = {
    "question": "问题",
    "answer": "答案",
    "sources": "来源",
    "confidence": "可信度",
    "confidence_note": "可信度说明",
    "variants": "分情况答案",
    "corrections": "更正",
    "data": "结构化数据",
    "effective": "生效日期",
    "verified": "核实日期",
}
LIST_FIELDS = {"sources", "variants", "corrections", "data"}
MAX_VERSION = 2**31 - 1  # an integer column: larger numbers name no version (and overflow SQLite)


def parse_sources(text: str) -> list[dict]:
    """One source per line: ``document | article`` (the article is optional)."""
    sources = []
    for line in text.splitlines():
        if not line.strip():
            continue
        document, _, article = line.partition("|")
        if not document.strip():
            raise ValueError("each source line needs a document")
        sources.append({"document": document.strip(), "article": article.strip() or None})
    if not sources:
        raise ValueError("a fact needs at least one source")
    return sources


def fact_rows() -> list[dict]:
    today = dt.date.today()
    with context.session() as s:
        return [
            {
                "key": f.key,
                "topic": f.topic,
                "intent": f.intent,
                "question": f.question,
                "answer": f.answer,
                "sources": f.sources,
                "confidence": f.confidence,
                "version": f.version,
                "verified": f.verified_date.isoformat(),
                "stale": today - f.verified_date > STALE_AFTER,
            }
            for f in facts.all_facts(session=s)
        ]


# ---------- diffs between versions, as segments the templates escape


def _flatten(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        return [line for k, v in value.items() for line in _flatten(v, f"{prefix}{k}.")]
    return [f"{prefix.rstrip('.')}: {value}"]


def field_lines(name: str, value: Any) -> list[str]:
    """A list-like field as one line per item, for a line diff."""
    if name == "sources":
        return [s["document"] + (f" | {s['article']}" if s.get("article") else "") for s in value or []]
    if name == "variants":
        return ["，".join(f"{k}={v}" for k, v in item["when"].items()) + f" → {item['answer']}" for item in value or []]
    if name == "corrections":
        return [
            f"{c['claim']} → {c['current']}"
            + (f"（{c['since']}）" if c.get("since") else "")
            + {"misconception": "（误解）", "partial": "（部分成立）"}.get(c.get("kind") or "", "")
            for c in value or []
        ]
    return _flatten(value) if value else []


# above this product of lengths a text is shown replaced whole: a character diff costs up to that many steps,
# per version, per view (S7); 5,000-character answers edited by a few characters still get theirs
MAX_DIFF_PRODUCT = 5_000 * 5_000


def diff_segments(old: str | list[str], new: str | list[str]) -> list[tuple[str, str]]:
    """``old`` → ``new`` (strings compared by character, lists by item) as (op, text): '', 'del', 'ins'."""
    if len(old) * len(new) > MAX_DIFF_PRODUCT:
        whole: list[tuple[str, str]] = [("del", x) for x in ([old] if isinstance(old, str) else old) if x]
        return whole + [("ins", x) for x in ([new] if isinstance(new, str) else new) if x]
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out += [("", x) for x in ([old[i1:i2]] if isinstance(old, str) else old[i1:i2])]
            continue
        if op in ("delete", "replace"):
            out += [("del", x) for x in ([old[i1:i2]] if isinstance(old, str) else old[i1:i2])]
        if op in ("insert", "replace"):
            out += [("ins", x) for x in ([new[j1:j2]] if isinstance(new, str) else new[j1:j2])]
    return out


def field_diffs(before: dict | None, after: dict) -> list[dict]:
    """One entry per changed field: its label, whether it is a list, and the diff segments."""
    diffs = []
    for name in facts.changed_fields(before, after):
        old = (before or {}).get(name)
        if name in LIST_FIELDS:
            segments = diff_segments(field_lines(name, old), field_lines(name, after.get(name)))
        else:
            segments = diff_segments(old or "", after.get(name) or "")
        diffs.append({"field": name, "label": FIELD_LABELS[name], "lines": name in LIST_FIELDS, "segments": segments})
    return diffs


def version_views(key: str, session: Session) -> list[dict]:
    """The fact's versions, newest first, each with its diff to the one before."""
    rows = facts.versions(key, session=session)
    views = []
    for version, previous in zip(rows, rows[1:] + [None], strict=True):
        views.append(
            {
                "version": version.version,
                "author": version.author,
                "reason": version.reason,
                "at": version.created_at,
                "restored_from": version.restored_from,
                "content": version.content,
                "diffs": field_diffs(previous.content, version.content) if previous else [],
                "changed": facts.changed_fields(previous.content if previous else None, version.content),
            }
        )
    return views


def _fact_or_404(key: str, session: Session) -> facts.Fact:
    fact = facts.get_fact(key, session=session)
    if fact is None:
        abort(404, description="no such fact")
    return fact


def _seen(session: Session, fact: facts.Fact) -> dict | None:
    """``?seen=N`` (from a transcript): what changed between the version a visitor got and now."""
    try:
        number = int(request.args.get("seen", ""))
    except ValueError:
        return None
    if not 0 < number <= MAX_VERSION:
        return None
    old = facts.get_version(fact.key, number, session=session)
    if old is None:
        return None
    return {"version": number, "diffs": field_diffs(old.content, facts.content_of(fact))}


# ---------- screens


@bp.get("")
@login_required("admin")
def list_view() -> ResponseReturnValue:
    return render_template("console/facts.html", rows=fact_rows(), stale_days=STALE_AFTER.days)


@bp.get("/export.zip")
@login_required("admin")
def export() -> ResponseReturnValue:
    """The knowledge as data/facts/*.yml (the repository's files keep their comments), to commit."""
    with context.session() as s:
        texts, _ = facts_files.render_files(s.query(facts.Fact).all(), PROJECT_ROOT / "data" / "facts")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in sorted(texts.items()):
            archive.writestr(f"facts/{name}", text.encode("utf-8"))
    return Response(
        buffer.getvalue(), mimetype="application/zip", headers={"Content-Disposition": "attachment; filename=facts.zip"}
    )


def _form_changes() -> dict:
    verified = dt.date.fromisoformat(request.form.get("verified_date") or "")
    return {
        "sources": parse_sources(request.form.get("sources") or ""),
        "question": request.form.get("question") or "",
        "answer": request.form.get("answer") or "",
        "confidence": request.form.get("confidence"),
        "confidence_note": request.form.get("confidence_note") or "",
        "verified_date": verified,
    }


@bp.route("/<key>", methods=["GET", "POST"])
@login_required("admin")
def edit(key: str) -> ResponseReturnValue:
    error, status, base = None, 200, None
    with context.session() as s:
        fact = _fact_or_404(key, s)
        if request.method == "POST":
            try:  # the version the form was loaded at (scripts posting without it skip the check)
                base = int(request.form["base_version"]) if request.form.get("base_version") else None
            except ValueError:
                abort(400, description="the form is out of date: reload the page and edit again")
            try:
                version = facts.edit_fact(
                    key, _form_changes(), g.staff, request.form.get("reason") or "", session=s, base_version=base
                )
                s.flush()
                flash(f"已保存为 v{version.version}。" if version else "内容没有变化，未生成新版本。")
                return redirect(url_for("console_facts.edit", key=key))
            except facts.StaleVersion as exc:
                s.rollback()
                # the form keeps what was typed; saving it again (after a look at the history) is deliberate
                error, status, base = (
                    (f"这条知识已被他人修改（现为 v{exc.current}），请查看下方版本记录，确认后再保存。"),
                    409,
                    None,
                )
            except IntegrityError:
                s.rollback()
                error, status, base = "同时有另一处修改了这条知识，请查看下方版本记录后再保存。", 409, None
            except ValueError as exc:
                s.rollback()
                error, status = (
                    (str(exc) if not str(exc).startswith("Invalid isoformat") else "日期格式应为 YYYY-MM-DD"),
                    400,
                )
            fact = _fact_or_404(key, s)
        return render_template(
            "console/fact.html",
            fact=fact,
            versions=version_views(key, s),
            legacy=facts.edits(key, session=s),
            seen=_seen(s, fact),
            error=error,
            form=request.form if error else None,
            levels=facts.CONFIDENCE_LEVELS,
            base_version=fact.version if base is None else base,
        ), status


@bp.get("/<key>/versions/<int:number>")
@login_required("admin")
def version(key: str, number: int) -> ResponseReturnValue:
    if not 0 < number <= MAX_VERSION:
        abort(404, description="no such version")
    with context.session() as s:
        fact = _fact_or_404(key, s)
        views = {v["version"]: v for v in version_views(key, s)}
        if number not in views:
            abort(404, description="no such version")
        return render_template(
            "console/fact_version.html",
            fact=fact,
            v=views[number],
            to_current=field_diffs(views[number]["content"], facts.content_of(fact)),
        )


@bp.post("/<key>/versions/<int:number>/restore")
@login_required("admin")
def restore(key: str, number: int) -> ResponseReturnValue:
    if not 0 < number <= MAX_VERSION:
        abort(404, description="no such version")
    with context.session() as s:
        _fact_or_404(key, s)
        try:
            version = facts.restore_version(key, number, g.staff, request.form.get("reason") or "", session=s)
            s.flush()
        except LookupError:
            abort(404, description="no such version")
        except ValueError as exc:
            abort(400, description=str(exc))
        except IntegrityError:
            abort(409, description="另一处修改同时进行，请刷新后重试")
        flash(
            f"已恢复 v{number} 的内容，保存为 v{version.version}。"
            if version
            else f"当前内容已与 v{number} 相同，未生成新版本。"
        )
    return redirect(url_for("console_facts.edit", key=key))


@api.get("/facts")
@token_required
@admin_required
def facts_list() -> ResponseReturnValue:
    """JSON twin of /console/facts (admin)."""
    return jsonify(facts=fact_rows())


@api.get("/facts/<key>/versions")
@token_required
@admin_required
def fact_versions(key: str) -> ResponseReturnValue:
    """JSON twin of a fact's version history (admin): newest first, each with its content and changed fields."""
    with context.session() as s:
        fact = _fact_or_404(key, s)
        rows = facts.versions(key, session=s)
        out = []
        for version, previous in zip(rows, rows[1:] + [None], strict=True):
            out.append(
                {
                    **version.as_dict(),
                    "changed": facts.changed_fields(previous.content if previous else None, version.content),
                }
            )
        return jsonify(key=fact.key, version=fact.version, versions=out)
