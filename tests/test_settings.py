"""The typed config (nsdrecon.settings) is the one definition of every key; what is generated from it stays in step."""

import copy
import re
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from nsdrecon import settings

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config/config.yaml").read_text())
NSD = yaml.safe_load((ROOT / "config/nsd.yaml").read_text())


def leaves(tree, prefix=""):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, f"{prefix}{key}.")
    else:
        yield prefix[:-1], tree


def test_generated_schema_and_readme_tables_are_up_to_date():
    stale = settings.write_generated(check=True)
    assert stale == [], f"run `python -m nsdrecon.settings`: {[str(p) for p in stale]}"


def test_the_embedded_default_is_the_models_defaults():
    assert DEFAULT == settings.Config().model_dump(mode="json")


def test_nsd_yaml_holds_only_what_differs_from_the_default():
    default = dict(leaves(DEFAULT))
    nsd = dict(leaves(NSD))
    assert not [key for key, value in nsd.items() if default.get(key, object()) == value], "restates the default"
    assert not set(nsd) - set(default), "keys the default does not have"
    settings.load(NSD)  # merged or alone, it fits the models


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda c: c["ridge"].update(alpha=1.0), "ridge.alpha"),
        (lambda c: c["reconstruct"].update(methods=["havir", "havir"]), "reconstruct.methods"),
        (lambda c: c["figures"]["roi_groups"][0].update(group="other"), "figures.roi_groups.0.group"),
        (lambda c: c["minddiffuser"]["stage2"].update(inner_steps=0), "minddiffuser.stage2.inner_steps"),
        (lambda c: c.update(subjects=["subj09"]), "subjects.0"),
    ],
)
def test_a_wrong_key_or_value_is_refused_by_both_with_its_name(edit, key):
    config = copy.deepcopy(DEFAULT)
    edit(config)
    with pytest.raises(settings.ConfigKeyError, match=re.escape(f"  {key}: ")):
        settings.load(config)
    with pytest.raises(Exception, match="Error validating config"):
        validate(config, str(settings.SCHEMA_FILE))


@pytest.mark.parametrize(
    ("edit", "key", "message"),
    [
        (lambda c: c["reconstruct"].update(schedule="brain_diffuser", strength=1.0), "reconstruct", "strength below 1"),
        (lambda c: c["minddiffuser"].update(regression="fastl2lir"), "minddiffuser", "takes one alpha"),
        (lambda c: c["minddiffuser"].update(context_tokens=10), "minddiffuser", "at least text_tokens"),
        (lambda c: c["minddiffuser"]["stage2"].update(snapshot_every=2), "minddiffuser.stage2", "inner_steps: null"),
    ],
)
def test_settings_that_contradict_each_other_are_refused_with_their_section(edit, key, message):
    """Rules between keys, which no schema says: the workflow loads the typed config before any job runs."""
    config = copy.deepcopy(DEFAULT)
    edit(config)
    with pytest.raises(settings.ConfigKeyError, match=re.escape(f"  {key}: ") + ".*" + re.escape(message)):
        settings.load(config)
    validate(config, str(settings.SCHEMA_FILE))  # the schema alone lets them through


def test_allowed_values_are_read_from_the_schema():
    tables = settings.key_tables(NSD)
    assert "| `betas.zscore` | `\"session\"` | `\"train\"` | `session` \\| `train` \\| `none` |" in tables
    assert "| `minddiffuser.stage2.inner_steps` | `4` | `null` | integer ≥ 1 or `null` |" in tables
