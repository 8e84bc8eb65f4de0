"""The model is retrained when any training input changes, the dictionary included."""

from tools import train


def test_fingerprint_changes_with_the_jieba_dictionary(tmp_path, monkeypatch):
    dictionary = tmp_path / "dictionary"
    dictionary.mkdir()
    (dictionary / "domain.txt").write_text("呼叫中心 1000 n\n", encoding="utf-8")
    config = tmp_path / "config.yml"
    config.write_text("language: zh\n", encoding="utf-8")
    monkeypatch.setattr(train, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(train, "INPUTS", [config, dictionary])
    before = train.fingerprint()
    assert train.fingerprint() == before
    (dictionary / "domain.txt").write_text("呼叫中心 1000 n\n地网 800 n\n", encoding="utf-8")
    assert train.fingerprint() != before
    changed = train.fingerprint()
    config.write_text("language: zh\n# tuned\n", encoding="utf-8")
    assert train.fingerprint() != changed


def test_model_is_stale_without_a_matching_fingerprint(tmp_path, monkeypatch):
    model = tmp_path / "assistant.tar.gz"
    stamp = tmp_path / "assistant.fingerprint"
    monkeypatch.setattr(train, "MODEL_PATH", model)
    monkeypatch.setattr(train, "FINGERPRINT_PATH", stamp)
    assert train.is_stale()
    model.write_bytes(b"model")
    stamp.write_text(train.fingerprint() + "\n")
    assert not train.is_stale()
    stamp.write_text("something else\n")
    assert train.is_stale()
