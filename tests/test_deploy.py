"""The deployment files: secrets without defaults, scale-out settings, only public paths exposed."""
from __future__ import annotations

import re

import yaml

from bot.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
SECRETS = ["POSTGRES_PASSWORD", "REDIS_PASSWORD", "RASA_AUTH_TOKEN", "WIDGET_SECRET", "CONSOLE_SECRET"]


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
    assert "--auth-token" in " ".join(services["rasa"]["command"])
    for name in ("rasa", "actions", "web", "notify"):
        assert services[name]["depends_on"]["facts"]["condition"] == "service_completed_successfully"


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
    assert {"RASA_AUTH_TOKEN", "DATABASE_URL", "REDIS_URL", "WIDGET_SECRET", "CONSOLE_SECRET"} <= secret_env
    assert values["applicationSettings"]["endpoints"]["lockStore"]["type"] == "bot.lock_store.LockStore"
    assert values["ingress"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    plain = yaml.safe_dump(values)
    assert "password:" not in plain.replace("password: ${DB_PASSWORD}", "")
