export interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}
export function tallyPlaywright(report: unknown): Tally;
