"""Every policy name a scenario accepts is an enum member with an entry in its lookup table."""

from typing import get_args

from clearing.core.mark import MARK_RULES, MarkMethod
from clearing.core.oracle import (
    AGGREGATORS,
    LATENCY_SAMPLERS,
    PUBLICATION_POLICIES,
    Aggregation,
    LatencyModel,
    Policy,
    Reference,
)
from clearing.scenario.params import compile_params
from clearing.scenario.sections import CollateralOracleConfig, MarkConfig, OracleConfig, OracleSourceConfig
from tests.conftest import small_scenario


def names(section, field):
    return set(get_args(section.model_fields[field].annotation))


def test_the_scenario_names_are_the_enum_members():
    assert names(OracleConfig, "policy") == set(Policy)
    assert names(OracleConfig, "aggregation") == set(Aggregation)
    assert names(OracleConfig, "latency_model") == set(LatencyModel)
    assert names(OracleConfig, "source") == names(OracleSourceConfig, "reference") == set(Reference)
    assert names(CollateralOracleConfig, "policy") <= set(Policy)
    assert names(MarkConfig, "method") == set(MarkMethod)


def test_every_member_has_its_policy():
    assert set(PUBLICATION_POLICIES) == set(Policy)
    assert set(AGGREGATORS) == set(Aggregation)
    assert set(LATENCY_SAMPLERS) == set(LatencyModel)
    assert set(MARK_RULES) == set(MarkMethod) - {MarkMethod.ORACLE}  # the oracle's deliveries set that mark


def test_compile_params_turns_the_names_into_members():
    params = compile_params(
        small_scenario(oracle__policy="pull", oracle__aggregation="pyth", oracle__latency_model="fixed",
                       mark__method="ema_basis")
    )  # fmt: skip
    assert params.oracle.policy is Policy.PULL and params.oracle.aggregation is Aggregation.PYTH
    assert params.oracle.latency_model is LatencyModel.FIXED and not params.oracle.sets_mark
    assert params.mark is not None and params.mark.method is MarkMethod.EMA_BASIS
    assert compile_params(small_scenario()).oracle.sets_mark  # the oracle method: no mark clock
