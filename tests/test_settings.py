"""Settings: defaults, then the TOML file, then PAINEL_* variables; mistakes are ConfigError."""
from __future__ import annotations

from pathlib import Path

import pytest

from painel.errors import ConfigError
from painel.settings import PROJECT_ROOT, Settings, load_settings


@pytest.fixture(autouse=True)
def _no_painel_toml_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ./painel.toml of the developer must not leak into these tests."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


def write(tmp_path: Path, text: str | bytes, name: str = "painel.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_settings(environ={})
    assert s == Settings()
    assert s.database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'painel.db'}"
    assert s.switch_timezone == "UTC"
    assert s.default_timezone == "America/Sao_Paulo"
    assert s.cdr_csv_template == "painel"
    assert s.cdr_listen == "127.0.0.1:8090"
    assert s.cdr_http_credentials == ""
    assert s.ingest_batch_size == 5000 and isinstance(s.ingest_batch_size, int)
    assert s.log_level == "INFO"
    assert s.cdr_csv_config.endswith("fs-config/autoload_configs/cdr_csv.conf.xml")


def test_file_overrides_defaults(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[painel]\ndatabase_url = "postgresql://painel@db/painel"\n'
                          'ingest_batch_size = 250\nlog_level = "DEBUG"\n')
    s = load_settings(cfg, environ={})
    assert s.database_url == "postgresql://painel@db/painel"
    assert s.ingest_batch_size == 250
    assert s.log_level == "DEBUG"
    assert s.cdr_listen == "127.0.0.1:8090"  # untouched keys keep their defaults


def test_file_found_by_painel_config_and_in_cwd(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[painel]\nlog_level = "WARNING"\n', "outro.toml")
    assert load_settings(environ={"PAINEL_CONFIG": str(cfg)}).log_level == "WARNING"
    write(Path.cwd(), '[painel]\nlog_level = "ERROR"\n')
    assert load_settings(environ={}).log_level == "ERROR"
    # an explicit file wins over ./painel.toml
    assert load_settings(cfg, environ={}).log_level == "WARNING"


@pytest.mark.parametrize(("file_text", "environ", "expected"), [
    pytest.param("", {"PAINEL_LOG_LEVEL": "DEBUG"}, {"log_level": "DEBUG"}, id="env-over-default"),
    pytest.param('[painel]\nlog_level = "WARNING"\n', {"PAINEL_LOG_LEVEL": "DEBUG"}, {"log_level": "DEBUG"},
                 id="env-over-file"),
    pytest.param('[painel]\ncdr_listen = "0.0.0.0:9000"\n', {"PAINEL_LOG_LEVEL": "DEBUG"},
                 {"log_level": "DEBUG", "cdr_listen": "0.0.0.0:9000"}, id="file-and-env-mixed"),
    pytest.param("", {"PAINEL_INGEST_BATCH_SIZE": "100"}, {"ingest_batch_size": 100}, id="int-coercion"),
    pytest.param("[painel]\ningest_batch_size = 250\n", {"PAINEL_INGEST_BATCH_SIZE": " 100 "},
                 {"ingest_batch_size": 100}, id="int-env-over-file"),
    pytest.param("", {"PAINEL_CDR_HTTP_CREDENTIALS": "fs:segredo"}, {"cdr_http_credentials": "fs:segredo"},
                 id="credentials"),
    pytest.param("", {"HOME": "/root", "PAINEL_NAO_EXISTE": "x", "LOG_LEVEL": "DEBUG"}, {"log_level": "INFO"},
                 id="unrelated-env-ignored"),
])
def test_environment_overrides_file(tmp_path: Path, file_text: str, environ: dict, expected: dict) -> None:
    cfg = write(tmp_path, file_text)
    s = load_settings(cfg, environ=environ)
    for key, value in expected.items():
        assert getattr(s, key) == value
        assert type(getattr(s, key)) is type(value)


def test_overrides_win_and_none_is_ignored(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[painel]\ndatabase_url = "sqlite:///arquivo.db"\n')
    env = {"PAINEL_DATABASE_URL": "sqlite:///env.db"}
    assert load_settings(cfg, environ=env, overrides={"database_url": "sqlite:///cli.db"}).database_url \
        == "sqlite:///cli.db"
    assert load_settings(cfg, environ=env, overrides={"database_url": None}).database_url == "sqlite:///env.db"


def test_file_without_section_is_read_at_top_level(tmp_path: Path) -> None:
    cfg = write(tmp_path, 'log_level = "DEBUG"\n')
    assert load_settings(cfg, environ={}).log_level == "DEBUG"


@pytest.mark.parametrize(("file_text", "words"), [
    pytest.param('[painel]\nbanco = "x"\n', ["chave desconhecida", "banco"], id="unknown-key"),
    pytest.param('[painel]\ningest_batch_size = "muitos"\n', ["inválida", "ingest_batch_size"], id="not-an-int"),
    pytest.param('[painel\nlog_level = "DEBUG"\n', ["inválido"], id="bad-toml"),
    pytest.param('[painel]\nlog_level = "DEBUG\n', ["inválido"], id="unterminated-string"),
    pytest.param(b'[painel]\nlog_level = "DEBUG\xff"\n', ["inválido"], id="not-utf8"),
    pytest.param("painel = 3\n", ["inválido", "seção"], id="painel-not-a-table"),
])
def test_invalid_file_is_config_error(tmp_path: Path, file_text: str | bytes, words: list[str]) -> None:
    cfg = write(tmp_path, file_text)
    with pytest.raises(ConfigError) as exc_info:
        load_settings(cfg, environ={})
    for word in words:
        assert word in exc_info.value.message
    assert exc_info.value.exit_code == 2


def test_invalid_env_value_is_config_error() -> None:
    with pytest.raises(ConfigError) as exc_info:
        load_settings(environ={"PAINEL_INGEST_BATCH_SIZE": "cem"})
    assert "inválida" in exc_info.value.message and "ingest_batch_size" in exc_info.value.message


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_file_is_config_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nao-existe.toml" if kind == "missing" else tmp_path
    with pytest.raises(ConfigError) as exc_info:
        load_settings(path, environ={})
    assert "não foi possível ler" in exc_info.value.message
    with pytest.raises(ConfigError):
        load_settings(environ={"PAINEL_CONFIG": str(path)})


def test_settings_are_frozen_and_replace_returns_a_copy() -> None:
    s = load_settings(environ={})
    with pytest.raises(AttributeError):
        s.log_level = "DEBUG"  # type: ignore[misc]
    t = s.replace(log_level="DEBUG")
    assert (s.log_level, t.log_level) == ("INFO", "DEBUG")
