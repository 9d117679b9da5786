from decimal import Decimal

import pytest

from clearing.errors import ConfigError
from clearing.scenario import load_scenario, parse_override
from tests.conftest import SCENARIOS

CRASH = SCENARIOS / "synthetic-crash.toml"


def write(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_scenario_validates(path):
    scenario = load_scenario(path)
    assert scenario.name and len(scenario.hash()) == 64


def test_overrides_are_validated_like_the_file():
    scenario = load_scenario(CRASH, ["oracle.heartbeat_s=60", "population.accounts=100", "price.shocks.0.change=-0.5"])
    assert scenario.oracle.heartbeat_s == 60 and scenario.population.accounts == 100
    assert scenario.price.shocks[0].change == -0.5
    with pytest.raises(ConfigError, match=r"--set oracle.latency_ms=-5: oracle.latency_ms: .*greater than or equal to 0"):
        load_scenario(CRASH, ["oracle.latency_ms=-5"])
    with pytest.raises(ConfigError, match=r"oracle.heartbet_s: Extra inputs are not permitted"):
        load_scenario(CRASH, ["oracle.heartbet_s=5"])
    with pytest.raises(ConfigError, match="expected dotted.key=value"):
        load_scenario(CRASH, ["oracle.heartbeat_s"])
    with pytest.raises(ConfigError, match="no such list item"):
        load_scenario(CRASH, ["price.shocks.9.change=1"])


def test_override_values_are_toml_values_or_strings():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=0.5") == (["a"], 0.5)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    assert parse_override("name=my-run") == (["name"], "my-run")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("duration_s = \n", r"s.toml: invalid TOML: .*line 1"),
        ("duration_s = 60\nbogus = 1\n", r"s.toml: bogus: Extra inputs are not permitted"),
        ("duration_s = 'long'\n", r"s.toml: duration_s: Input should be a valid number.*'long'"),
        ("duration_s = 60\n[price]\ninitial = -5\n", r"s.toml: price.initial: Input should be greater than 0"),
        (
            "duration_s = 60\n[oracle]\nlatency_ms = -1\n",
            r"s.toml: oracle.latency_ms: Input should be greater than or equal to 0",
        ),
        (
            "duration_s = 60\n[market]\ntick_size = '0.1'\nlot_size = '0.0000001'\nquote_decimals = 2\n",
            "not a whole number of quote minor units",
        ),
        ("duration_s = 60\n[population]\nleverage = [300]\nleverage_weights = [1]\n", "leaves no room above maintenance margin"),
        ("duration_s = 60\n[population]\nleverage = [2, 3]\nleverage_weights = [1]\n", "leverage_weights has 1 values"),
        ("duration_s = 60\nepoch = 2024-01-01T00:00:00+02:00\n", "epoch must be a UTC time"),
        ("duration_s = 60\n[price]\ninitial = '60000.05'\n", "price.initial 60000.05 is not a whole number of 0.1"),
        ("duration_s = 60\n[price]\nstart = 2020-03-12T10:00:00\n", "price.start: must be a UTC time"),
        ("duration_s = 60\n[funding]\nclamp = '0.0000000001'\n", "funding.clamp 1E-10 is not a whole number of 1E-9"),
        ("duration_s = 60\n[market_makers]\nlevel_notional = '0.0000001'\n", "market_makers.level_notional"),
    ],
)
def test_bad_scenarios_give_one_line_naming_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_scenario(write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_missing_scenario_file_is_named():
    with pytest.raises(ConfigError, match="nope.toml: no such scenario file"):
        load_scenario("nope.toml")


def test_scenario_hash_changes_with_any_value():
    assert load_scenario(CRASH).hash() != load_scenario(CRASH, ["oracle.latency_ms=2001"]).hash()
    assert load_scenario(CRASH).hash() == load_scenario(CRASH).hash()


def test_presets_are_included_and_overridden(tmp_path):
    path = write(tmp_path, 'include = ["oracle/chainlink-push"]\nduration_s = 60\n[oracle]\nheartbeat_s = 60\n')
    scenario = load_scenario(path, ["oracle.latency_ms=250"])
    assert scenario.oracle.policy == "push" and scenario.oracle.deviation == Decimal("0.005")
    assert scenario.oracle.heartbeat_s == 60 and scenario.oracle.latency_ms == 250  # the file, then --set, win
    assert len(scenario.oracle.sources) == 5
    swapped = load_scenario(path, ["include=oracle/validator-median-3s"])
    assert swapped.oracle.policy == "cadence" and swapped.oracle.cadence_ms == 3000


def test_an_unknown_preset_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"include 'oracle/nope'.*oracle/chainlink-push"):
        load_scenario(write(tmp_path, 'include = ["oracle/nope"]\nduration_s = 60\n'))


def test_preset_files_are_valid_scenarios_on_their_own():
    from clearing.scenario import preset_names

    for name in preset_names():
        scenario = load_scenario(CRASH, [f"include={name}"])
        assert scenario.oracle.sources or not name.startswith("oracle/")


def test_maintenance_brackets_validate_and_convert(tmp_path):
    text = (
        "duration_s = 60\n[market]\nmaintenance_margin_rate = '0.004'\n"
        "maintenance_brackets = [[0, '0.004'], [50000, '0.005'], [250000, '0.01']]\n"
    )
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.market.bracket_units() == ([0, 50_000 * 10**6, 250_000 * 10**6], [4000, 5000, 10_000])
    derived = load_scenario(write(tmp_path, text.replace("[0, '0.004'], ", "[0, '0.003'], ")))
    assert derived.market.bracket_units()[1][0] == 3000  # the first bracket's rate governs
    with pytest.raises(ConfigError, match="ascending from 0"):
        load_scenario(write(tmp_path, text.replace("[250000, '0.01']", "[20000, '0.01']")))


def test_an_include_reads_only_presets_and_files_in_the_scenario_s_folder(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "oracle.toml").write_text("[oracle]\nheartbeat_s = 30\n")
    inside = write(tmp_path / "parts", 'include = ["oracle.toml"]\nduration_s = 60\n')
    assert load_scenario(inside).oracle.heartbeat_s == 30  # beside the scenario
    nested = tmp_path / "parts" / "s.toml"
    nested.write_text('include = ["oracle.toml"]\nduration_s = 60\n')
    (tmp_path / "secret.toml").write_text("[oracle]\nheartbeat_s = 1\n")
    for name, message in [("../secret.toml", "outside the scenario's folder"),
                          (str(tmp_path / "secret.toml"), "outside the scenario's folder"),
                          ("../../../../../etc/passwd", "not a preset")]:  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            load_scenario(write(tmp_path / "parts", f'include = ["{name}"]\nduration_s = 60\n'))
        with pytest.raises(ConfigError, match=message):
            load_scenario(nested, [f'include=["{name}"]'])


def test_a_run_beyond_int64_money_or_the_machine_s_memory_is_refused_before_it_starts():
    from clearing.scenario.limits import check_limits
    from clearing.scenario.params import compile_params

    for price in ("1e15", "9e18"):
        with pytest.raises(ConfigError, match=r"BTCUSDT-PERP: one lot is worth .* quote minor units .* less than 9.01e\+15"):
            check_limits(compile_params(load_scenario(CRASH, [f'price.initial="{price}"'])))
    month_at_1ms = compile_params(load_scenario(CRASH, ["duration_s=2592000", "price.step_ms=1"]))
    with pytest.raises(ConfigError, match=r"the index paths need about 57.9 GiB \(2,592,000,001 samples .*24.0 GiB"):
        check_limits(month_at_1ms, memory_bytes=24 * 2**30)
    check_limits(compile_params(load_scenario(CRASH)), memory_bytes=24 * 2**30)  # the shipped scenario fits


def test_the_command_refuses_an_overflowing_price_in_one_line_and_writes_nothing(tmp_path, capsys):
    from clearing.cli import main

    out = tmp_path / "o.sqlite"
    assert main(["run", str(CRASH), "--set", 'price.initial="1e15"', "--set", "population.accounts=20000", "--out", str(out)]) == 2
    assert "one lot is worth" in capsys.readouterr().err and not out.exists()
