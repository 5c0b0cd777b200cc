"""Thin adapters that run fipo-bench's objective inside the trainers people scale with.

- verl.py          verl's `fipo` policy loss and `FipoPolicyLossConfig` (extra `[verl]`)
- verl_plugin.py   the `verl.plugins` entry point: imports verl.py, reports a failure loudly
- verl_presets.py  a fipo-bench preset as the hydra overrides that reproduce it in verl
- trl.py           `FIPOConfig` / `FIPOTrainer` on TRL's GRPOTrainer (extra `[trl]`)

None of them computes any of the objective: every loss value, weight and metric comes from
`fipo_bench.algos` (DESIGN.md: one implementation of the math). What lives here is the
translation between the host's tensors, config and metric names and fipo-bench's.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from fipo_bench.errors import ConfigError


def import_extra(module: str, *, extra: str, pin: str) -> ModuleType:
    """`module` imported, or a ConfigError saying which extra installs it (and which version)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module and not module.startswith(f"{err.name}."):
            raise  # the package is there but one of its own imports is broken: show that
        raise ConfigError(
            f"{module} is not installed: the {extra} integration needs {pin} "
            f"(pip install 'fipo-bench[{extra}]')"
        ) from None


def check_version(package: str, installed: str, pin: str) -> None:
    """ConfigError unless `installed` satisfies `pin` (e.g. "trl==1.16.*"); the adapters use
    private APIs of the version they were written against."""
    spec = SpecifierSet(pin.removeprefix(package))
    try:
        ok = Version(installed) in spec
    except InvalidVersion:
        ok = False
    if not ok:
        raise ConfigError(
            f"{package} {installed} is installed, but fipo-bench's {package} integration is "
            f"written against {pin} (pip install '{pin}')"
        )
