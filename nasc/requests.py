"""Checks of a build request (target, backend, precision) before any stage runs.

Why up front: ``nasc compile --target cpuu`` used to search and retrain for minutes and only
then fail at the build.  Everything these checks need is static (the target table and the
backend registry), so they cost milliseconds and never import a backend's libraries.
"""

from __future__ import annotations

from .errors import UsageError, did_you_mean


def check_build_request(target: str, backend: str, precision: str) -> None:
    """Raise a :class:`UsageError` (exit 2, with a did-you-mean) for an unknown target, a backend
    the target does not list, or a precision the target does not support."""
    import nasc.backends as nb
    from nasc.backends.registry import backend_names

    tgt = nb.get_target(target)  # unknown names raise with the known ones listed
    names = sorted(set(backend_names()) | {"auto"})
    if backend not in names:
        raise UsageError(f"unknown backend '{backend}'{did_you_mean(backend, names)} (known: {', '.join(names)})")
    if backend != "auto" and backend not in tgt.backends:
        raise UsageError(f"backend '{backend}' does not build for target '{tgt.name}' "
                         f"(its backends: {', '.join(tgt.backends)})")
    if precision not in tgt.precisions:
        raise UsageError(f"target '{tgt.name}' has no {precision} precision{did_you_mean(precision, tgt.precisions)} "
                         f"(its precisions: {', '.join(tgt.precisions)})")


__all__ = ["check_build_request"]
