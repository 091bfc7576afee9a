#!/usr/bin/python3
"""The label tasks' paired table of docs/recipe.md from the recipe experiment's --bench-weights records:
  scripts/bench-paired.py artifacts/recipe/probe3/blocks8-s42.jsonl artifacts/recipe/probe3/blocks8-s7.jsonl ...
Per task/metric: random init and trained (mean over seeds × splits), the unpaired spread (sd of random init over
seeds × splits), the paired gain (trained − random on the same split) with its sd, its standard error over all pairs
and over the seeds (sd of the per-seed mean gains / √seeds: the pairs of one seed share its weights), how many pairs
are better, and the verdicts: mean gain beyond the spread; a paired t-test over the pairs (95 %, two-sided, as the
Benchmark tab's "paired"); and the seed-level t (mean of the per-seed gains / its SE, seeds − 1 df)."""
import json, statistics as st, sys

T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101,
        2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042]
tcrit = lambda df: T975[df - 1] if df <= 30 else 1.96 + 2.4 / df  # src/eval/pairedStats.ts tCritical95

def load(path):
    for line in open(path):
        d = json.loads(line)
        if d.get('bench'):
            return d
    raise SystemExit(f'{path}: no bench record')

recs = [load(p) for p in sys.argv[1:]]
seeds = [r['config']['seed'] for r in recs]
keys = list(recs[0]['bench']['values'])
sd = lambda xs: st.stdev(xs) if len(xs) > 1 else float('nan')
print(f"| task / metric (seeds {', '.join(map(str, seeds))} × {len(recs[0]['bench']['values'][keys[0]]['random'])} splits) | random init | trained | spread (sd of random) | paired gain ± sd | SE over pairs | per-seed mean gains | trained better on | beyond the spread? | paired t over the pairs (95 %)? | seed-level t ({len(recs) - 1} df, {tcrit(len(recs) - 1):.2f} needed) |")
print('|---|---|---|---|---|---|---|---|---|---|---|')
for k in keys:
    rnd, trn, per_seed = [], [], []
    for r in recs:
        a, b = r['bench']['values'][k]['random'], r['bench']['values'][k]['trained']
        rnd += a
        trn += b
        per_seed.append(st.mean(y - x for x, y in zip(a, b)))
    gains = [y - x for x, y in zip(rnd, trn)]
    g, gs = st.mean(gains), sd(gains)
    se = gs / len(gains) ** 0.5
    se_seeds = sd(per_seed) / len(per_seed) ** 0.5
    t_seeds = st.mean(per_seed) / se_seeds if se_seeds == se_seeds and se_seeds > 0 else float('nan')
    spread = sd(rnd)
    print(f"| {k} | {st.mean(rnd):.3f} | {st.mean(trn):.3f} | {spread:.3f} | {g:+.3f} ± {gs:.3f} | {se:.3f} | {', '.join(f'{x:+.3f}' for x in per_seed)} | "
          f"{sum(x > 0 for x in gains)} of {len(gains)} | {'**yes**' if g > spread else 'no'} | {'**yes**' if g > tcrit(len(gains) - 1) * se else 'no'} | {t_seeds:.1f} |")
