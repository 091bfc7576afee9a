// WGSL shared by the register-tiled matmul programs (f32, subgroups, f32 pairs, packed/native f16): each thread
// holds a 1×4 row of the output per accumulator and writes it with the bounds checks below.

/** A WGSL function `name(outBase, row, col0, M, N, acc)` that stores acc's 4 columns of one output row, in bounds. */
export function writeRowFn(name: string): string {
  return `
      fn ${name}(outBase : i32, row : i32, col0 : i32, M : i32, N : i32, acc : vec4<f32>) {
        if (row >= M) { return; }
        let at = outBase + row * N + col0;
        setOutputAtIndex(at, acc.x);
        if (col0 + 1 < N) { setOutputAtIndex(at + 1, acc.y); }
        if (col0 + 2 < N) { setOutputAtIndex(at + 2, acc.z); }
        if (col0 + 3 < N) { setOutputAtIndex(at + 3, acc.w); }
      }`;
}
