"""Run one service of the assistant: ``python -m services.serve {rasa,actions,web,notifier}``.

The launcher (``python -m services.run``), the Docker image, compose and Helm start
every service through here, so each gets the same protections wherever it runs:

- no secret on a command line (``ps`` shows every process's arguments to every
  local user): Rasa receives its API token in-process, the rest is read from
  the environment;
- bodies over the limit are refused with 413 as soon as their size is
  announced, before they are read: Rasa ``SANIC_REQUEST_MAX_SIZE`` (300 KB),
  the action server ``ACTION_MAX_BODY`` (1 MiB), the web app 300 KB;
- the action server listens on ``ACTION_HOST`` (127.0.0.1 unless told
  otherwise) and answers only Rasa: everything but ``/health`` needs
  ``Authorization: Bearer $ACTION_SERVER_TOKEN`` (bot/endpoints.yml sends it),
  ``/webhook`` takes JSON only, and a deflate body is inflated no further than
  ``ACTION_MAX_BODY``.

Ports, hosts and secrets come from bot/settings.py; ``ASSISTANT_SERVICE`` is set
to the service's name, so in production it needs only its own secrets.
"""

from __future__ import annotations

import argparse
import hmac
import os
import sys
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Optional

from bot import settings as settings_module

if TYPE_CHECKING:  # Sanic and pluggy load with the service that needs them, not with this module
    import pluggy
    from sanic import HTTPResponse, Request, Sanic
    from sanic.exceptions import SanicException

    Middleware = Callable[[Request], Coroutine[Any, Any, Optional[HTTPResponse]]]

ROOT = settings_module.PROJECT_ROOT
SERVICES = ("rasa", "actions", "web", "notifier")
WEB_MAX_BODY = 300 * 1024  # the web app refuses more than 256 KB itself (MAX_CONTENT_LENGTH)
WEB_THREADS = 8


class ServeError(RuntimeError):
    """The service cannot start as configured."""


def _rasa_hookimpl() -> pluggy.HookimplMarker:
    import pluggy

    return pluggy.HookimplMarker("rasa")


def rasa_token_plugin(token: str) -> Any:
    """A Rasa CLI plugin that hands ``rasa run`` its API token in-process (no ``--auth-token`` in argv)."""
    hookimpl = _rasa_hookimpl()

    class RasaToken:
        @hookimpl
        def configure_commandline(self, cmdline_arguments: argparse.Namespace) -> None:
            cmdline_arguments.auth_token = token

    return RasaToken()


def rasa_argv(config: settings_module.Settings, model: Path, endpoints: Path, credentials: Path) -> list[str]:
    """The ``rasa run`` arguments: everything but the token, which the plugin adds."""
    argv = [
        "rasa",
        "run",
        "--model",
        str(model),
        "--endpoints",
        str(endpoints),
        "--credentials",
        str(credentials),
        "--port",
        str(config.rasa_port),
        "--enable-api",
    ]
    if config.cors_origins:
        argv += ["--cors", *config.cors_origins]  # one flag, all origins: a repeated --cors keeps only the last
    return argv


def serve_rasa(config: settings_module.Settings, model: Path, endpoints: Path, credentials: Path) -> None:
    """Run ``rasa run`` in this process with the token passed in-process and the body limit set."""
    if not config.rasa_auth_token:
        raise ServeError("RASA_AUTH_TOKEN is not set: Rasa's HTTP API would be open")
    if not config.action_server_token:
        raise ServeError("ACTION_SERVER_TOKEN is not set: Rasa could not call the action server")
    if not model.is_file():
        raise ServeError(f"no model at {str(model)!r}; run make train")
    # Sanic reads SANIC_* when Rasa creates its app; the value is settings' (validated) one
    os.environ["SANIC_REQUEST_MAX_SIZE"] = str(config.rasa_max_body)
    from rasa.plugin import plugin_manager

    plugin_manager().register(rasa_token_plugin(config.rasa_auth_token))
    sys.argv = rasa_argv(config, model, endpoints, credentials)  # what Rasa parses; /proc/<pid>/cmdline keeps ours
    from rasa.__main__ import main

    main()


def inflate(body: bytes, limit: int) -> Optional[bytes]:
    """Inflate an HTTP ``deflate`` (zlib) body, stopping after ``limit`` bytes; None if it does not fit."""
    inflater = zlib.decompressobj()
    data = inflater.decompress(body, limit + 1)  # zlib.error on a corrupt stream
    if len(data) > limit:
        return None
    if not inflater.eof:
        raise zlib.error("truncated deflate stream")
    return data


def action_server_guard(token: str, max_body: int) -> Middleware:
    """A Sanic request middleware that lets only Rasa (holding ``token``) use the action server."""
    from sanic import response

    expected = token.encode()

    async def only_rasa(request: Request) -> HTTPResponse | None:
        if request.path == "/health":  # the launcher's and Rasa's liveness check: no data either way
            return None
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer ":
            return response.json({"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(header[7:].strip().encode("utf-8", "replace"), expected):
            return response.json({"error": "forbidden"}, status=403)
        if request.method != "POST":
            return None
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":  # text/plain would be a CORS "simple request" from any page
            return response.json({"error": "body must be application/json"}, status=415)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding == "deflate":  # what Rasa sends with COMPRESS_ACTION_SERVER_REQUEST=true
            try:
                body = inflate(request.body or b"", max_body)
            except zlib.error:
                return response.json({"error": "body is not valid deflate data"}, status=400)
            if body is None:
                return response.json({"error": "body too large"}, status=413)
            request.body = body
            del request.headers["content-encoding"]  # rasa_sdk would inflate it again, without a limit
        elif encoding != "identity":
            return response.json({"error": "unsupported content encoding"}, status=415)
        return None

    return only_rasa


def action_server_plugin(token: str, max_body: int) -> Any:
    """A rasa_sdk plugin: body limit and :func:`action_server_guard` on the action server's Sanic app."""
    import pluggy

    hookimpl = pluggy.HookimplMarker("rasa_sdk")
    guard = action_server_guard(token, max_body)

    async def http_error(request: Request, exception: SanicException) -> HTTPResponse:
        # rasa_sdk answers every exception with a 500 and a traceback in the log: keep Sanic's own status
        # for what Sanic refuses itself (413 body too large, 404, 405)
        from sanic import response

        return response.json({"error": str(exception)}, status=exception.status_code)

    class ActionServerGuard:
        @hookimpl
        def attach_sanic_app_extensions(self, app: Sanic) -> None:
            from sanic.exceptions import SanicException

            app.config.REQUEST_MAX_SIZE = max_body
            app.register_middleware(guard, "request")
            app.error_handler.add(SanicException, http_error)

    return ActionServerGuard()


def serve_actions(config: settings_module.Settings) -> None:
    """Run rasa_sdk's action server (the project's ``actions`` package) behind the guard."""
    if not config.action_server_token:
        raise ServeError("ACTION_SERVER_TOKEN is not set: the action server would answer anyone")
    from rasa_sdk.__main__ import main_from_args
    from rasa_sdk.endpoint import create_argument_parser
    from rasa_sdk.plugin import plugin_manager

    os.environ["SANIC_HOST"] = config.action_host  # rasa_sdk's only way to choose the address (default 0.0.0.0)
    plugin_manager().register(action_server_plugin(config.action_server_token, config.action_max_body))
    main_from_args(create_argument_parser().parse_args(["--actions", "actions", "--port", str(config.action_port)]))


def serve_web(config: settings_module.Settings) -> None:
    """Run the web app under waitress, refusing oversized bodies before buffering them."""
    import waitress

    from web import create_app

    waitress.serve(
        create_app(config),
        listen=f"{config.web_host}:{config.web_port}",
        threads=WEB_THREADS,
        max_request_body_size=WEB_MAX_BODY,
    )


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    services = parser.add_subparsers(dest="service", required=True, metavar="{" + ",".join(SERVICES) + "}")
    rasa = services.add_parser("rasa", help="the Rasa server: channels and the HTTP API")
    rasa.add_argument("--model", type=Path, help="model archive (default: RASA_MODEL or models/assistant.tar.gz)")
    rasa.add_argument("--endpoints", type=Path, default=ROOT / "bot" / "endpoints.yml")
    rasa.add_argument("--credentials", type=Path, default=ROOT / "bot" / "credentials.yml")
    services.add_parser("actions", help="the action server (custom actions)")
    services.add_parser("web", help="the web app: widget, demo page, console")
    notifier = services.add_parser("notifier", help="the outbox worker (see python -m notifier.worker --help)")
    notifier.add_argument("options", nargs=argparse.REMAINDER, help="passed to notifier.worker")
    args = parser.parse_args(argv)
    from bot import quiet

    quiet.install()  # before the libraries that warn are imported
    os.environ["ASSISTANT_SERVICE"] = args.service
    try:
        config = settings_module.current()  # read (and checked) once, here, for the whole process
        if args.service == "rasa":
            from tools import train

            model = args.model or (Path(config.rasa_model) if config.rasa_model else train.MODEL_PATH)
            serve_rasa(config, model, args.endpoints, args.credentials)
        elif args.service == "actions":
            serve_actions(config)
        elif args.service == "web":
            serve_web(config)
        else:
            from notifier import worker as notify

            return notify.main(args.options)
    except (settings_module.SettingsError, ServeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
