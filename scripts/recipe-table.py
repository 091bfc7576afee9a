#!/usr/bin/python3
"""Summarises artifacts/recipe/*.jsonl (the recipe experiment's records) as a Markdown table, one row per record;
`--five run1,run2,...` prints the targets table of several seeds of one configuration (docs/recipe.md)."""
import glob, json, sys

def five_minute(names):
    """--five a,b,...: the targets table of several seeds of one configuration, per evaluation step, then the label
    tasks at the last step (per seed × split), and the per-structure AUCs at the last step (mean over the seeds)."""
    import statistics as st
    recs = {}
    for n in names:
        for line in open(f'artifacts/recipe/{n}.jsonl'):
            d = json.loads(line)
            if 'config' in d:
                recs.setdefault(n, {})[d['step']] = d
    steps = sorted(set.intersection(*[set(r) for r in recs.values()]))
    sd = lambda xs: st.stdev(xs) if len(xs) > 1 else 0.0
    fmt = lambda xs: ' / '.join(f'{x:.3f}' for x in xs) + f' | {st.mean(xs):.3f} ± {sd(xs):.3f}'
    print(f"| quantity (seeds {', '.join(str(recs[n][steps[0]]['config']['seed']) for n in names)}) | step | per seed | mean ± sd |")
    print('|---|---|---|---|')
    for s in steps:
        rs = [recs[n][s] for n in names]
        print(f"| held-out position accuracy | {s} | {fmt([r['heldOutAcc'] for r in rs])} |")
        if rs[0].get('trainScanAcc') is not None:
            print(f"| training-scan position accuracy | {s} | {fmt([r['trainScanAcc'] for r in rs])} |")
        if rs[0].get('maps'):
            m = [r['maps']['mean'] for r in rs]
            print(f"| map AUC trained | {s} | {fmt([x['trained'] for x in m])} |")
            print(f"| map AUC untrained | {s} | {fmt([x['untrained'] for x in m])} |")
            print(f"| map AUC trained − untrained | {s} | {fmt([x['trained'] - x['untrained'] for x in m])} |")
            print(f"| map AUC trained − intensity | {s} | {fmt([x['trained'] - x['intensity'] for x in m])} |")
    last = steps[-1]
    rs = [recs[n][last] for n in names if recs[n][last].get('bench')]
    if rs:
        print()
        print(f'| label task (step {last}) | random (seed × split) | trained (seed × split) | gain per pair | mean gain | sd of random | trained better on | beyond the spread? |')
        print('|---|---|---|---|---|---|---|---|')
        # Records since the block split keep {values: {task: {random: [per split], trained: [...]}}} (their paired
        # table: scripts/bench-paired.py); older ones {task: {random: [per split seed], ...}}.
        bench = lambda r: r['bench'].get('values', r['bench'])
        for task in bench(rs[0]):
            rnd = [v for r in rs for v in bench(r)[task]['random']]
            trn = [v for r in rs for v in bench(r)[task]['trained']]
            gain = [t - r for t, r in zip(trn, rnd)]
            g, s_ = st.mean(gain), sd(rnd)
            print(f"| {task} | {' '.join(f'{x:.2f}' for x in rnd)} (mean {st.mean(rnd):.3f}) | {' '.join(f'{x:.2f}' for x in trn)} (mean {st.mean(trn):.3f}) | "
                  f"{' '.join(f'{x:+.2f}' for x in gain)} | {g:+.3f} | {s_:.3f} | {sum(x > 0 for x in gain)} of {len(gain)} | {'yes' if g > s_ else 'no'} |")
    if recs[names[0]][last].get('maps'):
        print()
        print(f'| structure (step {last}, mean over seeds) | trained | untrained | intensity | trained − untrained |')
        print('|---|---|---|---|---|')
        for k in recs[names[0]][last]['maps']['perStructure']:
            v = [recs[n][last]['maps']['perStructure'][k] for n in names]
            t, u, i = (st.mean(x[key] for x in v) for key in ('trained', 'untrained', 'intensity'))
            print(f'| {k} | {t:.3f} | {u:.3f} | {i:.3f} | {t - u:+.3f} |')




if len(sys.argv) > 2 and sys.argv[1] == '--five':
    five_minute(sys.argv[2].split(','))
    sys.exit(0)

rows = []
for path in sorted(glob.glob(sys.argv[1] if len(sys.argv) > 1 else 'artifacts/recipe/*.jsonl')):
    for line in open(path):
        d = json.loads(line)
        if 'config' not in d or 'heldOutAcc' not in d:  # --bench-weights records: bench only
            continue
        c = d['config']
        m = d.get('maps') or {}
        mean = m.get('mean', {})
        loss = d.get('loss') or {}
        rows.append([
            d['name'], d['step'], c['preset'], c['cropSize'], c.get('dataMode', 'region'), f"{c['lr']:g}", c['warmupSteps'], c['gradClip'],
            c['seed'], d['train'], d.get('split', 1), d['heldOut'],
            f"{d['heldOutAcc']:.3f}", '' if d.get('trainScanAcc') is None else f"{d['trainScanAcc']:.3f}",
            '' if d.get('trainAccLast') is None else f"{d['trainAccLast']:.3f}",
            f"{mean.get('trained', float('nan')):.3f}", f"{mean.get('untrained', float('nan')):.3f}", f"{mean.get('intensity', float('nan')):.3f}",
            '' if not loss else f"{loss['first']:.3f}→{loss['last']:.3f}",
            '' if d.get('stepMsMean') is None else f"{d['stepMsMean']:.0f}",
            ' '.join(str(x) for x in d.get('load', [])[:1]),
        ])
head = ['run', 'step', 'preset', 'r', 'mode', 'lr', 'warmup', 'clip', 'seed', 'train', 'split', 'held out', 'held-out acc', 'train-scan acc',
        'train acc (last ⅓)', 'AUC trained', 'AUC untrained', 'AUC intensity', 'loss first⅓→last⅓', 'ms/step (loaded)', 'load']
print('| ' + ' | '.join(head) + ' |')
print('|' + '---|' * len(head))
for r in rows:
    print('| ' + ' | '.join(str(x) for x in r) + ' |')
