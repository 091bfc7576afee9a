// How numbers read in the dataset panel and viewer.

/** Up to `digits` decimals, trailing zeros dropped: 3 → "3", 3.90625 → "3.906", 0.9765625 → "0.977". */
export function num(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return '–';
  return String(Number(v.toFixed(digits)));
}

export function dimsText(d: readonly number[]): string {
  return d.join(' × ');
}

export function spacingText(s: readonly number[]): string {
  return `${s.map((v) => num(v)).join(' × ')} mm`;
}

export function rangeText(min: number, max: number): string {
  return `${num(min, 1)} … ${num(max, 1)}`;
}
