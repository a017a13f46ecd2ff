"""Identifiers in generated code.

Every name that comes from a .net file (networks, blocks, parameters, layers,
variables, inputs, outputs) goes through here before it reaches code. netdsl's
grammar already restricts names to [A-Za-z_][A-Za-z0-9_]*, but a .net name may
still be a Python keyword (`class`), a builtin (`print`), a name the generated
module imports (`torch`), or an attribute nn.Module already has (`training`,
`forward`). Such names get a trailing underscore (repeated until the name is
free), deterministically.
"""

from __future__ import annotations

import builtins
import keyword
import re

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

PY_RESERVED = (
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | {n for n in dir(builtins) if not n.startswith("__")}
    | {"self", "super", "__class__"}
)

# What the generated module defines or imports at module level.
MODULE_NAMES = {
    "torch",
    "nn",
    "F",
    "NamedTuple",
    "OrderedDict",
    "argparse",
    "time",
    "INPUT_SHAPES",
    "create_model",
    "fold_batchnorm",
    "main",
}

# Attributes of nn.Module and nn.Sequential (torch 2.x); a submodule of that name
# would shadow a method or fail in add_module. tests/test_pytorch_backend.py
# checks this list against the installed torch.
MODULE_ATTRS = {
    "T_destination",
    "add_module",
    "append",
    "apply",
    "bfloat16",
    "buffers",
    "call_super_init",
    "children",
    "compile",
    "cpu",
    "cuda",
    "double",
    "dump_patches",
    "eval",
    "extend",
    "extra_repr",
    "float",
    "forward",
    "get_buffer",
    "get_extra_state",
    "get_parameter",
    "get_submodule",
    "half",
    "insert",
    "ipu",
    "load_state_dict",
    "modules",
    "mtia",
    "named_buffers",
    "named_children",
    "named_modules",
    "named_parameters",
    "parameters",
    "pop",
    "register_backward_hook",
    "register_buffer",
    "register_forward_hook",
    "register_forward_pre_hook",
    "register_full_backward_hook",
    "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook",
    "register_module",
    "register_parameter",
    "register_state_dict_post_hook",
    "register_state_dict_pre_hook",
    "requires_grad_",
    "set_extra_state",
    "set_submodule",
    "share_memory",
    "state_dict",
    "to",
    "to_empty",
    "train",
    "training",
    "type",
    "xpu",
    "zero_grad",
    # what generated classes define themselves
    "AUX_LOSS_WEIGHTS",
    "FOLDED_BATCHNORM",
    "_init_weights",
}

# nn.Module's private state and helpers.
MODULE_INTERNALS = {
    "_apply",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_buffers",
    "_call_impl",
    "_compiled_call_impl",
    "_forward_hooks",
    "_forward_hooks_always_called",
    "_forward_hooks_with_kwargs",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_get_backward_hooks",
    "_get_backward_pre_hooks",
    "_get_item_by_idx",
    "_get_name",
    "_is_full_backward_hook",
    "_load_from_state_dict",
    "_load_state_dict_post_hooks",
    "_load_state_dict_pre_hooks",
    "_maybe_warn_non_full_backward_hook",
    "_modules",
    "_named_members",
    "_non_persistent_buffers_set",
    "_parameters",
    "_register_load_state_dict_pre_hook",
    "_register_state_dict_hook",
    "_replicate_for_data_parallel",
    "_save_to_state_dict",
    "_slow_forward",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_version",
    "_wrapped_call_impl",
    "_init_weights",
}

# Names pycodestyle (E741) refuses for variables.
AMBIGUOUS = {"l", "O", "I"}


def fresh(
    name: str, taken: set[str] | frozenset[str], reserved: set[str] | frozenset[str] = frozenset()
) -> str:
    """`name`, made a valid identifier outside reserved and taken (not recorded)."""
    if not IDENT.match(name):
        name = re.sub(r"\W", "_", name)
        if not name or name[0].isdigit():
            name = "_" + name
    while name in reserved or name in taken or name in PY_RESERVED:
        name += "_"
    return name


def attr_name(name: str, taken: set[str]) -> str:
    """A submodule attribute (or nn.Sequential key) for a .net layer name."""
    if name.startswith("__") or name in MODULE_INTERNALS:
        # nn.Module keeps its state in _parameters, _modules, ...; stay clear.
        name = "m" + name
    return fresh(name, taken, MODULE_ATTRS | MODULE_NAMES)
