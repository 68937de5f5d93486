"""Mapping files validate on load; each kind of mistake is one line naming file, path and problem."""

import copy

import pytest
import yaml

from crmsync.config import DEFAULT_MAPPINGS_DIR
from crmsync.mapping.spec import MappingError, load_mapping, parse_mapping

HUBSPOT = yaml.safe_load((DEFAULT_MAPPINGS_DIR / "hubspot.yaml").read_text())


def _broken(change) -> dict:
    data = copy.deepcopy(HUBSPOT)
    change(data)
    return data


def _set(path, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _append_field(obj: int, field: dict):
    return lambda data: data["objects"][obj]["fields"].append(field)


CASES = [
    (
        _set(["objects", 0, "fields", 2, "cs"], "stauts"),
        "objects[0].fields[2].cs: unknown ClientSuccess field 'stauts' for clients",
    ),
    (
        _set(["objects", 0, "external_object"], "companys"),
        "objects[0].external_object: unknown HubSpot object 'companys' (known: companies, contacts, deals)",
    ),
    (
        _set(["objects", 0, "fields", 1, "transform"], "eval"),
        "objects[0].fields[1].transform: unknown transform 'eval'",
    ),
    (
        _append_field(1, {"cs": "email", "external": "work_email", "direction": "pull"}),
        "objects[1].fields[5].cs: field 'email' is mapped twice (first at fields[2])",
    ),
    (
        _append_field(0, {"cs": "success_manager", "external": "name", "direction": "push"}),
        "objects[0].fields[7].external: external field 'name' is pushed twice (first at fields[0])",
    ),
    (
        _set(["objects", 0, "fields", 2, "value_map"], {"Active": "Active", "Trial": "Active"}),
        "objects[0].fields[2].value_map: not one-to-one for a two-way field: "
        "external value 'Active' appears twice",
    ),
    (
        _set(["objects", 0, "fields", 0, "direction"], "sideways"),
        "objects[0].fields[0].direction: Input should be 'push', 'pull' or 'both'",
    ),
    (
        _set(["objects", 0, "fields", 3, "conflict_policy"], "cs_wins"),
        "objects[0].fields[3].conflict_policy: a conflict policy only applies to a two-way (both) field",
    ),
    (
        _set(["objects", 0, "fields", 0, "colour"], "red"),
        "objects[0].fields[0].colour: Extra inputs are not permitted",
    ),
    (_set(["kind"], "pipedrive"), "kind: unknown integration kind 'pipedrive'"),
    (
        _set(["objects", 1, "parent"], {"cs_field": "client_id"}),
        "objects[1].parent: give exactly one of 'association' or 'external_field'",
    ),
    (
        lambda data: data["objects"].append(copy.deepcopy(data["objects"][0])),
        "objects[4]: clients -> companies is mapped twice",
    ),
]


@pytest.mark.parametrize(("change", "expected"), CASES)
def test_each_mistake_is_one_line_with_file_path_and_problem(tmp_path, change, expected):
    path = tmp_path / "hubspot.yaml"
    path.write_text(yaml.safe_dump(_broken(change), sort_keys=False))
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {expected}")
    assert "\n" not in message


def test_not_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: hubspot\nobjects: [\n  - {cs: name\n")
    with pytest.raises(MappingError, match=r"bad\.yaml: line \d+: not valid YAML"):
        load_mapping(path)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(MappingError, match="cannot read the file"):
        load_mapping(tmp_path / "none.yaml")


def test_not_a_mapping():
    with pytest.raises(MappingError, match=r"x\.yaml: the file must be a mapping"):
        parse_mapping(["a"], "x.yaml")


@pytest.mark.parametrize("kind", ["hubspot", "salesforce"])
def test_shipped_defaults(kind):
    mapping = load_mapping(DEFAULT_MAPPINGS_DIR / f"{kind}.yaml")
    defaults = {cs: mapping.default_external_object(cs) for cs in ("clients", "contacts", "subscriptions")}
    expected = {
        "hubspot": {"clients": "companies", "contacts": "contacts", "subscriptions": "deals"},
        "salesforce": {"clients": "Account", "contacts": "Contact", "subscriptions": "Opportunity"},
    }[kind]
    assert defaults == expected
    status = mapping.for_object("clients", expected["clients"]).field("status")
    assert status.direction == "both" and status.policy == "newest"
    assert set(status.value_map.values()) == {"Active", "Trial", "Inactive", "Terminated"}
    contacts = mapping.for_object("contacts", expected["contacts"])
    assert contacts.match.cs == "email" and contacts.parent.cs_field == "client_id"
