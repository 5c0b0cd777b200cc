"""The `verl.plugins` entry point: `import verl` imports this module, which registers `fipo`.

verl logs a plug-in's import error at DEBUG level only, so a broken install would leave loss
mode `fipo` unregistered without a word until the first update fails ("Unsupported loss
mode"). This module reports such a failure at ERROR level, with the cause, then re-raises.
"""

import importlib
import logging

_log = logging.getLogger(__name__)

try:
    importlib.import_module("fipo_bench.integrations.verl")
except Exception as err:
    _log.error(
        "fipo-bench's verl plug-in failed to import, so loss mode 'fipo' is NOT registered: %s: %s",
        type(err).__name__,
        err,
        exc_info=True,
    )
    raise
