"""Fixtures of the PIM-SM tests: topologies built with the Topology model."""

from __future__ import annotations

import pytest

from topologies.model import Topology


def _pair_spec() -> dict:
    """The pair topology as a plain dict, for tests that change a field before validating."""
    return {
        "name": "pair",
        "switches": [{"name": "s1"}, {"name": "s2"}],
        "hosts": [
            {"name": "h1", "role": "model-store", "cloud": "a"},
            {"name": "h2", "role": "gpu", "cloud": "b"},
        ],
        "links": [
            {"a": "h1", "b": "s1", "bw_mbit": 100},
            {"a": "s1", "b": "s2", "bw_mbit": 50, "weight": 3},
            {"a": "s2", "b": "h2", "bw_mbit": 100},
        ],
    }


@pytest.fixture
def pair_spec() -> dict:
    return _pair_spec()


@pytest.fixture
def pair() -> Topology:
    return Topology.model_validate(_pair_spec())


@pytest.fixture
def diamond() -> Topology:
    """Model store on s1; GPU hosts h2, h3, h4 on s4. Primary path s1-s2-s4 (cost 2), backup
    s1-s3-s4 (cost 10)."""
    return Topology.model_validate(
        {
            "name": "diamond",
            "switches": [{"name": n} for n in ("s1", "s2", "s3", "s4")],
            "hosts": [{"name": "h1", "role": "model-store", "cloud": "a"}]
            + [{"name": f"h{k}", "role": "gpu", "cloud": "b"} for k in (2, 3, 4)],
            "links": [
                {"a": "h1", "b": "s1", "bw_mbit": 100},
                {"a": "s1", "b": "s2", "bw_mbit": 100, "weight": 1},
                {"a": "s2", "b": "s4", "bw_mbit": 100, "weight": 1},
                {"a": "s1", "b": "s3", "bw_mbit": 100, "weight": 5},
                {"a": "s3", "b": "s4", "bw_mbit": 100, "weight": 5},
                {"a": "s4", "b": "h2", "bw_mbit": 100},
                {"a": "s4", "b": "h3", "bw_mbit": 100},
                {"a": "s4", "b": "h4", "bw_mbit": 100},
            ],
        }
    )
