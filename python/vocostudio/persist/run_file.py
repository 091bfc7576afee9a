"""The studio's one-file run format (.voco, src/persist/runFile.ts): a zip of
  voco-run.json          manifest: format/version, run description (meta), the preset definition, weight order,
                         trainer sampling state (step, rng, volumeOrder, volumeCursor, dropoutRng, optimizerStep)
  config.json            {"format": "voco-studio-run-config", "version": 1, "config": RunConfig}
  weights.safetensors    every weight (teacher included), float32, in the model's order
  optimizer.safetensors  AdamW m.<i>, v.<i>, vMax.<i> (flattened), metadata {step}
  metrics.csv            step,loss,intra,inter,reg,lr,stepMs,accuracy,mae (JS number text)
Read and written here byte for byte like the studio: JSON as JSON.stringify writes it, numbers as String(number),
safetensors laid out as the studio's writer, the zip records of unchanged entries kept.

Fields this package adds (the studio passes unknown fields through): meta.markers [{step, label}] (where the run
moved between the studio and a cluster), meta.cluster (what the cluster run saw), manifest.cluster (the cluster
sampler's own state, so a cluster run resumes exactly)."""
import numpy as np

from . import jsjson
from .safetensors import read_safetensors, write_safetensors
from .zipio import ZipArchive, ZipEntry, read_zip, write_zip

RUN_FILE_FORMAT = 'voco-studio-run'
RUN_FILE_VERSION = 1
RUN_CONFIG_FORMAT = 'voco-studio-run-config'
FILES = {
    'manifest': 'voco-run.json',
    'config': 'config.json',
    'weights': 'weights.safetensors',
    'optimizer': 'optimizer.safetensors',
    'metrics': 'metrics.csv',
}
METRIC_COLUMNS = ['step', 'loss', 'intra', 'inter', 'reg', 'lr', 'stepMs', 'accuracy', 'mae']


class RunFileError(ValueError):
    pass


def metrics_from_csv(text, source='metrics.csv'):
    lines = [l for l in text.replace('\r\n', '\n').split('\n') if l]
    if not lines:
        raise RunFileError(f'{source}: empty, expected a header row')
    header = lines[0].split(',')
    for c in METRIC_COLUMNS:
        if c not in header:
            raise RunFileError(f'{source}: column "{c}" is missing (header: {lines[0]})')
    cols = {h: [] for h in header}
    for i, line in enumerate(lines[1:]):
        cells = line.split(',')
        if len(cells) != len(header):
            raise RunFileError(f'{source}: row {i + 2} has {len(cells)} cells, expected {len(header)}')
        for h, cell in zip(header, cells):
            try:
                cols[h].append(float(cell))
            except ValueError:
                raise RunFileError(f'{source}: row {i + 2}, {h} = "{cell}" is not a number') from None
    return header, cols


def metrics_to_csv(header, cols):
    n = len(cols[header[0]]) if header else 0
    lines = [','.join(header)]
    for i in range(n):
        lines.append(','.join(jsjson.js_number(cols[h][i]) for h in header))
    return '\n'.join(lines) + '\n'


class RunFile:
    """A decoded .voco. Tensors are numpy arrays in file order; JSON documents are ordered dicts."""

    def __init__(self, manifest, config_doc, weights, weights_meta, optimizer, optimizer_meta, metrics_header, metrics, archive=None):
        self.manifest = manifest
        self.config_doc = config_doc
        self.weights = weights  # list of (name, ndarray)
        self.weights_meta = weights_meta
        self.optimizer = optimizer  # list of (name, flat ndarray)
        self.optimizer_meta = optimizer_meta
        self.metrics_header = metrics_header
        self.metrics = metrics  # column → list of float
        self.archive = archive

    # ---- views
    @property
    def config(self):
        return self.config_doc['config']

    @property
    def trainer(self):
        return self.manifest['trainer']

    @property
    def meta(self):
        return self.manifest['meta']

    @property
    def step(self):
        return self.manifest['trainer']['step']

    def weight_dict(self):
        return {n: a for n, a in self.weights}

    def optimizer_dict(self):
        return {n: a for n, a in self.optimizer}

    def metrics_rows(self):
        n = len(self.metrics['step'])
        return [{h: self.metrics[h][i] for h in self.metrics_header} for i in range(n)]

    def markers(self):
        return list(self.meta.get('markers', []))

    # ---- bytes
    @classmethod
    def from_bytes(cls, data, source='run.voco'):
        def fail(why):
            raise RunFileError(f'{source} {why}')
        try:
            z = read_zip(data, source)
        except ValueError:
            fail('is not a VoCo run file (it is not a zip archive)')
        def text(name):
            e = z.get(name)
            if e is None:
                fail(f'is not a complete VoCo run file: {name} is missing')
            try:
                return e.data.decode('utf-8')
            except UnicodeDecodeError:
                fail(f'is damaged: {name} is not UTF-8 text')
        if z.get(FILES['manifest']) is None:
            fail(f"is not a VoCo run file (no {FILES['manifest']} inside)")
        try:
            manifest = jsjson.parse(text(FILES['manifest']))
        except ValueError as e:
            fail(f"is damaged: {FILES['manifest']} is not JSON ({e})")
        if manifest.get('format') != RUN_FILE_FORMAT:
            fail(f"is not a VoCo run file (format {manifest.get('format')!r})")
        if manifest.get('version') != RUN_FILE_VERSION:
            fail(f"has run-file version {manifest.get('version')}; this package reads version {RUN_FILE_VERSION}")
        config_doc = jsjson.parse(text(FILES['config']))
        if not isinstance(config_doc, dict) or config_doc.get('format') != RUN_CONFIG_FORMAT or not isinstance(config_doc.get('config'), dict):
            fail(f"holds a bad configuration ({FILES['config']} is not a {RUN_CONFIG_FORMAT} document)")

        def tensors(name):
            e = z.get(name)
            if e is None:
                fail(f'is not a complete VoCo run file: {name} is missing')
            try:
                t, meta = read_safetensors(e.data, f'{source}: {name}')
            except ValueError as err:
                fail(f'is damaged: {err}')
            return list(t.items()), meta
        weights, wmeta = tensors(FILES['weights'])
        order = manifest.get('weightOrder') or []
        names = [n for n, _ in weights]
        if sorted(order) != sorted(names):
            fail(f"is damaged: {FILES['weights']} holds {len(names)} tensors that do not match the manifest's {len(order)} weight names")
        optimizer, ometa = tensors(FILES['optimizer'])
        header, metrics = metrics_from_csv(text(FILES['metrics']), f"{source}: {FILES['metrics']}")
        tr = manifest.get('trainer') or {}
        for k in ('step', 'volumeCursor', 'optimizerStep'):
            if not isinstance(tr.get(k), int):
                fail('is damaged: its trainer state (step, random generators) is incomplete')
        return cls(manifest, config_doc, weights, wmeta, optimizer, ometa, header, metrics, z)

    def to_bytes(self, mtime=None):
        wb = write_safetensors(self.weights, self.weights_meta)
        ob = write_safetensors(self.optimizer, self.optimizer_meta)
        entries = [
            ZipEntry(FILES['manifest'], jsjson.stringify(self.manifest, 2).encode('utf-8')),
            ZipEntry(FILES['config'], jsjson.stringify(self.config_doc, 2).encode('utf-8')),
            ZipEntry(FILES['weights'], wb, compress=False),
            ZipEntry(FILES['optimizer'], ob, compress=False),
            ZipEntry(FILES['metrics'], metrics_to_csv(self.metrics_header, self.metrics).encode('utf-8')),
        ]
        return write_zip(entries, self.archive, mtime)


def read_run_file(path):
    with open(path, 'rb') as f:
        return RunFile.from_bytes(f.read(), str(path))


def write_run_file(run, path):
    data = run.to_bytes()
    with open(path, 'wb') as f:
        f.write(data)
    return data
