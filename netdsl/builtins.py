"""Built-in functions and initialisers available to every .net file."""

from __future__ import annotations

import inspect
import math

from netdsl.values import Builtin, Initializer, type_name


class BuiltinError(Exception):
    def __init__(self, message: str, hint: str | None = None, code: str = "E310"):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


def _number(name: str, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BuiltinError(f"{name} must be a number, not {type_name(value)}")
    return value


def _range(*args):
    if not 1 <= len(args) <= 3:
        raise BuiltinError("range() takes 1 to 3 integers")
    for a in args:
        if isinstance(a, bool) or not isinstance(a, int):
            raise BuiltinError(f"range() takes integers, not {type_name(a)}")
    return list(range(*args)) if len(range(*args)) <= _RANGE_LIMIT else _too_long(args)


_RANGE_LIMIT = 200_000  # = Limits.max_iterations: a longer list could not be looped over


def _too_long(args):
    raise BuiltinError(
        f"range({', '.join(map(str, args))}) has more than {_RANGE_LIMIT:,} elements",
        hint="networks this large are beyond netdsl's limits",
        code="E707",
    )


def _len(x):
    if not isinstance(x, (list, tuple, str)):
        raise BuiltinError(f"len() needs a list, tuple or string, not {type_name(x)}")
    return len(x)


def _seq_fn(name, fn, empty=None):
    def f(*args):
        items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        if not items and empty is not None:
            return empty
        if not items:
            raise BuiltinError(f"{name}() of nothing")
        for i in items:
            _number(f"{name}() arguments", i)
        return fn(items)

    return f


def _init(fn_name: str, **defaults):
    names = list(defaults)

    def make(*args, **kwargs):
        if len(args) > len(names):
            raise BuiltinError(f"{fn_name}() takes at most {len(names)} arguments")
        bound = dict(defaults)
        bound.update(zip(names, args))
        for k, v in kwargs.items():
            if k not in defaults:
                raise BuiltinError(
                    f"{fn_name}() has no argument '{k}'", hint=f"arguments: {', '.join(names)}"
                )
            bound[k] = v
        for k, v in bound.items():
            if isinstance(defaults[k], str):
                if not isinstance(v, str):
                    raise BuiltinError(f"{fn_name}(): '{k}' must be a string")
            elif v is not None:
                _number(f"{fn_name}(): '{k}'", v)
        return Initializer(fn_name, bound)

    return make


INIT_FUNCTIONS = {
    "constant": _init("constant", value=0.0),
    "normal": _init("normal", mean=0.0, std=1.0),
    "trunc_normal": _init("trunc_normal", mean=0.0, std=1.0, a=-2.0, b=2.0),
    "uniform": _init("uniform", a=0.0, b=1.0),
    "kaiming_normal": _init("kaiming_normal", a=0.0, mode="fan_in", nonlinearity="leaky_relu"),
    "kaiming_uniform": _init("kaiming_uniform", a=0.0, mode="fan_in", nonlinearity="leaky_relu"),
    "xavier_normal": _init("xavier_normal", gain=1.0),
    "xavier_uniform": _init("xavier_uniform", gain=1.0),
}


def _int(x):
    if isinstance(x, (bool, int, float)):
        return int(x)
    if isinstance(x, str) and x.strip().lstrip("-").isdigit():
        return int(x)
    raise BuiltinError(f"int() cannot convert {type_name(x)} {x!r}")


def _float(x):
    return float(_number("float() argument", x))


def _str(x):
    if isinstance(x, (bool, int, float, str)):
        return str(x).lower() if isinstance(x, bool) else str(x)
    raise BuiltinError(f"str() cannot convert {type_name(x)}")


def _round(x, digits=None):
    _number("round() argument", x)
    if digits is None:
        return round(x)  # to an int, halves to even, as Python's (and torchvision's) round
    if isinstance(digits, bool) or not isinstance(digits, int):
        raise BuiltinError(f"round(): digits must be an integer, not {type_name(digits)}")
    return round(x, digits)


def _make_divisible(v, divisor=8, min_value=None):
    """The nearest multiple of `divisor` to v, at least min_value (divisor by default)
    and not more than 10% below v: the channel rounding of MobileNet and EfficientNet
    (torchvision.models._utils._make_divisible)."""
    _number("make_divisible() value", v)
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 1:
        raise BuiltinError("make_divisible(): divisor must be a positive integer")
    low = divisor if min_value is None else _number("make_divisible() min_value", min_value)
    out = max(low, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


FUNCTIONS = {
    "len": _len,
    "round": _round,
    "make_divisible": _make_divisible,
    "range": _range,
    "min": _seq_fn("min", min),
    "max": _seq_fn("max", max),
    "sum": _seq_fn("sum", sum, empty=0),  # as Python's: the blocks before the first
    "ceil": lambda x: math.ceil(_number("ceil() argument", x)),  # stage tables' depths
    "floor": lambda x: math.floor(_number("floor() argument", x)),
    "abs": lambda x: abs(_number("abs() argument", x)),
    "int": _int,
    "float": _float,
    "str": _str,
    **INIT_FUNCTIONS,
}

BUILTINS = {name: Builtin(name, fn) for name, fn in FUNCTIONS.items()}


def call_builtin(b: Builtin, args: list, kwargs: dict):
    try:
        return b.fn(*args, **kwargs)
    except BuiltinError:
        raise
    except TypeError as exc:
        # Python's own arity complaint, reworded without its function internals.
        try:
            sig = str(inspect.signature(b.fn))
        except (TypeError, ValueError):
            sig = "(...)"
        raise BuiltinError(f"bad arguments to {b.name}(): {exc}", hint=f"{b.name}{sig}") from None
    except (ValueError, OverflowError, ZeroDivisionError) as exc:
        raise BuiltinError(f"{b.name}(): {exc}") from None
