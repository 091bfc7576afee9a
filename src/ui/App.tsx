import { useEffect, useState, type DragEvent } from 'react';
import { BenchmarkPanel } from './benchmark/BenchmarkPanel';
import { ComparePanel } from './compare/ComparePanel';
import { DatasetPanel } from './dataset/DatasetPanel';
import { ingestDrop, loadSamples } from './dataset/ingestActions';
import { MapsPanel } from './maps/MapsPanel';
import { PreprocessPanel } from './preprocess/PreprocessPanel';
import { TrainPanel } from './train/TrainPanel';
import { Viewer } from './viewer/Viewer';
import { inspectModelFile, isCheckpointFileName } from './train/modelImport';

// The studio's frame: dataset on the left, the viewer in the middle, the work tabs on the right.
// Each panel lives in its own file; this file only lays them out.
const TABS = ['Preprocess', 'Train', 'Compare', 'Maps', 'Benchmark'] as const;
type Tab = (typeof TABS)[number];

// The bundled samples load once per page (StrictMode mounts effects twice in development).
// `?sample=0` starts empty (tests that count rows); `?sample=abdomen` loads the abdomen CT alone.
let sampleRequested = false;
function loadSampleOnce() {
  const which = new URLSearchParams(location.search).get('sample');
  if (sampleRequested || which === '0') return;
  sampleRequested = true;
  void loadSamples(which === 'abdomen' ? 'abdomen' : 'all');
}

export function App() {
  const [tab, setTab] = useState<Tab>('Preprocess');
  const [dragging, setDragging] = useState(false);
  useEffect(loadSampleOnce, []);

  // Files can be dropped anywhere on the studio, not only on the dataset panel's drop zone.
  const onDragOver = (e: DragEvent) => {
    if (!Array.from(e.dataTransfer.types).includes('Files')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    setDragging(true);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    // Model checkpoints (.pt, .pth, .safetensors) go to Train → Import model, not to the scan loader.
    const files = Array.from(e.dataTransfer.files);
    const checkpoint = files.find((f) => isCheckpointFileName(f.name));
    if (checkpoint) {
      setTab('Train');
      void inspectModelFile(checkpoint);
      if (files.every((f) => isCheckpointFileName(f.name))) return;
    }
    void ingestDrop(e.dataTransfer);
  };

  return (
    // Comparing runs needs room for charts and a wide table: the right column widens while Compare is open.
    <div className={tab === 'Compare' ? 'app app-wide' : 'app'} onDragOver={onDragOver} onDragLeave={(e) => e.relatedTarget == null && setDragging(false)} onDrop={onDrop}>
      <header className="topbar">
        <h1>VoCo Studio</h1>
        <span className="topbar-sub">Volume Contrast pre-training for 3-D CT, in your browser</span>
        <span className="topbar-badge" title="Scans are read and processed in this tab only; the page talks to its own origin and nothing else">
          local only · nothing leaves this tab
        </span>
      </header>
      <aside className="left" data-testid="dataset-panel">
        <DatasetPanel />
      </aside>
      <main className="center" data-testid="viewer-panel">
        <Viewer />
      </main>
      <section className="right">
        <nav className="tabs" role="tablist">
          {TABS.map((t) => (
            <button key={t} role="tab" aria-selected={t === tab} className={t === tab ? 'active' : ''} data-testid={`tab-${t.toLowerCase()}`} onClick={() => setTab(t)}>
              {t}
            </button>
          ))}
        </nav>
        <div className="tab-body">
          {tab === 'Preprocess' && <PreprocessPanel />}
          {tab === 'Train' && <TrainPanel />}
          {tab === 'Compare' && <ComparePanel />}
          {tab === 'Maps' && <MapsPanel />}
          {tab === 'Benchmark' && <BenchmarkPanel />}
        </div>
      </section>
      {dragging && (
        <div className="drop-overlay" data-testid="drop-overlay">
          <div>Drop to load: files or whole folders</div>
        </div>
      )}
    </div>
  );
}
