import { it } from 'vitest';

throw new Error('this file fails to load on purpose');
it('is never collected', () => {});
