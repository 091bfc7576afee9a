import { beforeAll, describe, expect, it } from 'vitest';

describe('a suite whose setup throws', () => {
  beforeAll(() => {
    throw new Error('setup broke on purpose');
  });
  it('never runs (1)', () => expect(1).toBe(1));
  it('never runs (2)', () => expect(1).toBe(1));
});

describe('a healthy suite', () => {
  it('passes', () => expect(1).toBe(1));
  it.skipIf(true)('is skipped by a condition named here', () => {});
});
