"""The evaluator: n samples per problem, verified, stored, scored (avg@k, cons@k, pass@k).

    from fipo_bench.eval import EvalSettings, plan_eval, run_eval, stored_eval_metrics
    job = plan_eval(EvalSettings(dataset="aime24", n=32), ["ckpt/step-000100"], Path("x.duckdb"))
    results = run_eval(job)                       # one ModelResult per model
    stored_eval_metrics(Store(path, read_only=True), eval_id)   # the same numbers, from the store

`plan_eval` validates everything and writes nothing; `run_eval` resumes whatever the store holds
for each model's eval_id. Metric functions on plain records: `fipo_bench.eval.metrics`.
"""

from fipo_bench.eval.metrics import EvalMetrics, SampleOutcome, compute_metrics, pass_at_k
from fipo_bench.eval.plan import EvalJob, PlannedModel, plan_engine_eval, plan_eval
from fipo_bench.eval.runner import ModelResult, StageTimes, run_eval, run_eval_with_engine
from fipo_bench.eval.settings import EvalSettings
from fipo_bench.eval.stored import metrics_json, outcomes_from_samples, stored_eval_metrics

__all__ = [
    "EvalJob",
    "EvalMetrics",
    "EvalSettings",
    "ModelResult",
    "PlannedModel",
    "SampleOutcome",
    "StageTimes",
    "compute_metrics",
    "metrics_json",
    "outcomes_from_samples",
    "pass_at_k",
    "plan_engine_eval",
    "plan_eval",
    "run_eval",
    "run_eval_with_engine",
    "stored_eval_metrics",
]
