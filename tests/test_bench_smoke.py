"""Smoke test of bench/: every workload runs at tiny sizes and the peers agree on its values.

Values only, never times.  numpy-by-hand is the reference; tape and numba are always
present; PyTorch, JAX and HIPS autograd are compared when installed and skipped otherwise.
"""
import importlib.util

import numpy as np
import pytest

import bench
import tape
from bench import worker
from bench.__main__ import main_table, sweep_tables

WORKLOADS = {name: worker.TINY[name] for name in ("legendre", "twolayer", "chain", "sigmoid4m")}
WORKLOADS["elementwise"] = {"n": 10}

# Features other engineers are adding to tape; until they land the workload is skipped here
# (and `python -m bench` prints "not supported yet").
TAPE_NEEDS = {"legendre": lambda: hasattr(tape.autograd, "Function"),
              "twolayer": lambda: hasattr(tape.Tensor, "clamp")}


def values(peer, name):
    step = bench.builders(peer)[name](**WORKLOADS[name])
    out = {}
    step(out)
    step()          # a second step (after the update) must run too
    return out


def assert_same(got, want):
    for a, b in zip([got["loss"]] + got["grads"], [want["loss"]] + want["grads"]):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape or a.size == b.size == 1
        # float32 sums in different orders: relative to the largest magnitude in play
        np.testing.assert_allclose(a.ravel(), b.ravel(), rtol=1e-4,
                                   atol=1e-4 * max(1.0, float(np.abs(b).max())))
    assert len(got["grads"]) == len(want["grads"])


def _optional(peer):
    need = bench.PEERS[peer][2]
    if importlib.util.find_spec(need) is None:
        pytest.skip(f"{need} is not installed")


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_tape_matches_numpy_by_hand(name):
    if name in TAPE_NEEDS and not TAPE_NEEDS[name]():
        pytest.skip(f"tape does not support the {name} workload yet")
    assert_same(values("tape", name), values("numpy", name))


@pytest.mark.parametrize("name", ["legendre", "sigmoid4m"])
def test_numba_fused_matches_numpy_by_hand(name):
    assert_same(values("numba", name), values("numpy", name))


@pytest.mark.parametrize("peer", ["torch", "jax", "autograd"])
def test_optional_peers_match_numpy_by_hand(peer):
    _optional(peer)
    for name in WORKLOADS:
        assert_same(values(peer, name), values("numpy", name))


def test_worker_sections_and_tables():
    """The timed sections, the memory probe and the table code run end to end (tiny sizes)."""
    results = {"peers": {}, "missing": {"jax": "not installed (no module 'jax')"}}
    for peer in ("tape", "numpy"):
        res = worker.run_timed(peer, worker.SECTIONS, worker.TINY)
        for section in worker.SECTIONS:
            entry = res[section]
            if peer == "tape" and section in TAPE_NEEDS and not TAPE_NEEDS[section]():
                assert "error" in entry
            else:
                assert "s" in entry or "points" in entry, (peer, section, entry)
        res["memory"] = worker.run_memory(peer, worker.TINY)
        assert res["memory"]["peak_over_base"] >= 0
        results["peers"][peer] = res
    assert results["peers"]["tape"]["memory"]["tape_saved"] >= 0
    table = main_table(results, ["tape", "numpy", "jax"])
    assert "numpy by hand" in table and "JAX jit: not installed" in table
    sweeps = sweep_tables(results, ["tape", "numpy"])
    assert "ns per element" in sweeps and "ns per op" in sweeps
