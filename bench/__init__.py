"""tape's benchmark suite against peers: `python -m bench` (see README "Benchmarks").

Layout: `data` makes the inputs every peer shares; `api` holds the workloads written once
against PyTorch's API (run by tape and by torch); `by_hand`, `fused`, `jax_peer` and
`autograd_peer` are the other peers; `worker` measures one peer in its own process;
`__main__` starts the workers and prints the tables.  Nothing here imports a peer at package
import time, so `import bench` is cheap and needs none of them.
"""

# peer name -> (module under bench, variant passed to its builders(), module that must exist)
PEERS = {
    "tape": ("api", "tape", "numba"),
    "torch-1t": ("api", "torch-1t", "torch"),
    "torch": ("api", "torch", "torch"),
    "jax": ("jax_peer", None, "jax"),
    "autograd": ("autograd_peer", None, "autograd"),
    "numpy": ("by_hand", None, "numpy"),
    "numba": ("fused", None, "numba"),
}

PEER_LABELS = {
    "tape": "tape",
    "torch-1t": "PyTorch 1 thread",
    "torch": "PyTorch default threads",
    "jax": "JAX jit",
    "autograd": "HIPS autograd",
    "numpy": "numpy by hand",
    "numba": "numba hand-fused",
}


def builders(peer):
    """{workload: builder} for `peer`; imports the peer's library (so call it in a worker)."""
    import importlib
    module, variant, _ = PEERS[peer]
    return importlib.import_module(f"bench.{module}").builders(variant)
