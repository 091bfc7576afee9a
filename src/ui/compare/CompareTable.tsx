// The compared runs' settings and results, one row per run: the settings that differ first (highlighted), then
// final/best values of every metric, then the settings they share. Click a column head to sort by it.
import { sortOrder, type ComparedRun, type TableColumn } from '../../store/runCompare';
import { toggleSort, useCompareStore } from '../../store/compareStore';

export function CompareTable({ runs, colours, settings, results }: { runs: ComparedRun[]; colours: string[]; settings: TableColumn[]; results: TableColumn[] }) {
  const sort = useCompareStore((s) => s.sort);
  const onlyDiffering = useCompareStore((s) => s.onlyDiffering);
  const differing = settings.filter((c) => c.differs);
  const same = settings.filter((c) => !c.differs);
  const columns = [...differing, ...results, ...(onlyDiffering ? [] : same)];
  const nameColumn: TableColumn = { key: 'run', label: 'run', group: 'setting', differs: false, values: runs.map((r) => ({ value: r.label, text: r.label })) };
  const order = sortOrder([nameColumn, ...columns].find((c) => c.key === sort?.key), sort?.dir ?? 'asc', runs.length);

  return (
    <section className="compare-section">
      <div className="section-head">
        <h3>Settings and results</h3>
        <span className="muted small">
          {differing.length} of {settings.length} settings differ
        </span>
        <label className="small">
          <input type="checkbox" checked={onlyDiffering} onChange={(e) => useCompareStore.setState({ onlyDiffering: e.target.checked })} data-testid="compare-only-differing" /> only what differs
        </label>
      </div>
      <div className="compare-table-wrap">
        <table className="compare-table" data-testid="compare-table">
          <thead>
            <tr>
              <th className="compare-runcol" data-testid="compare-col" data-key="run" data-differs="false" title="run (click to sort)" onClick={() => toggleSort('run')}>
                run{sort?.key === 'run' ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}
              </th>
              {columns.map((c) => (
                <th
                  key={c.key}
                  data-testid="compare-col"
                  data-key={c.key}
                  data-differs={c.differs}
                  className={`${c.differs ? 'differs' : ''} ${c.group}`}
                  title={c.differs ? `${c.label}: differs between the runs (click to sort)` : `${c.label} (click to sort)`}
                  onClick={() => toggleSort(c.key)}
                >
                  {c.label}
                  {sort?.key === c.key ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {order.map((i) => (
              <tr key={runs[i].key} data-testid="compare-row" data-run={runs[i].key}>
                <td className="compare-runcol" title={runs[i].label}>
                  <i className="swatch" style={{ background: colours[i % colours.length] }} />
                  {runs[i].label}
                </td>
                {columns.map((c) => (
                  <td key={c.key} className={`${c.differs ? 'differs' : ''} ${c.group}`} data-key={c.key} title={c.values[i].text}>
                    {c.values[i].text}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
