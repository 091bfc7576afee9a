import { useState } from 'react';

// The studio's frame: dataset on the left, the viewer in the middle, the work tabs on the right.
// Each panel lives in its own file; this file only lays them out.
const TABS = ['Preprocess', 'Train', 'Maps', 'Benchmark'] as const;
type Tab = (typeof TABS)[number];

export function App() {
  const [tab, setTab] = useState<Tab>('Preprocess');
  return (
    <div className="app">
      <header className="topbar">
        <h1>VoCo Studio</h1>
      </header>
      <aside className="left" data-testid="dataset-panel" />
      <main className="center" data-testid="viewer-panel" />
      <section className="right">
        <nav className="tabs">
          {TABS.map((t) => (
            <button key={t} className={t === tab ? 'active' : ''} onClick={() => setTab(t)}>
              {t}
            </button>
          ))}
        </nav>
      </section>
    </div>
  );
}
