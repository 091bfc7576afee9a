// The comparison charts as one PNG: uPlot draws each chart (axes, grid, curves, markers) on a canvas but its
// title and legend are HTML, so a new canvas gets the title, a legend with one entry per run, and each chart's
// title above a copy of its canvas, at the canvases' own pixel density.

export interface LegendEntry {
  label: string;
  colour: string;
  detail?: string;
}

const BG = '#12161b';
const TEXT = '#d8dee6';
const DIM = '#9aa5b1';

export function composeChartsCanvas(container: HTMLElement, title: string, subtitle: string, legend: LegendEntry[]): HTMLCanvasElement {
  const blocks = [...container.querySelectorAll<HTMLElement>('[data-testid=compare-chart]')]
    .map((el) => ({ el, canvas: el.querySelector('canvas') }))
    .filter((b): b is { el: HTMLElement; canvas: HTMLCanvasElement } => !!b.canvas && b.canvas.width > 0);
  if (!blocks.length) throw new Error('No chart to export: pick runs to compare first');
  const dpr = blocks[0].canvas.width / Math.max(1, blocks[0].canvas.getBoundingClientRect().width || blocks[0].canvas.width);
  const pad = Math.round(12 * dpr);
  const line = Math.round(18 * dpr);
  // The charts keep the page's layout (a grid of one or more columns): positions relative to their container.
  const box = container.getBoundingClientRect();
  const placed = blocks.map((b) => {
    const r = b.canvas.getBoundingClientRect();
    return { ...b, x: Math.round((r.left - box.left) * dpr), y: Math.round((r.top - box.top) * dpr) };
  });
  const header = pad + Math.round(24 * dpr) + legend.length * line + pad;
  const width = Math.max(Math.round(box.width * dpr), ...placed.map((p) => p.x + p.canvas.width)) + 2 * pad;
  const height = header + line + Math.max(...placed.map((p) => p.y + p.canvas.height)) + pad;
  const out = document.createElement('canvas');
  out.width = width;
  out.height = height;
  const ctx = out.getContext('2d');
  if (!ctx) throw new Error('This browser cannot draw the image (no 2-D canvas)');
  ctx.fillStyle = BG;
  ctx.fillRect(0, 0, width, height);
  ctx.textBaseline = 'middle';
  ctx.fillStyle = TEXT;
  ctx.font = `600 ${Math.round(15 * dpr)}px system-ui, sans-serif`;
  ctx.fillText(title, pad, pad + Math.round(10 * dpr));
  ctx.fillStyle = DIM;
  ctx.font = `${Math.round(11 * dpr)}px system-ui, sans-serif`;
  ctx.textAlign = 'right';
  ctx.fillText(subtitle, width - pad, pad + Math.round(10 * dpr));
  ctx.textAlign = 'left';
  let y = pad + Math.round(24 * dpr);
  ctx.font = `${Math.round(12 * dpr)}px system-ui, sans-serif`;
  for (const e of legend) {
    const mid = y + line / 2;
    ctx.strokeStyle = e.colour;
    ctx.lineWidth = 3 * dpr;
    ctx.beginPath();
    ctx.moveTo(pad, mid);
    ctx.lineTo(pad + 22 * dpr, mid);
    ctx.stroke();
    ctx.fillStyle = TEXT;
    ctx.fillText(e.label, pad + 30 * dpr, mid);
    if (e.detail) {
      const w = ctx.measureText(e.label).width;
      ctx.fillStyle = '#f5cf6b';
      ctx.fillText(`   ${e.detail}`, pad + 30 * dpr + w, mid);
    }
    y += line;
  }
  for (const p of placed) {
    const top = header + line + p.y;
    ctx.fillStyle = DIM;
    ctx.font = `600 ${Math.round(11 * dpr)}px system-ui, sans-serif`;
    ctx.fillText(p.el.dataset.title ?? '', pad + p.x, top - line / 2);
    ctx.drawImage(p.canvas, pad + p.x, top);
  }
  return out;
}

export function canvasToPng(canvas: HTMLCanvasElement): Promise<Uint8Array> {
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => {
      if (!blob) reject(new Error('The browser could not encode the PNG'));
      else blob.arrayBuffer().then((b) => resolve(new Uint8Array(b)), reject);
    }, 'image/png'),
  );
}
