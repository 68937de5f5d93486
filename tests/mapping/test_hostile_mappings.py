"""Issue 10, item 3: mappings that would silently give wrong results are one-line errors."""

import copy

import pytest
import yaml

from crmsync.config import DEFAULT_MAPPINGS_DIR
from crmsync.connectors.base import FieldInfo
from crmsync.mapping.live import check_live
from crmsync.mapping.spec import MAX_MAPPING_BYTES, MappingError, load_mapping, parse_mapping

HUBSPOT = yaml.safe_load((DEFAULT_MAPPINGS_DIR / "hubspot.yaml").read_text())


def _with(change) -> dict:
    data = copy.deepcopy(HUBSPOT)
    change(data)
    return data


def test_value_map_targets_differing_only_in_case_are_refused_on_a_two_way_field():
    def change(data):
        data["objects"][0]["fields"][2]["value_map"] = {"Active": "Active", "Trial": "ACTIVE"}

    with pytest.raises(MappingError, match=r"objects\[0\]\.fields\[2\]\.value_map: .*'ACTIVE'.*case"):
        parse_mapping(_with(change), "m.yaml")


def test_a_json_column_cannot_be_mapped():
    def change(data):
        data["objects"][0]["fields"].append({"cs": "custom", "external": "notes", "direction": "pull"})

    with pytest.raises(MappingError, match=r"m.yaml: objects\[0\]\.fields\[7\]\.cs: .*'custom'.*JSON"):
        parse_mapping(_with(change), "m.yaml")


def test_a_file_that_is_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("kind: hubspot # caf\xe9\n".encode("latin-1"))
    with pytest.raises(MappingError, match=r"latin1.yaml: .*UTF-8"):
        load_mapping(path)


def test_a_huge_file_is_refused_from_its_size_before_reading(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as out:
        out.truncate(MAX_MAPPING_BYTES + 1)  # sparse: nothing to read if the size is checked first
    with pytest.raises(MappingError, match=r"huge.yaml: .*too large"):
        load_mapping(path)


class _Schema:
    def __init__(self, fields: dict[str, list[str]]):
        self.fields, self.calls = fields, []

    def describe(self, obj: str) -> list[FieldInfo]:
        self.calls.append(obj)
        return [FieldInfo(name=n, label=n, type="string") for n in self.fields[obj]]


def _all_fields(mapping) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for obj in mapping.objects:
        names = out.setdefault(obj.external_object, [])
        names += [f.external for f in obj.fields]
        names += [obj.match.external] if obj.match else []
        names += [obj.parent.external_field] if obj.parent and obj.parent.external_field else []
    return out


def test_an_unknown_crm_property_is_an_error_against_the_live_schema():
    mapping = parse_mapping(HUBSPOT, "m.yaml")
    schema = _Schema(_all_fields(mapping))
    check_live(mapping, schema, "m.yaml")  # the shipped defaults are fine
    assert sorted(schema.calls) == sorted(set(schema.calls))  # one describe per object
    schema.fields["companies"].remove("phone")
    with pytest.raises(
        MappingError, match=r"m.yaml: objects\[0\]\.fields\[6\]\.external: .*'phone'.*companies"
    ):
        check_live(mapping, schema, "m.yaml")
