"""Console screen: improve (collected examples and their export)."""

from __future__ import annotations

import warnings

import pytest

from tests.support.console import PHONE, conversation_with_a_phone, csrf, login


@pytest.fixture
def app(console_app):
    return console_app


def test_collected_examples_export_as_valid_rasa_nlu(app, tmp_path):
    from rasa.cli.utils import validate_files
    from rasa.shared.importers.importer import TrainingDataImporter

    from bot.settings import PROJECT_ROOT

    client = app.test_client()
    login(client, "agent1", "agent password 1")
    token = csrf(client, "/console/improve")
    for text, intent in [
        ("注册资金够不够办全网", "ask_capital"),
        ("年报啥时候交", "ask_annual_report"),
        ("注册资金够不够办全网", "ask_capital"),
    ]:
        response = client.post(
            "/console/conversations/c1/collect", data={"csrf_token": token, "text": text, "intent": intent}
        )
        assert response.status_code == 302
    assert (
        client.post(
            "/console/conversations/c1/collect", data={"csrf_token": token, "text": "x", "intent": "no_such_intent"}
        ).status_code
        == 400
    )
    exported = client.get("/console/improve/nlu.yml").get_data(as_text=True)
    assert exported.count("注册资金够不够办全网") == 1
    data = tmp_path / "data"
    data.mkdir()
    (data / "collected.yml").write_text(exported, encoding="utf-8")
    # what `rasa data validate --domain bot/domain.yml --config bot/config.yml --data <data>` runs, in this
    # process (a new interpreter would spend most of the test importing Rasa): it exits on an invalid file;
    # its warnings (responses no story uses: there are no stories here) are its report, not a failure
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        validate_files(
            False,
            None,
            TrainingDataImporter.load_from_config(
                domain_path=str(PROJECT_ROOT / "bot" / "domain.yml"),
                training_data_paths=[str(data)],
                config_path=str(PROJECT_ROOT / "bot" / "config.yml"),
            ),
        )


def test_s03_the_improve_page_and_its_export_mask_phones_for_agents(app):
    """S3: collected examples showed visitors' phones to agents in full (only the JSON twin masked them)."""
    conversation_with_a_phone(app.config["SETTINGS"].database_url)
    agent, admin = app.test_client(), app.test_client()
    login(agent, "agent1", "agent password 1")
    login(admin, "admin1", "admin password 1")
    for path in ("/console/improve", "/console/improve/nlu.yml"):
        seen = agent.get(path).get_data(as_text=True)
        assert PHONE not in seen and "138****5678" in seen, path
        assert PHONE in admin.get(path).get_data(as_text=True), path
