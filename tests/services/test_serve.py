"""The service entry point: Rasa's token in-process, the action server's inflate limit."""

from __future__ import annotations

import zlib

import pytest

from bot import settings
from services import serve


def test_rasa_gets_its_token_in_process_and_every_cors_origin():
    from rasa.__main__ import create_argument_parser

    config = settings.load(
        {"RASA_AUTH_TOKEN": "the-token", "RASA_PORT": "5111", "CORS_ORIGINS": "https://a.example,https://b.example"}
    )
    argv = serve.rasa_argv(
        config,
        serve.ROOT / "models" / "m.tar.gz",
        serve.ROOT / "bot" / "endpoints.yml",
        serve.ROOT / "bot" / "credentials.yml",
    )
    assert "the-token" not in argv and "--auth-token" not in argv
    args = create_argument_parser().parse_args(argv[1:])
    assert args.port == 5111 and args.enable_api
    assert args.cors == ["https://a.example", "https://b.example"]  # a repeated --cors would keep only b
    assert args.auth_token is None
    serve.rasa_token_plugin("the-token").configure_commandline(args)
    assert args.auth_token == "the-token"


def test_rasa_token_plugin_is_a_valid_rasa_hook():
    import pluggy
    from rasa import plugin

    manager = pluggy.PluginManager("rasa")
    manager.add_hookspecs(plugin)
    manager.register(serve.rasa_token_plugin("t"))  # pluggy checks the hook name and its arguments
    from argparse import Namespace

    args = Namespace(auth_token=None)
    assert manager.hook.configure_commandline(cmdline_arguments=args) == []  # no endpoints file returned
    assert args.auth_token == "t"


def test_inflate_stops_at_the_limit():
    assert serve.inflate(zlib.compress(b'{"a": 1}'), 1024) == b'{"a": 1}'
    packer, mib = zlib.compressobj(9), b"\0" * (1024 * 1024)
    bomb = b"".join(packer.compress(mib) for _ in range(64)) + packer.flush()
    assert len(bomb) < 100 * 1024
    assert serve.inflate(bomb, 1024 * 1024) is None
    exact = zlib.compress(b"x" * 4096)
    assert serve.inflate(exact, 4096) == b"x" * 4096 and serve.inflate(exact, 4095) is None
    with pytest.raises(zlib.error):
        serve.inflate(b"not deflate", 1024)
    with pytest.raises(zlib.error):
        serve.inflate(zlib.compress(b"x" * 4096)[:-6], 1024 * 1024)  # cut short


@pytest.mark.parametrize(
    "argv, env, message",
    [
        (["actions"], {"ACTION_SERVER_TOKEN": ""}, "ACTION_SERVER_TOKEN is not set"),
        (["rasa"], {"RASA_AUTH_TOKEN": "", "ACTION_SERVER_TOKEN": "a"}, "RASA_AUTH_TOKEN is not set"),
        (["rasa"], {"RASA_AUTH_TOKEN": "r", "ACTION_SERVER_TOKEN": ""}, "ACTION_SERVER_TOKEN is not set"),
        (
            ["rasa", "--model", "/nonexistent/model.tar.gz"],
            {"RASA_AUTH_TOKEN": "r", "ACTION_SERVER_TOKEN": "a"},
            "no model at",
        ),
        (["actions"], {"APP_ENV": "production", "ACTION_SERVER_TOKEN": "a"}, "requires DATABASE_URL"),
    ],
)
def test_a_service_without_what_it_needs_refuses_to_start(monkeypatch, capsys, argv, env, message):
    monkeypatch.setenv("ASSISTANT_SERVICE", "")  # main() sets it; monkeypatch puts it back
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert serve.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_production_services_need_only_their_own_secrets():
    base = {"APP_ENV": "production", "DATABASE_URL": "postgresql://db/x"}
    strong = "9f1c2e7ab34d5f60718293a4b5c6d7e8"  # production refuses secrets under 32 characters (S5)
    assert settings.load({**base, "ASSISTANT_SERVICE": "actions", "ACTION_SERVER_TOKEN": strong})
    assert settings.load({**base, "ASSISTANT_SERVICE": "notifier", "RASA_AUTH_TOKEN": strong})
    assert settings.load({**base, "ASSISTANT_SERVICE": "facts"})
    with pytest.raises(settings.SettingsError, match="requires RASA_AUTH_TOKEN, ACTION_SERVER_TOKEN, WIDGET_SECRET$"):
        settings.load({**base, "ASSISTANT_SERVICE": "rasa"})
    with pytest.raises(settings.SettingsError, match="requires RASA_AUTH_TOKEN, WIDGET_SECRET, CONSOLE_SECRET$"):
        settings.load({**base, "ASSISTANT_SERVICE": "web"})
    with pytest.raises(settings.SettingsError, match="ASSISTANT_SERVICE must be one of"):
        settings.load({**base, "ASSISTANT_SERVICE": "everything"})
