"""Turning stored trajectories into answers: which tokens carry the credit, how reflective and
how long the reasoning is.

    from fipo_bench.analysis.credit import plan_credit, run_credit       # per-token Future-KL
    from fipo_bench.analysis.settings import CreditSettings, PivotSettings
    plan = plan_credit(db_path, eval_id, CreditSettings(ref_model="ckpt/step-0"))  # no writes
    run_credit(plan)                                  # tokens.ref_logp, delta, future_kl, ...
    from fipo_bench.analysis.pivots import find_pivots
    find_pivots(Store(db_path), eval_id)              # keyword (no credit needed), credit, entropy
    find_pivots(Store(db_path), eval_id, kinds=("keyword",))   # e.g. right after an eval
    from fipo_bench.analysis.reports import build_report
    from fipo_bench.analysis.report_render import write_report
    write_report(build_report(store, [eval_a, eval_b], [run_id]), "html", Path("r.html"))

Modules: settings (validated configs), pair_scoring (one batch: policy and reference scored,
then algos.fipo_token_credit), batching (memory bounds), models (the tokenizer check), credit
(plan + resumable run over an eval), pivots; the statistics: stats (SEs, paired bootstrap
intervals, permutation p-values), evals (labels such as tiny-fipo@12), compare and
compare_render (`fipo-bench compare`), length_accuracy (the one slope definition, per sample /
per problem / per stage), reflection (rates and accuracies with intervals), events (the pivot
event study), run_curves; series_style (one colour per run and checkpoint, dashboard and
report alike); reports (numbers), figures (the paper's figures) and report_render
(csv / md / html). The settings each analysis used are kept per eval in the store's `analyses`
table (Store.upsert_analysis / get_analysis). Nothing here imports torch at package
import time: `credit` and `pair_scoring` do, when imported.
"""
