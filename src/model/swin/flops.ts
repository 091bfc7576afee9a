// Matmul/convolution FLOPs (2·m·n·k) of one forward pass of the VoCo Swin backbone on one r³ crop, for the
// benchmark's GFLOP/s and the run setup's cost estimate. Windows are counted on the padded grid, as they run.
import { SWIN_DEPTHS, SWIN_MLP_RATIO, stageDim, type SwinConfig } from './config';
import { clampWindow } from './windows';

export function swinForwardFlops(cfg: SwinConfig, r: number): { patchEmbed: number; backbone: number } {
  const fs = cfg.featureSize;
  const conv = (voxels: number, cin: number, cout: number, k: number) => 2 * voxels * k ** 3 * cin * cout;
  const resBlock = (voxels: number, cin: number, cout: number) => conv(voxels, cin, cout, 3) + conv(voxels, cout, cout, 3) + (cin !== cout ? conv(voxels, cin, cout, 1) : 0);
  let g = r / 2;
  const patchEmbed = 2 * g ** 3 * 8 * fs;
  let backbone = 0;
  const grids: number[] = [g];
  for (let s = 0; s < 4; s++) {
    const c = stageDim(cfg, s);
    const v = g ** 3;
    backbone += resBlock(v, c, c);
    const { window } = clampWindow([g, g, g], false);
    const w = window[0];
    const padded = (Math.ceil(g / w) * w) ** 3;
    const t = w ** 3;
    const attention = 2 * padded * c * 3 * c + 2 * 2 * padded * t * c + 2 * padded * c * c;
    const mlp = 2 * 2 * v * c * SWIN_MLP_RATIO * c;
    backbone += SWIN_DEPTHS[s] * (attention + mlp);
    backbone += 2 * (v / 8) * 8 * c * 2 * c; // merging reduction
    g /= 2;
    grids.push(g);
  }
  // encoder1 at r³ (1 → fs), encoder2 at (r/2)³, encoder3 at (r/4)³, encoder4 at (r/8)³, encoder10 at (r/32)³.
  backbone += resBlock(r ** 3, 1, fs) + resBlock(grids[0] ** 3, fs, fs) + resBlock(grids[1] ** 3, 2 * fs, 2 * fs);
  backbone += resBlock(grids[2] ** 3, 4 * fs, 4 * fs) + resBlock(grids[4] ** 3, 16 * fs, 16 * fs);
  return { patchEmbed, backbone };
}
