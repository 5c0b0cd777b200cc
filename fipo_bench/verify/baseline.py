"""Plain math-verify, as its README shows it, for comparison with fipo-bench's verifier.

    verify(parse("$" + gold + "$"), parse(response))

with math-verify's default extraction and comparison settings, on the whole response. Each item
runs in a worker process that is killed after `timeout_s` (some parses hang far beyond
math-verify's own alarms); a killed or crashed item counts as "incorrect", as it would for a
caller who wrapped math-verify in a timeout.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Sequence

from pebble import ProcessPool

PLAIN_TIMEOUT_S = 10.0


def plain_verdict(gold: str, response: str) -> bool:
    """math-verify's verdict with its defaults: gold wrapped in $...$, the response as it is."""
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    return bool(verify(parse(f"${gold}$"), parse(response)))


def plain_verdicts(
    items: Sequence[tuple[str, str]], *, timeout_s: float = PLAIN_TIMEOUT_S, workers: int = 2
) -> list[bool | None]:
    """`plain_verdict` per (gold, response), in order; None where the item was killed or died."""
    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    verdicts: list[bool | None] = []
    with ProcessPool(max_workers=workers, context=context) as pool:
        futures = [pool.schedule(plain_verdict, args=item, timeout=timeout_s) for item in items]
        for future in futures:
            try:
                verdicts.append(future.result())
            except Exception:  # killed at the deadline, died, or math-verify itself raised
                verdicts.append(None)
    return verdicts
