"""Mappings of settings (``objective_args``, JSON or YAML objects) are typed as flags are: every value
checked against its config field's type, credentials refused, numbers finite — when the config is
built, before any cache or folder (trust pass 4: ``{"use_lora": "false"}`` trained LoRA, a
``hub_token`` was written into ``run.json``, ``{"dpo_beta": "abc"}`` was a bare TypeError after 25 s)."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton_tta.data.settings import SettingsError, typed_settings
from baton_tta.trainer import DiffusionDPOConfig, DiffusionGRPOConfig, DiffusionKTOConfig

CONFIGS = (DiffusionDPOConfig, DiffusionKTOConfig, DiffusionGRPOConfig)


def _fields_of(kind: type) -> list[tuple[type, str]]:
    """(config, field) for every init field whose type is exactly ``kind``, across the objectives."""
    found = []
    for config in CONFIGS:
        hints = typing.get_type_hints(config)
        found += [(config, f.name) for f in dataclasses.fields(config) if f.init and hints[f.name] is kind]
    return [(c, n) for c, n in found if "token" not in n]


VALUES = st.one_of(
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["true", "False", "no", "1", "0", "3", "-2", "0.5", "1e999", "nan", "abc", ""]),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@given(field=st.sampled_from(_fields_of(bool)), value=VALUES)
def test_a_bool_setting_is_a_bool_or_refused_never_a_truthy_string(field, value):
    config, name = field
    try:
        typed = typed_settings({name: value}, config, "objective_args")[name]
    except SettingsError as error:
        assert f"objective_args: {name}=" in str(error)
        return
    assert type(typed) is bool
    if isinstance(value, str):
        assert typed is (value.lower() in ("true", "1", "yes", "on"))


@given(field=st.sampled_from(_fields_of(float) + _fields_of(int)), value=VALUES)
def test_a_numeric_setting_is_a_finite_number_of_its_type_or_refused(field, value):
    config, name = field
    kind = typing.get_type_hints(config)[name]
    try:
        typed = typed_settings({name: value}, config, "objective_args")[name]
    except SettingsError as error:
        assert f"objective_args: {name}=" in str(error)
        return
    assert type(typed) is kind and math.isfinite(typed) and not isinstance(value, bool | list | type(None))


@given(name=st.sampled_from(["hub_token", "HUB_TOKEN", "my_api_key", "wandb_secret", "password"]))
def test_a_credential_is_refused_in_any_mapping(name):
    with pytest.raises(SettingsError, match=f"objective_args: {name} is a credential"):
        typed_settings({name: "hf_planted"}, DiffusionDPOConfig, "objective_args")


def test_online_rounds_get_typed_objective_args_when_the_config_is_built(tmp_path):
    from baton_tta.online import OnlineConfig

    config = OnlineConfig(
        output_dir=str(tmp_path), objective="dpo", objective_args='{"use_lora": "false", "dpo_beta": "50"}'
    )
    args = config.round_training_args(tmp_path / "r")
    assert (args.use_lora, args.dpo_beta) == (False, 50.0)
    for given_args, said in [
        ('{"dpo_beta": "abc"}', r"dpo_beta='abc': expected a number"),
        ('{"dpo_beta": 1e999}', r"dpo_beta=inf: expected a finite number"),
        ('{"hub_token": "hf_planted"}', r"hub_token is a credential"),
    ]:
        with pytest.raises(SettingsError, match=said):
            OnlineConfig(output_dir=str(tmp_path / "x"), objective="dpo", objective_args=given_args)
    assert not (tmp_path / "x").exists()
