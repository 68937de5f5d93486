"""Every definition loads: mappings, the transforms and suites they rely on, prefect.yaml entrypoints."""

import importlib

import pytest
import yaml

from crmsync import validation
from crmsync.config import DEFAULT_MAPPINGS_DIR, PROJECT_ROOT
from crmsync.mapping.spec import load_mapping
from crmsync.mapping.transforms import TRANSFORMS

MAPPINGS = sorted(DEFAULT_MAPPINGS_DIR.glob("*.yaml"))
PREFECT = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.name)
def test_mapping_validates_and_names_only_known_things(path):
    mapping = load_mapping(path)
    for obj in mapping.objects:
        for field in obj.fields:
            for name in (field.transform, field.push_transform):
                assert name is None or name in TRANSFORMS
        for direction in ("pull", "push"):
            assert validation.load_suite(obj.cs_object, direction) is not None


def test_every_suite_loads():
    assert sorted(validation.suite_names()) == sorted(
        f"{obj}.{direction}"
        for obj in ("clients", "contacts", "subscriptions")
        for direction in ("pull", "push")
    )


@pytest.mark.parametrize("deployment", PREFECT["deployments"], ids=lambda d: d["name"])
def test_prefect_entrypoints_import(deployment):
    module_path, _, name = deployment["entrypoint"].partition(":")
    module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, name)
    assert hasattr(flow, "deploy"), f"{deployment['entrypoint']} is not a Prefect flow"
    assert deployment["concurrency_limit"] == 1
    assert set(deployment["parameters"]) <= set(flow.parameters.properties)
