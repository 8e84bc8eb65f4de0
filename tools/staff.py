"""Staff accounts and API tokens: the command operators call as ``python -m bot.console`` (bot/console.py).

python -m bot.console create-user NAME --role admin|agent   (password from stdin)
python -m bot.console set-role NAME --role admin|agent      (open sessions get it at their next request)
python -m bot.console set-password NAME                     (password from stdin; ends the user's sessions)
python -m bot.console delete-user NAME                      (ends the user's sessions)
python -m bot.console list-users
python -m bot.console create-token NAME [--role agent|admin] (prints the token on its last line)
python -m bot.console list-tokens
python -m bot.console revoke-token NAME
"""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy.orm import Session

from bot import db, migrate, settings
from bot.store import staff


def _password() -> str:
    return getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.console", description="Staff accounts and API tokens.")
    commands = parser.add_subparsers(dest="command", required=True)
    user = commands.add_parser("create-user", help="create a staff user; the password is read from stdin")
    user.add_argument("name")
    user.add_argument("--role", choices=staff.ROLES, required=True)
    role = commands.add_parser("set-role", help="change a user's role (effective at their next request)")
    role.add_argument("name")
    role.add_argument("--role", choices=staff.ROLES, required=True)
    password = commands.add_parser("set-password", help="set a new password (stdin) and end the user's sessions")
    password.add_argument("name")
    delete = commands.add_parser("delete-user", help="delete a user and end their sessions")
    delete.add_argument("name")
    commands.add_parser("list-users", help="list staff users and their roles")
    token = commands.add_parser("create-token", help="create an API token for /console/api/")
    token.add_argument("name")
    token.add_argument(
        "--role",
        choices=staff.ROLES,
        default="agent",
        help="agent (default): no facts, masked phones; admin: everything",
    )
    commands.add_parser("list-tokens", help="list live API tokens (names and roles; tokens are never stored)")
    revoke = commands.add_parser("revoke-token", help="revoke the API token with this name")
    revoke.add_argument("name")
    return parser


def _run(args: argparse.Namespace, session: Session) -> str:
    """Do the command; return what to print. ValueError means a refusal with a clear message."""
    if args.command == "create-user":
        staff.create_user(args.name, args.role, _password(), session=session)
        return f"created {args.role} {args.name}"
    if args.command == "set-role":
        staff.set_role(args.name, args.role, session=session)
        return f"{args.name} is now {args.role}"
    if args.command == "set-password":
        staff.set_password(args.name, _password(), session=session)
        return f"password of {args.name} changed; their sessions are ended"
    if args.command == "delete-user":
        staff.delete_user(args.name, session=session)
        return f"deleted {args.name}"
    if args.command == "list-users":
        return (
            "\n".join(f"{u.name}\t{u.role}\t{u.created_at:%Y-%m-%d}" for u in staff.list_users(session=session))
            or "no users"
        )
    if args.command == "create-token":
        value = staff.create_token(args.name, role=args.role, session=session)
        return f"token for {args.name} ({args.role}, shown once):\n{value}"
    if args.command == "list-tokens":
        return (
            "\n".join(f"{t.name}\t{t.role}\t{t.created_at:%Y-%m-%d}" for t in staff.list_tokens(session=session))
            or "no live tokens"
        )
    if not staff.revoke_token(args.name, session=session):
        raise ValueError(f"no live token named {args.name!r}")
    return f"revoked the token {args.name}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    url = settings.load().database_url
    migrate.upgrade(url)
    try:
        with db.session_scope(url) as session:
            output = _run(args, session)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
