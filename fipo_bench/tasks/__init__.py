"""Problem sources (benchmark registry, local files, hub ids) and prompt templates."""

from fipo_bench.tasks.problem import Problem
from fipo_bench.tasks.prompts import TEMPLATES, render_prompt
from fipo_bench.tasks.registry import DATASETS, DatasetSpec, default_prompt, load_problems

__all__ = [
    "DATASETS",
    "TEMPLATES",
    "DatasetSpec",
    "Problem",
    "default_prompt",
    "load_problems",
    "render_prompt",
]
