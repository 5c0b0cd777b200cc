"""`fipo-bench demo`: the whole loop on the embedded default, stage by stage, resumable.

build tiny model -> train tiny-grpo / tiny-dapo / tiny-fipo from it -> evaluate the base and the
three final checkpoints side by side -> credit of the FIPO checkpoint against the base -> pivots
-> quartile report (html + md) -> summary + the dashboard command.
"""

from fipo_bench.demo.plan import DemoPlan, make_plan
from fipo_bench.demo.run import DemoResult, run_demo

__all__ = ["DemoPlan", "DemoResult", "make_plan", "run_demo"]
