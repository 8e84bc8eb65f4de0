"""微信客服 (WeCom KF) from the command line: the KF accounts, and a contact link for a scene.

Usage::

    python -m tools.kf accounts                               # the KF accounts (open_kfid and name)
    python -m tools.kf link --scene baidu_ad                  # a link (and QR code source) for that scene
    python -m tools.kf link --scene site --scene-param "page=/pricing" --open-kfid wkXXXX

The link opens the chat in WeChat; its ``scene`` and ``scene_param`` come back when the visitor enters
and are kept with the conversation and the lead (console: 微信客服, 线索). Reads the WECOM_KF_* settings.
"""

from __future__ import annotations

import argparse
import re
import sys
from urllib.parse import quote

from bot import settings
from bot.plugins.channels.wecom_kf_api import KFApi, KFError

SCENE = re.compile(r"[A-Za-z0-9_-]{1,32}")  # WeCom: letters, digits, _ and -, at most 32 bytes
MAX_SCENE_PARAM = 128  # bytes, before URL encoding


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("accounts", help="list the KF accounts")
    link = commands.add_parser("link", help="create a contact link for a scene (add_contact_way)")
    link.add_argument("--scene", required=True, help="which page or ad: letters, digits, _ and -, ≤32")
    link.add_argument("--scene-param", default="", help="a detail passed along (≤128 bytes), e.g. a keyword")
    link.add_argument("--open-kfid", default="", help="the KF account (default: the only one, or the first)")
    args = parser.parse_args(argv)
    try:
        config = settings.load()
    except settings.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kf = config.wecom_kf
    if not kf.enabled:
        print("error: the WeCom KF channel is off: set WECOM_KF_CORP_ID, _SECRET, _TOKEN and _AES_KEY", file=sys.stderr)
        return 2
    api = KFApi(kf.corp_id, kf.secret, kf.api_base, config.database_url)
    try:
        accounts = api.accounts()
        if args.command == "accounts":
            for account in accounts:
                print(f"{account.get('open_kfid')}\t{account.get('name', '')}")
            return 0
        if not SCENE.fullmatch(args.scene):
            parser.error("--scene takes 1 to 32 letters, digits, _ or -")
        if len(args.scene_param.encode("utf-8")) > MAX_SCENE_PARAM:
            parser.error(f"--scene-param is over {MAX_SCENE_PARAM} bytes")
        open_kfid = args.open_kfid or (str(accounts[0].get("open_kfid") or "") if accounts else "")
        if not open_kfid:
            print("error: no KF account: create one in WeCom (微信客服) first", file=sys.stderr)
            return 1
        url = api.contact_way(open_kfid, args.scene)
    except KFError as exc:  # errcode only: WeCom's text and the URL stay out of the terminal
        print(f"error: WeCom refused ({exc})", file=sys.stderr)
        return 1
    if args.scene_param:
        url += "&scene_param=" + quote(args.scene_param, safe="")
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
