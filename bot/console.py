"""Staff accounts and API tokens.

    python -m bot.console create-user NAME --role admin|agent   (password from stdin)
    python -m bot.console create-token NAME                      (prints the token on its last line)
"""
from __future__ import annotations

import argparse
import getpass
import sys

from bot import db, leads, migrate, settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.console", description="Staff accounts and API tokens.")
    commands = parser.add_subparsers(dest="command", required=True)
    user = commands.add_parser("create-user", help="create a staff user; the password is read from stdin")
    user.add_argument("name")
    user.add_argument("--role", choices=leads.ROLES, required=True)
    token = commands.add_parser("create-token", help="create an API token for /console/api/")
    token.add_argument("name")
    args = parser.parse_args(argv)
    url = settings.load().database_url
    migrate.upgrade(url)
    if args.command == "create-user":
        password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        try:
            with db.session_scope(url) as session:
                leads.create_user(args.name, args.role, password, session=session)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"created {args.role} {args.name}")
        return 0
    with db.session_scope(url) as session:
        value = leads.create_token(args.name, session=session)
    print(f"token for {args.name} (shown once):")
    print(value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
