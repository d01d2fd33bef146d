"""Configuration: YAML + JSON Schema with errors that name the path, defaults, FAKEMMS_* env."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fakemms.config import DEFAULTS, account_problems, load_config
from fakemms.errors import ConfigError

GOOD = """\
accounts:
  - username: acme
    password: s3cret
    allowed_ips: [127.0.0.0/8, "::1/128", "2001:db8::/32"]
    tps: 10
    max_per_day: 10000
    max_per_month: 200000
    prepaid_credit: null
    closed: false
    mt_configs:
      config1:
        dlr_url: http://127.0.0.1:9000/dlr
        dlr_protocol: http
        region: US
    mo:
      url: http://127.0.0.1:9000/mo
      format: http
      username: cb-user
      password: cb-pass
clock: virtual
seed: 42
callbacks:
  timeout_seconds: 60
  retry_delays: [15, 60, 300]
  give_up_after_seconds: 86400
"""


def write(tmp_path: Path, text: str, name: str = "fakemms.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, **kw) -> tuple[str, list[str]]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={}, **kw)
    return info.value.source, info.value.problems


def test_contract_example_loads(tmp_path):
    config = load_config(write(tmp_path, GOOD), env={})
    (acc,) = config.accounts()
    assert acc.username == "acme" and acc.tps == 10 and acc.max_per_day == 10000
    assert acc.allowed_ips == ["127.0.0.0/8", "::1/128", "2001:db8::/32"]
    assert acc.mt_configs["config1"].dlr_url == "http://127.0.0.1:9000/dlr"
    assert acc.mo is not None and acc.mo.username == "cb-user"
    assert config["clock"] == "virtual" and config["seed"] == 42
    assert config["strict_mime"] is True  # default kept
    assert config["callbacks"]["workers"] == DEFAULTS["callbacks"]["workers"]  # deep merge
    assert config.source == str(tmp_path / "fakemms.yaml")
    assert config.base_dir == tmp_path.resolve()


def test_embedded_defaults_have_a_usable_account():
    config = load_config(None, env={})
    (acc,) = config.accounts()
    assert (acc.username, acc.password) == ("fakemms", "fakemms")
    assert "config1" in acc.mt_configs
    assert config["port"] == 8025 and config["host"] == "127.0.0.1"
    assert config["strict_mime"] is True and config["clock"] == "real"


def test_empty_file_is_the_defaults(tmp_path):
    config = load_config(write(tmp_path, ""), env={})
    assert config["accounts"][0]["username"] == "fakemms"


def test_each_problem_names_its_path(tmp_path):
    source, problems = problems_of(tmp_path, """\
        accounts:
          - username: acme
            password: 5
            tps: -1
            mt_configs:
              config1: {dlr_protocol: smtp}
          - password: x
        clock: sundial
        port: 70000
        colour: blue
        """)
    assert source == str(tmp_path / "fakemms.yaml")
    text = "\n".join(problems)
    assert len(problems) == 7, text
    for expected in ("accounts[0].password:", "accounts[0].tps:",
                     "accounts[0].mt_configs.config1.dlr_protocol:", "accounts[1]:",
                     "clock:", "port:", "(top level):"):
        assert any(p.startswith(expected) for p in problems), (expected, text)
    assert "'username' is a required property" in text
    assert "'colour' was unexpected" in text


@pytest.mark.parametrize("text, expected", [
    ("accounts:\n  - {username: a, password: b, allowed_ips: [10.0.0.0/33]}\n",
     "accounts[0].allowed_ips[0]: '10.0.0.0/33' is not an IP or CIDR"),
    ("accounts:\n  - {username: a, password: b, allowed_ips: ['2001:db8::/129']}\n",
     "accounts[0].allowed_ips[0]: '2001:db8::/129' is not an IP or CIDR"),
    ("trusted_proxies: [127.0.0.1, proxy.local]\n",
     "trusted_proxies[1]: 'proxy.local' is not an IP or CIDR"),
    ("accounts:\n  - {username: a, password: b}\n  - {username: a, password: c}\n",
     "accounts: duplicate username 'a'"),
    ("http_status: {'15406': 99}\n", "http_status.15406:"),
    ("http_status: {'TPS': 503}\n", "http_status:"),
    ("max_messages: 0\n", "max_messages:"),
    ("- just\n- a list\n", "(top level): must be a mapping"),
])
def test_semantic_problems(tmp_path, text, expected):
    _, problems = problems_of(tmp_path, text)
    assert any(p.startswith(expected) for p in problems), problems


def test_schema_and_semantic_problems_are_reported_together(tmp_path):
    _, problems = problems_of(tmp_path, """\
        accounts:
          - {username: a, password: b, tps: x, allowed_ips: [10.0.0.0/8, 300.0.0.1, 7]}
          - {username: a, password: c}
          - just-a-string
        trusted_proxies: [nowhere]
        """)
    assert problems == [
        "accounts[0].allowed_ips[2]: 7 is not of type 'string'",
        "accounts[0].tps: 'x' is not of type 'number', 'null'",
        "accounts[2]: 'just-a-string' is not of type 'object'",
        "accounts: duplicate username 'a'",
        "accounts[0].allowed_ips[1]: '300.0.0.1' is not an IP or CIDR",
        "trusted_proxies[0]: 'nowhere' is not an IP or CIDR",
    ]


def test_account_problems_for_accounts_changed_at_run_time():
    assert account_problems({"allowed_ips": ["::1", "x"]}) == [
        "account.allowed_ips[1]: 'x' is not an IP or CIDR"]
    assert account_problems({"allowed_ips": None}) == []


def test_ipv6_allowlists_load(tmp_path):
    path = write(tmp_path, "accounts:\n  - {username: a, password: b, "
                           "allowed_ips: ['::1', 'fe80::/10', '::ffff:127.0.0.1']}\n"
                           "trusted_proxies: ['::1', 10.0.0.0/8]\n")
    config = load_config(path, env={})
    assert config.accounts()[0].allowed_ips == ["::1", "fe80::/10", "::ffff:127.0.0.1"]
    assert config["trusted_proxies"] == ["::1", "10.0.0.0/8"]


def test_invalid_yaml_names_line_and_column(tmp_path):
    _, problems = problems_of(tmp_path, "accounts:\n  - username: [unclosed\n")
    assert len(problems) == 1 and problems[0].startswith("line ")
    assert "invalid YAML" in problems[0]


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", env={})
    assert info.value.source == str(tmp_path / "nope.yaml")
    assert "cannot read" in info.value.problems[0]


# --- environment -------------------------------------------------------------------------------
def test_env_overrides_the_file(tmp_path):
    path = write(tmp_path, GOOD)
    env = {"FAKEMMS_CONFIG": str(path), "FAKEMMS_PORT": "9123", "FAKEMMS_HOST": "::1",
           "FAKEMMS_SEED": "7", "FAKEMMS_CLOCK": "real", "FAKEMMS_STRICT_MIME": "false",
           "FAKEMMS_MAX_MESSAGES": "5", "FAKEMMS_TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8"}
    config = load_config(None, env=env)
    assert config.source == str(path)
    assert config.accounts()[0].username == "acme"
    assert (config["port"], config["host"], config["seed"]) == (9123, "::1", 7)
    assert config["clock"] == "real" and config["strict_mime"] is False
    assert config["max_messages"] == 5
    assert config["trusted_proxies"] == ["127.0.0.1", "10.0.0.0/8"]


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("true", True), ("YES", True), ("0", False), ("no", False), ("False", False),
])
def test_strict_mime_env_values(value, expected):
    assert load_config(None, env={"FAKEMMS_STRICT_MIME": value})["strict_mime"] is expected


def test_overrides_beat_env():
    config = load_config(None, overrides={"port": 0}, env={"FAKEMMS_PORT": "9999"})
    assert config["port"] == 0


def test_scenarios_env_is_comma_separated():
    assert load_config(None, env={"FAKEMMS_SCENARIOS": ""})["scenarios"] == []
    config = load_config(None, env={"FAKEMMS_SCENARIOS": "a.yaml,,b.yaml"})
    assert config["scenarios"] == ["a.yaml", "b.yaml"]


@pytest.mark.parametrize("var, value, fragment", [
    ("FAKEMMS_PORT", "eighty", "port: cannot use 'eighty'"),
    ("FAKEMMS_SEED", "1.5", "seed: cannot use '1.5'"),
    ("FAKEMMS_MAX_MESSAGES", "many", "max_messages: cannot use 'many'"),
])
def test_bad_env_values_name_the_variable(var, value, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(None, env={var: value})
    assert info.value.source == var
    assert info.value.problems == [fragment]


@pytest.mark.parametrize("env, path", [
    ({"FAKEMMS_CLOCK": "sundial"}, "clock:"),
    ({"FAKEMMS_PORT": "70000"}, "port:"),
    ({"FAKEMMS_TRUSTED_PROXIES": "127.0.0.1,nonsense"}, "trusted_proxies[1]:"),
])
def test_env_values_are_validated_like_the_file(env, path):
    with pytest.raises(ConfigError) as info:
        load_config(None, env=env)
    assert any(p.startswith(path) for p in info.value.problems), info.value.problems


def test_config_error_message_lists_source_and_problems():
    err = ConfigError("x.yaml", ["a: bad", "b: worse"])
    assert str(err) == "x.yaml: a: bad; b: worse"


# --- environment only: the docker service's settings ----------------------------------------
def test_account_env_shapes_the_default_account_and_its_config1():
    config = load_config(None, env={
        "FAKEMMS_ACCOUNT_USERNAME": "ci", "FAKEMMS_ACCOUNT_PASSWORD": "pw", "FAKEMMS_TPS": "2.5",
        "FAKEMMS_DLR_URL": "http://127.0.0.1:9/dlr", "FAKEMMS_MO_URL": "http://127.0.0.1:9/mo",
        "FAKEMMS_MO_FORMAT": "legacy-post"})
    (acc,) = config.accounts()
    assert (acc.username, acc.password, acc.tps) == ("ci", "pw", 2.5)
    assert acc.mt_configs["config1"].dlr_url == "http://127.0.0.1:9/dlr"
    assert acc.mt_configs["config1"].region == "US"  # the rest of the default config1 stays
    assert (acc.mo.url, acc.mo.format) == ("http://127.0.0.1:9/mo", "legacy-post")
    assert load_config(None, env={"FAKEMMS_TPS": "10"}).accounts()[0].tps == 10


def test_env_wins_over_the_files_first_account_and_origins_say_so(tmp_path):
    path = write(tmp_path, GOOD)
    config = load_config(None, env={"FAKEMMS_CONFIG": str(path), "FAKEMMS_TPS": "3",
                                    "FAKEMMS_DLR_URL": "http://127.0.0.1:7/dlr"})
    acc = config.accounts()[0]
    assert (acc.username, acc.tps) == ("acme", 3)  # the file's account, env's tps
    assert acc.mt_configs["config1"].dlr_url == "http://127.0.0.1:7/dlr"
    assert acc.mo.url == "http://127.0.0.1:9000/mo"  # not set by env: the file's
    assert config.origins["accounts"] == f"file {path}"
    assert config.origins["accounts[0].tps"] == "env FAKEMMS_TPS"
    assert config.origins["accounts[0].mt_configs.config1.dlr_url"] == "env FAKEMMS_DLR_URL"
    assert "port" not in config.origins  # a default
    overridden = load_config(None, overrides={"port": 0}, env={"FAKEMMS_PORT": "9"},
                             overrides_origin="command line")
    assert overridden.origins["port"] == "command line"


def test_account_env_values_are_validated_like_the_file():
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"FAKEMMS_MO_FORMAT": "carrier-pigeon", "FAKEMMS_TPS": "-1"})
    problems = info.value.problems
    assert any(p.startswith("accounts[0].mo.format:") for p in problems), problems
    assert any(p.startswith("accounts[0].tps:") for p in problems), problems
    for text in ("fast", "nan", "inf"):
        with pytest.raises(ConfigError) as info:
            load_config(None, env={"FAKEMMS_TPS": text})
        assert (info.value.source, info.value.problems) == (
            "FAKEMMS_TPS", [f"accounts[0].tps: cannot use {text!r}"])


def test_unknown_fakemms_names_are_an_error_naming_the_nearest():
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"FAKEMMS_PROT": "9000", "FAKEMMS_URL": "http://x:1",
                               "OTHER_VAR": "1"})
    assert info.value.source == "environment"
    (problem,) = info.value.problems
    assert problem.startswith("FAKEMMS_PROT: unknown setting (did you mean FAKEMMS_PORT?)")
