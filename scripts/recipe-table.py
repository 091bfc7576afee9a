#!/usr/bin/python3
"""Summarises artifacts/recipe/*.jsonl (the recipe experiment's records) as a Markdown table, one row per record."""
import glob, json, sys

rows = []
for path in sorted(glob.glob(sys.argv[1] if len(sys.argv) > 1 else 'artifacts/recipe/*.jsonl')):
    for line in open(path):
        d = json.loads(line)
        if 'config' not in d:
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
