"""netdsl: a compiler for a small declarative language describing neural networks."""

__version__ = "0.1.0"
