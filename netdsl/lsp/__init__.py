"""The netdsl language server: `netdsl lsp` (needs the `lsp` extra: pygls, lsprotocol)."""


def serve() -> None:
    try:
        from netdsl.lsp.server import serve as _serve
    except ImportError as exc:
        import sys

        print(
            f"netdsl lsp needs pygls and lsprotocol ({exc}); "
            'install them with: pip install "netdsl[lsp]"',
            file=sys.stderr,
        )
        sys.exit(2)
    _serve()
