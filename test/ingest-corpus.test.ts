// The generated ingest corpus (scripts/make-ingest-corpus.mjs) through the worker-side ingest logic under Node:
// planning (what is left out and why, how DICOM folders are grouped and named), loading every non-DICOM file
// (dcm2niix needs a browser worker: e2e/ingest-corpus.spec.ts converts the DICOM cases), and the facts the
// dataset panel decides with (duplicates, label-map candidates, overlaps, training exclusions, geometry).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeIngestCorpus, type CorpusEntry } from '../scripts/make-ingest-corpus.mjs';
import { inspectDicom, seriesGeometry, unevenGaps } from '../src/ingest/dicomHeader';
import { gridMapping, isNamedLabelMap, labelOverlap, labelsOnScanGrid, looksLikeIds } from '../src/ingest/labels';
import { loadUnit } from '../src/ingest/loadUnit';
import { planRoots, type Plan } from '../src/ingest/plan';
import type { LoadedVolume } from '../src/ingest/types';
import { preprocessVolume } from '../src/preprocess/preprocess';
import { preprocessSettingsOf, resampledRasDims, DEFAULT_RUN_CONFIG } from '../src/store/runConfig';

const OUT = join(process.cwd(), 'artifacts/ingest-corpus/vitest');
let manifest: CorpusEntry[];
let plan: Plan;
const loaded = new Map<string, LoadedVolume>();
const failed = new Map<string, string>();

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

beforeAll(async () => {
  const t0 = performance.now();
  const corpus = makeIngestCorpus(OUT);
  manifest = corpus.manifest;
  console.log(`[corpus] generated ${manifest.length} cases in ${(performance.now() - t0).toFixed(0)} ms`);
  const files = walk(corpus.root).map((p) => {
    const rel = relative(corpus.root, p);
    return { path: `corpus/${rel}`, file: new File([readFileSync(p)], rel.split('/').pop()!) };
  });
  plan = await planRoots([{ kind: 'folder', label: 'corpus', files }]);
  for (const unit of plan.units) {
    if (unit.format === 'dicom') continue;
    try {
      const r = await loadUnit(unit, () => {});
      loaded.set(unit.name, r.results[0]);
    } catch (e) {
      failed.set(unit.name, (e as Error).message);
    }
  }
}, 60_000);

const rowEntries = () => manifest.flatMap((m) => ('row' in m.expect ? [{ ...m, expect: m.expect }] : []));

describe('ingest corpus: planning', () => {
  it('leaves out each non-image or cut-short file by name, with its reason', () => {
    for (const m of manifest) {
      const e = m.expect;
      if (!('leftOut' in e)) continue;
      const entry = plan.leftOut.find((l) => l.path === `corpus/${e.leftOut}`);
      expect(entry, `${m.file} (${m.case}) is in the left-out list`).toBeDefined();
      expect(entry!.reason, m.case).toContain(e.reason);
    }
    // Nothing is left out that the manifest does not expect.
    expect(plan.leftOut.map((l) => l.path).sort()).toEqual(
      manifest.flatMap((m) => { const e = m.expect; return 'leftOut' in e ? [`corpus/${e.leftOut}`] : []; }).sort(),
    );
  });

  it('makes one DICOM unit per folder, named by that folder', () => {
    const dicom = plan.units.filter((u) => u.format === 'dicom');
    expect(dicom.map((u) => `${u.name}:${u.files.length}`).sort()).toEqual(
      ['dicom-tilt:12', 'dicom-truncated:4', 'dicom-undecodable:3', 'dicom-with-report:6', 'series-a:4', 'series-b:4'].sort(),
    );
    expect(plan.problems).toEqual([]);
  });

  it('reads the gantry tilt and the uneven table steps from the headers', () => {
    const tilt = plan.units.find((u) => u.name === 'dicom-tilt')!;
    const geo = seriesGeometry(tilt.dicom!)!;
    expect(geo.tilt).toBeCloseTo(18.5, 5);
    expect(Math.min(...geo.gaps)).toBeCloseTo(1.1, 2);
    expect(Math.max(...geo.gaps)).toBeCloseTo(7.0, 2);
    expect(unevenGaps(geo.gaps)).toBe(true);
    const even = plan.units.find((u) => u.name === 'series-a')!;
    expect(unevenGaps(seriesGeometry(even.dicom!)!.gaps)).toBe(false);
  });

  it('names a lone non-DICOM .dcm as a problem row of its own name', async () => {
    const lone = join(OUT, 'notes.dcm');
    const p = await planRoots([{ kind: 'file', label: 'notes.dcm', files: [{ path: 'notes.dcm', file: new File([readFileSync(lone)], 'notes.dcm') }] }]);
    expect(p.units).toEqual([]);
    expect(p.problems).toEqual([{ name: 'notes.dcm', files: ['notes.dcm'], message: expect.stringContaining('not a DICOM file') }]);
  });

  it('finds a truncated slice even when its header is whole', async () => {
    const file = readFileSync(join(OUT, 'corpus/dicom-truncated/IM3.dcm'));
    const r = await inspectDicom(new Blob([file]));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/cut short: its pixel data needs 8192 bytes, the file holds 5192/);
  });
});

describe('ingest corpus: every NIfTI file loads to its expected outcome', () => {
  it('errors and warnings name the problem', () => {
    for (const m of rowEntries()) {
      if (m.file.startsWith('dicom')) continue;
      const name = m.expect.row;
      if (m.expect.status === 'error') {
        expect(failed.get(name), `${m.file} (${m.case}) fails`).toContain(m.expect.message!);
        continue;
      }
      const r = loaded.get(name);
      expect(r, `${m.file} (${m.case}) loads`).toBeDefined();
      if (m.expect.dims) expect(r!.volume.dims.join(' × ')).toBe(m.expect.dims);
      if (m.expect.orientation) expect(r!.facts.orientation).toBe(m.expect.orientation);
      // Warnings raised in the worker (duplicates and label pairing are decided on the main thread, below).
      if (m.expect.status === 'warning' && !/duplicate|label map/.test(m.case))
        expect(r!.facts.warnings.join(' | '), m.case).toContain(m.expect.message!);
      if (m.expect.status === 'ok' || /overlapping label maps/.test(m.case)) expect(r!.facts.warnings, m.case).toEqual([]);
    }
  });

  it('marks constant, non-HU and NaN volumes as not for training, with the reason', () => {
    for (const m of manifest) {
      if (!m.training || !('row' in m.expect) || m.file.startsWith('dicom') || /duplicate|label map/.test(m.case)) continue;
      const r = loaded.get(m.expect.row)!;
      if (m.training.ticked) expect(r.facts.exclude, m.case).toBeUndefined();
      else expect(r.facts.exclude, m.case).toContain(m.training.reason!);
    }
  });

  it('never takes an empty volume for a label map; pairs nothing with the orphan label map', () => {
    const scan = loaded.get('scan.nii.gz')!;
    const empty = loaded.get('empty.nii')!;
    expect(gridMapping(empty.volume, scan.volume)).not.toBeNull(); // same grid…
    expect(looksLikeIds(empty.facts)).toBe(false); // …but no ids
    const orphan = loaded.get('orphan_seg.nii')!;
    expect(isNamedLabelMap(orphan.volume.name, orphan.facts)).toBe(true);
    for (const r of loaded.values()) if (r !== orphan) expect(gridMapping(orphan.volume, r.volume)).toBeNull();
  });

  it('recognises the duplicate by its content hash', () => {
    expect(loaded.get('scan-copy.nii.gz')!.facts.contentHash).toBe(loaded.get('scan.nii.gz')!.facts.contentHash);
    const hashes = [...loaded.values()].map((r) => r.facts.contentHash);
    expect(new Set(hashes).size).toBe(hashes.length - 1);
  });

  it('sees the two label maps overlap', () => {
    const scan = loaded.get('scan.nii.gz')!.volume;
    const onGrid = (name: string) => {
      const v = loaded.get(name)!.volume;
      return labelsOnScanGrid(v.data, v.dims, scan.dims, gridMapping(v, scan)!);
    };
    const o = labelOverlap(onGrid('aorta_mask.nii'), onGrid('lumen_label.nii'));
    expect(o.both).toBe(o.incoming); // the lumen map lies inside the aorta mask
    expect(o.both).toBeGreaterThan(0);
  });

  it('the run setup size of the tilted scan is the grid preprocessing resamples to', () => {
    const v = loaded.get('scan-tilted.nii')!.volume;
    const spacing = DEFAULT_RUN_CONFIG.spacing;
    // No foreground crop (everything is foreground) and no padding: the resampled grid itself.
    const pv = preprocessVolume(v, { spacing, huWindow: [-1000, 1000], minSize: [1, 1, 1], foregroundThreshold: -1 });
    expect(resampledRasDims(v.dims, v.affine, spacing)).toEqual(pv.dims);
    expect(pv.dims).toEqual([19, 27, 24]); // voxel axis j (90 × 0.9 mm) runs closest to y, k (24 × 3 mm) to z
  });

  it('pads the 60×63×82 scan to the training region instead of refusing it', () => {
    const v = loaded.get('scan-small.nii.gz')!.volume;
    const settings = preprocessSettingsOf(DEFAULT_RUN_CONFIG);
    const pv = preprocessVolume(v, settings);
    expect(pv.dims.every((d, a) => d >= settings.minSize[a])).toBe(true);
    expect(resampledRasDims(v.dims, v.affine, settings.spacing)).toEqual([20, 21, 27]);
  });
});
