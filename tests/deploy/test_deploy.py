"""The deployment files: secrets without defaults, scale-out settings, only public paths exposed."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
SECRETS = [
    "POSTGRES_PASSWORD",
    "DB_OWNER_PASSWORD",
    "DB_RASA_PASSWORD",
    "DB_APP_PASSWORD",
    "REDIS_PASSWORD",
    "RASA_AUTH_TOKEN",
    "ACTION_SERVER_TOKEN",
    "WIDGET_SECRET",
    "CONSOLE_SECRET",
]
# the secrets each service may hold (F15: least privilege); the database URL goes to every one
OWN_SECRETS = {
    "rasa": {
        "REDIS_URL",
        "RASA_AUTH_TOKEN",
        "ACTION_SERVER_TOKEN",
        "WIDGET_SECRET",
        "WECHAT_TOKEN",
        "WECHAT_APP_SECRET",
        "WECHAT_AES_KEY",
    },
    "actions": {"ACTION_SERVER_TOKEN"},
    "web": {"REDIS_URL", "RASA_AUTH_TOKEN", "WIDGET_SECRET", "CONSOLE_SECRET"},
    "notify": {"RASA_AUTH_TOKEN", "WECOM_WEBHOOK_URL", "NOTIFY_WEBHOOK_URL", "SMTP_PASSWORD"},
    "facts": set(),
}
SECRET_SETTINGS = set().union(*OWN_SECRETS.values())


def test_compose_requires_every_secret_and_runs_several_rasa_instances_on_shared_stores():
    text = (DEPLOY / "compose.yml").read_text()
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
        assert uses, name
        assert all(use.startswith(":?") for use in uses if use), f"{name} must not have a default"
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert services["rasa"]["deploy"]["replicas"] >= 2
    env = services["rasa"]["environment"]
    assert env["APP_ENV"] == "production"
    assert env["DATABASE_URL"].startswith("postgresql://") and env["REDIS_URL"].startswith("redis://")
    for name in ("rasa", "actions", "web", "notify"):
        assert services[name]["depends_on"]["facts"]["condition"] == "service_completed_successfully"


def test_compose_keeps_secrets_off_command_lines_and_gives_each_service_only_its_own():
    """N3, F15, F2: services start through services.serve; no token in argv; least privilege; guarded actions."""
    text = (DEPLOY / "compose.yml").read_text()
    assert "--auth-token" not in text and "--requirepass" not in text and "-a " not in text
    services = yaml.safe_load(text)["services"]
    for name, serve in (("rasa", "rasa"), ("actions", "actions"), ("web", "web"), ("notify", "notifier")):
        assert services[name]["command"] == ["python", "-m", "services.serve", serve]
    for name, own in OWN_SECRETS.items():
        env = services[name]["environment"]
        assert env["ASSISTANT_SERVICE"] == {"notify": "notifier"}.get(name, name)
        assert set(env) & SECRET_SETTINGS <= own, f"{name} holds {set(env) & SECRET_SETTINGS - own}"
    assert services["actions"]["environment"]["ACTION_SERVER_TOKEN"].startswith("${ACTION_SERVER_TOKEN:?")
    assert services["rasa"]["environment"]["ACTION_SERVER_TOKEN"].startswith("${ACTION_SERVER_TOKEN:?")
    assert "ports" not in services["actions"]  # reachable from the compose network only
    notifiers = ("WECOM_WEBHOOK_URL", "NOTIFY_WEBHOOK_URL", "SMTP_HOST", "NOTIFY_EMAIL_TO")
    # only the notify service knows the channels (the actions service queues "notify staff")
    assert {services["notify"]["environment"][n] for n in notifiers} == {f"${{{n}:-}}" for n in notifiers}
    assert not set(notifiers) & set(services["actions"]["environment"])
    for command in (services["redis"]["command"], services["redis"]["healthcheck"]["test"]):
        assert "REDIS_PASSWORD" not in " ".join(command)  # read from the environment, not passed as an argument


def test_compose_proxy_count_is_a_setting_with_a_default():
    """F19: the number of proxies in front is the operator's (2 behind a TLS load balancer), default 1."""
    text = (DEPLOY / "compose.yml").read_text()
    env = yaml.safe_load(text)["x-env"]
    assert env["PROXY_COUNT"] == env["SANIC_PROXIES_COUNT"] == "${PROXY_COUNT:-1}"
    assert "PROXY_COUNT=1" in (DEPLOY / "env.example").read_text()


def test_endpoints_send_the_action_server_token():
    """F2: Rasa calls the action server with the shared secret, expanded from the environment."""
    endpoints = yaml.safe_load((PROJECT_ROOT / "bot" / "endpoints.yml").read_text())
    assert endpoints["action_endpoint"]["headers"] == {"Authorization": "Bearer ${ACTION_SERVER_TOKEN}"}


def test_dockerfile_copies_only_what_the_image_needs():
    """F9: no `COPY . .`: a stray deploy/.env, var/ database or secret can never enter a layer."""
    text = (DEPLOY / "Dockerfile").read_text()
    sources = [line.split()[1:-1] for line in text.splitlines() if line.startswith("COPY")]
    copied = {name for names in sources for name in names}
    assert copied == {"pyproject.toml", "constraints.txt", "README.md", "bot", "actions", "web", "data"}
    for name in copied:
        assert (PROJECT_ROOT / name).exists(), name
    assert "--auth-token" not in text
    assert 'CMD ["python", "-m", "services.serve", "rasa"]' in text


def test_nginx_exposes_the_widget_socket_and_webhooks_but_not_the_rasa_api():
    conf = (DEPLOY / "nginx.conf").read_text()
    locations = re.findall(r"location\s+(\S+)", conf)
    assert sorted(locations) == ["/", "/socket.io/", "/webhooks/"]
    assert "ip_hash" in conf  # sticky sessions for socket.io
    assert re.search(r"location /\s*\{\s*proxy_pass http://web;", conf)


def test_helm_values_take_secrets_from_a_kubernetes_secret_and_scale_rasa():
    values = yaml.safe_load((DEPLOY / "helm" / "rasa-values.yml").read_text())
    assert values["replicaCount"] >= 2 and values["autoscaling"]["minReplicas"] >= 2
    secret_env = {e["name"] for e in values["extraEnv"] if "valueFrom" in e}
    assert {"RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN", "DATABASE_URL", "REDIS_URL", "WIDGET_SECRET"} <= secret_env
    assert "CONSOLE_SECRET" not in secret_env  # the web app's, not Rasa's
    assert values["applicationSettings"]["endpoints"]["lockStore"]["type"] == "bot.plugins.lock_store.LockStore"
    assert values["ingress"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    plain = yaml.safe_dump(values)
    assert "password:" not in plain.replace("password: ${DB_PASSWORD}", "")


def test_helm_starts_services_through_bot_serve_with_the_action_token_and_no_token_in_argv():
    """N3, F2, F15: Rasa's args replace the chart's defaults (which carry --auth-token); actions hold one secret."""
    rasa = yaml.safe_load((DEPLOY / "helm" / "rasa-values.yml").read_text())
    assert rasa["command"] == ["python", "-m", "services.serve"] and rasa["args"][0] == "rasa"
    assert "--auth-token" not in " ".join(rasa["args"])
    action = rasa["applicationSettings"]["endpoints"]["additionalEndpoints"]["action_endpoint"]
    assert action["headers"] == {"Authorization": "Bearer ${ACTION_SERVER_TOKEN}"}
    assert "action" not in rasa["applicationSettings"]["endpoints"]  # no second, header-less action endpoint
    assert rasa["rasa-action-server"]["install"] is False
    actions = yaml.safe_load((DEPLOY / "helm" / "action-server-values.yml").read_text())
    assert actions["command"] == ["python", "-m", "services.serve"] and actions["args"] == ["actions"]
    env = {e["name"]: e for e in actions["extraEnv"]}
    assert env["ASSISTANT_SERVICE"]["value"] == "actions" and env["ACTION_HOST"]["value"] == "0.0.0.0"
    secrets = {name for name, e in env.items() if "valueFrom" in e}
    assert secrets == {"DATABASE_URL", "ACTION_SERVER_TOKEN"}  # no notifier channel: the notifier has those


# production refuses secrets under 32 characters (S5)
ACTION_TOKEN, RASA_TOKEN = "a9f1c2e7ab34d5f60718293a4b5c6d7e8", "r9f1c2e7ab34d5f60718293a4b5c6d7e8"


def _compose_env(service: str, values: dict) -> dict:
    """A compose service's environment with ``${VAR…}`` filled from ``values`` (unset: the default or empty)."""
    compose = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    env = {}
    for name, raw in compose["services"][service]["environment"].items():

        def fill(match):
            var, rest = match.group(1), match.group(2) or ""
            return values.get(var) or (rest[2:] if rest.startswith(":-") else "")

        env[name] = re.sub(r"\$\{(\w+)([^}]*)\}", fill, str(raw))
    return env


def _kubernetes_env(entries: list, secret: dict) -> dict:
    """A container's ``env`` list resolved against one Kubernetes secret (optional keys may be missing)."""
    env = {}
    for entry in entries:
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        elif entry["valueFrom"]["secretKeyRef"]["key"] in secret:
            env[entry["name"]] = secret[entry["valueFrom"]["secretKeyRef"]["key"]]
    return env


def _lead_reaches_the_notifier(action_env: dict, notifier_env: dict, database_url: str, sink) -> dict:
    """Queue a lead with the action server's settings, deliver with the notifier's; return what the sink got."""
    from bot import db, settings
    from bot.store import leads
    from notifier import worker as notify

    queued = settings.load({**action_env, "DATABASE_URL": database_url})
    assert not queued.notifiers.channels  # the action server knows no channel …
    with db.session_scope(queued.database_url) as session:
        lead, _ = leads.save_lead(
            {
                "conversation_id": "deploy-1",
                "channel": "rest",
                "name": "部署测试",
                "phone": "13600001234",
                "consent": True,
            },
            session=session,
            hourly_limit=queued.notify_max_per_hour,
        )
    delivering = settings.load({**notifier_env, "DATABASE_URL": database_url})
    assert delivering.notifiers.channels == ["webhook"]  # … the notifier does
    before = len(sink.received)
    assert notify.deliver_due(delivering) == 1
    [received] = sink.received[before:]
    assert received["body"]["lead"]["console_url"] == f"https://assistant.example.com/console/leads/{lead.id}"
    return received


def test_compose_lead_reaches_the_notify_service(empty_database, webhook_sink):
    """Compose: the actions service queues a lead, the notify service (alone holding the channels) delivers it."""
    values = {
        "ACTION_SERVER_TOKEN": ACTION_TOKEN,
        "RASA_AUTH_TOKEN": RASA_TOKEN,
        "PUBLIC_URL": "https://assistant.example.com",
        "NOTIFY_WEBHOOK_URL": webhook_sink.url,
        "POSTGRES_PASSWORD": "p",
        "REDIS_PASSWORD": "r",
    }
    actions, notifier = _compose_env("actions", values), _compose_env("notify", values)
    assert not {"WECOM_WEBHOOK_URL", "NOTIFY_WEBHOOK_URL", "SMTP_HOST", "SMTP_PASSWORD"} & set(actions)
    received = _lead_reaches_the_notifier(actions, notifier, empty_database, webhook_sink)
    assert received["body"]["lead"]["name"] == "部署测试"


def test_kubernetes_lead_reaches_the_notifier(empty_database, webhook_sink):
    """Helm/Kubernetes: the action-server chart queues, the notifier Deployment (same secret) delivers."""
    secret = {
        "DATABASE_URL": empty_database,
        "ACTION_SERVER_TOKEN": ACTION_TOKEN,
        "RASA_AUTH_TOKEN": RASA_TOKEN,
        "PUBLIC_URL": "https://assistant.example.com",
        "NOTIFY_WEBHOOK_URL": webhook_sink.url,
    }
    actions = _kubernetes_env(
        yaml.safe_load((DEPLOY / "helm" / "action-server-values.yml").read_text())["extraEnv"], secret
    )
    manifest = yaml.safe_load((DEPLOY / "helm" / "notifier.yml").read_text())
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "services.serve", "notifier"]
    notifier = _kubernetes_env(container["env"], secret)
    assert "NOTIFY_WEBHOOK_URL" not in actions and notifier["ASSISTANT_SERVICE"] == "notifier"
    _lead_reaches_the_notifier(actions, notifier, empty_database, webhook_sink)


# ---------- S8: least privilege in PostgreSQL

ROLES = {"facts": "assistant_owner", "rasa": "assistant_rasa", "actions": "assistant_app", "web": "assistant_app"}
ROLES["notify"] = "assistant_app"


def test_s08_compose_gives_no_service_the_superuser():
    """S8: every container connected as POSTGRES_USER, a superuser (the action server included)."""
    services = yaml.safe_load((DEPLOY / "compose.yml").read_text())["services"]
    superuser = services["postgres"]["environment"]["POSTGRES_USER"]
    for name, role in ROLES.items():
        values = {"POSTGRES_PASSWORD": "superuser-pw", "DB_OWNER_PASSWORD": "o", "DB_APP_PASSWORD": "a"}
        env = _compose_env(name, {**values, "DB_RASA_PASSWORD": "r"})
        for variable in ("DATABASE_URL", "TRACKER_STORE_URL"):
            url = env.get(variable) or env["DATABASE_URL"]
            assert url.startswith(f"postgresql://{role}:") and f"//{superuser}:" not in url, (name, variable)
        assert "superuser-pw" not in " ".join(env.values()), name
    # only the migrations (the facts service) own the schema
    assert [n for n, r in ROLES.items() if r == "assistant_owner"] == ["facts"]


def test_s08_the_roles_can_do_what_their_services_need_and_no_more(postgres_url):
    """S8: the roles compose creates, on a real PostgreSQL: DML for the services, DDL for the migrations only."""
    import os
    import subprocess

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from bot import db, migrate
    from bot.store import leads

    url = make_url(postgres_url)
    passwords = {"DB_OWNER_PASSWORD": "owner-pw", "DB_APP_PASSWORD": "app-pw", "DB_RASA_PASSWORD": "rasa-pw"}
    subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-h", url.host, "-p", str(url.port), "-U", url.username, "-d", url.database]
        + ["-f", str(DEPLOY / "postgres" / "roles.sql")],
        env={**os.environ, **passwords},
        check=True,
        capture_output=True,
    )

    def as_role(role: str) -> str:
        return url.set(username=role).render_as_string(hide_password=False)

    owner, app, rasa = as_role("assistant_owner"), as_role("assistant_app"), as_role("assistant_rasa")
    migrate.upgrade(owner)  # the migrations build the schema
    with db.get_engine(rasa).begin() as connection:  # Rasa creates its own tracker table at start
        connection.execute(sa.text("CREATE TABLE events (id serial PRIMARY KEY, sender_id varchar(255), data text)"))
        connection.execute(sa.text("INSERT INTO events (sender_id, data) VALUES ('v1', '{}')"))
    with db.session_scope(app) as session:  # the services read and write rows
        leads.save_lead(
            {"conversation_id": "s08", "channel": "rest", "name": "张", "phone": "13812345678", "consent": True},
            session=session,
        )
    with db.get_engine(app).begin() as connection:  # the console reads transcripts, retention deletes them
        assert connection.execute(sa.text("SELECT count(*) FROM events")).scalar() == 1
        connection.execute(sa.text("DELETE FROM events WHERE sender_id = 'nobody'"))
    for role_url, statement in [
        (app, "CREATE TABLE stolen (x int)"),
        (app, "DROP TABLE leads"),
        (app, "ALTER TABLE leads ADD COLUMN x int"),
        (app, "TRUNCATE leads"),
        (rasa, "DROP TABLE leads"),
        (app, "CREATE ROLE intruder SUPERUSER"),
        (owner, "CREATE ROLE intruder SUPERUSER"),
    ]:
        refused = pytest.raises(sa.exc.ProgrammingError, match="permission denied|must be owner|must be superuser")
        with refused, db.get_engine(role_url).begin() as connection:
            connection.execute(sa.text(statement))
    with db.get_engine(postgres_url).connect() as connection:
        powers = connection.execute(
            sa.text(
                "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname LIKE 'assistant_%'"
            )
        ).fetchall()
    assert sorted(powers) == [(r, False, False, False) for r in ("assistant_app", "assistant_owner", "assistant_rasa")]
    for role_url in (owner, app, rasa):
        db.get_engine(role_url).dispose()
