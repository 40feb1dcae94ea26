"""Which rules a run uses (rules.files): shipped sets, the user's own file, auto, and the errors."""
from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from app.paths import CONF_DIR
from features.errors import ConfigError
from rules.language import RuleError
from rules.files import ResolvedRules, resolve_rules

RULES = """\
definitions:
  big_team:
    description: Ten seats or more
    expression: seats >= 10
  fit:
    expression: industry in ['software']
"""
BARE = "big_team:\n  description: Ten seats or more\n  expression: seats >= 10\n"
DEMO = sorted(OmegaConf.load(Path(CONF_DIR) / "rules" / "demo.yaml").definitions)


def _file(path: Path, text: str = RULES) -> Path:
    path.write_text(text)
    return path


def resolve(file: str | None = None, definitions=None, on_demo: bool = False) -> ResolvedRules:
    """The rules of a run; ``on_demo``: the source brings the shipped demo set (as the demo world does)."""
    return resolve_rules({"definitions": definitions, "file": file}, "demo" if on_demo else None, CONF_DIR)


def test_file_by_absolute_path(tmp_path):
    path = _file(tmp_path / "mine.yaml")
    got = resolve(str(path))
    assert got.definitions == {"big_team": {"description": "Ten seats or more", "expression": "seats >= 10"},
                               "fit": {"description": "", "expression": "industry in ['software']"}}
    assert got.origin == f"file {path}" and got.note is None


def test_file_by_relative_path_holding_the_bare_mapping(tmp_path, monkeypatch):
    (tmp_path / "rules").mkdir()
    _file(tmp_path / "rules" / "mine.yaml", BARE)
    monkeypatch.chdir(tmp_path)
    got = resolve("rules/mine.yaml")
    assert list(got.definitions) == ["big_team"] and got.origin == f"file {tmp_path / 'rules' / 'mine.yaml'}"
    assert resolve("./rules/mine.yaml").definitions == got.definitions


def test_file_with_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _file(tmp_path / "mine.yaml")
    assert resolve("~/mine.yaml").origin == f"file {tmp_path / 'mine.yaml'}"


@pytest.mark.parametrize("name", ["demo", "demo.yaml"])
def test_shipped_set_by_name(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = resolve(name)
    assert sorted(got.definitions) == DEMO and got.origin == "shipped rule set 'demo'"


@pytest.mark.parametrize(("local", "name"), [("demo.yaml", "demo"), ("demo.yaml", "demo.yaml"), ("demo", "demo")])
def test_a_local_file_named_like_a_shipped_set_is_ambiguous(local, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _file(tmp_path / local)
    with pytest.raises(ConfigError, match=rf"ambiguous.*rules\.file=\./{local} for the file.*rules=demo"):
        resolve(name)
    assert resolve(f"./{local}").origin == f"file {tmp_path / local}"  # the way out the error names


def test_unknown_name_lists_the_shipped_sets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"rules\.file=nope: no such file.*shipped: demo, none, sparkify\)$"):
        resolve("nope")
    with pytest.raises(ConfigError, match="no such file"):
        resolve("auto")  # the default's own file is not a rule set
    _file(tmp_path / "mine.yaml")
    with pytest.raises(ConfigError, match=r"did you mean rules\.file=\./mine\.yaml"):
        resolve("mine")


@pytest.mark.parametrize(("text", "line"), [("definitions:\n  a: [1, 2\n", 3), ("a:\n  expression: x\n b: 1\n", 3),
                                            ("a:\n  expression: x > 1\na:\n  expression: x > 2\n", 3)])
def test_bad_yaml_names_the_file_and_line(text, line, tmp_path):
    path = _file(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError, match=rf"rules file {path}, line {line}: invalid YAML"):
        resolve(str(path))


def test_file_without_rules_or_with_stray_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"holds no rules.*definitions: \{\}"):
        resolve(str(_file(tmp_path / "empty.yaml", "# nothing yet\n")))
    with pytest.raises(ConfigError, match="only 'file: null'"):
        resolve(str(_file(tmp_path / "x.yaml", RULES + "extra: 1\n")))
    assert resolve(str(_file(tmp_path / "none.yaml", "definitions: {}\n"))).definitions == {}


def test_file_and_inline_definitions_together(tmp_path):
    path = _file(tmp_path / "mine.yaml")
    with pytest.raises(ConfigError, match="set either rules.file or inline rules.definitions"):
        resolve(str(path), definitions={"a": {"expression": "x > 1"}})
    assert list(resolve(str(path), definitions={}).definitions) == ["big_team", "fit"]  # rules=none + file


def test_auto_on_the_demo_world_and_on_real_data():
    demo = resolve(on_demo=True)
    assert sorted(demo.definitions) == DEMO and demo.origin == "shipped rule set 'demo'" and demo.note is None
    real = resolve(on_demo=False)
    assert real.definitions == {} and real.origin == "none"
    assert real.note == ("no hand-defined PQL rules given (rules=<name> picks a shipped set: demo, sparkify; "
                         "rules.file=PATH reads your own): the backtest reports the model alone")
    assert resolve_rules(None, False, CONF_DIR) == real


def test_inline_definitions_and_their_origin():
    assert resolve(definitions={}).origin == "none"
    shipped = OmegaConf.load(Path(CONF_DIR) / "rules" / "sparkify.yaml").definitions
    assert resolve(definitions=shipped).origin == "shipped rule set 'sparkify'"
    assert resolve(definitions={"a": {"expression": "x > 1"}}).origin == "inline definitions"


@pytest.mark.parametrize(("body", "message"), [
    ("    expression: seats > > 1\n", r"rule 'broken': invalid syntax"),
    ("    expression: plan = 'pro'\n", r"rule 'broken': invalid syntax \(use '==' to compare"),
    ("    expression: 5\n", r"rule 'broken': expected a mapping with a string 'expression'"),
    ("    description: [1]\n    expression: x > 1\n", r"rule 'broken': 'description' must be text"),
    ("    expresion: x > 1\n", r"rule 'broken': unknown key 'expresion' \(did you mean 'expression'\?\)"),
    ("    expression: seats => 10\n", r"rule 'broken': invalid syntax \(did you mean '>='\?\)"),
    ("    description: x\n", r"rule 'broken': expected a mapping with an 'expression' key"),
])
def test_a_bad_rule_in_a_file_names_the_rule_file_and_line(body, message, tmp_path):
    path = _file(tmp_path / "mine.yaml", RULES + "  broken:\n" + body)  # 'broken:' is line 7
    with pytest.raises(ConfigError, match=rf"rules from file {path}, line 7: {message}") as info:
        resolve(str(path))
    assert isinstance(info.value, RuleError) and info.value.exit_code == 2


def test_a_bad_inline_rule_is_a_config_error():
    with pytest.raises(ConfigError, match=r"rules from inline definitions: rule 'a': invalid syntax"):
        resolve(definitions={"a": {"expression": "x >"}})
    with pytest.raises(ConfigError, match="unexpected keys"):
        resolve_rules({"definitions": None, "file": None, "fle": "x"}, False, CONF_DIR)


def compose_plain(command: str, overrides: list[str]) -> dict:
    """The real Hydra config, as tests/conftest.py composes it."""
    from app.preflight import compose_config

    return OmegaConf.to_container(compose_config(command, overrides), resolve=True)


def test_the_composed_train_config_takes_a_rules_file(tmp_path, monkeypatch):
    path = _file(tmp_path / "mine.yaml")
    monkeypatch.setenv("HOME", str(tmp_path))
    home = compose_plain("train", ["rules=auto", 'rules.file="~/mine.yaml"'])  # Hydra needs ~ quoted
    assert resolve_rules(home["rules"], False, CONF_DIR).origin == f"file {path}"
    cfg = compose_plain("train", ["rules=auto", f"rules.file={path}"])
    assert cfg["rules"] == {"definitions": None, "file": str(path)}
    assert list(resolve_rules(cfg["rules"], False, CONF_DIR).definitions) == ["big_team", "fit"]
    with pytest.raises(ConfigError, match="set either"):
        resolve_rules(compose_plain("train", ["rules=demo", f"rules.file={path}"])["rules"], True, CONF_DIR)


MERGED = """\
definitions:
  big_team: &team
    description: Ten seats or more
    expression: seats >= 10
  bigger_team:
    <<: *team
    expression: seats >= 20
"""


def test_yaml_merge_keys_are_standard_yaml(tmp_path):
    rules = resolve(str(_file(tmp_path / "merged.yaml", MERGED))).definitions
    assert rules["bigger_team"] == {"description": "Ten seats or more", "expression": "seats >= 20"}
    assert rules["big_team"]["expression"] == "seats >= 10"
    # a key written twice beside a merge key is still a mistake
    twice = MERGED + "    expression: seats >= 30\n"
    with pytest.raises(ConfigError, match=r"line 8: invalid YAML: duplicate key 'expression'"):
        resolve(str(_file(tmp_path / "twice.yaml", twice)))
