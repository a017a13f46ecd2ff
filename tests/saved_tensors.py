"""PyTorch's own accounting of training activations: the unique storages that
torch.autograd.graph.saved_tensors_hooks sees during one training forward."""

from __future__ import annotations

import torch


def saved_bytes(model: torch.nn.Module, *inputs: torch.Tensor, autocast: bool = False) -> int:
    """Bytes of the distinct storages saved for backward, parameters and buffers excluded."""
    own = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in own:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if autocast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                model(*inputs)
        else:
            model(*inputs)
    return sum(seen.values())
