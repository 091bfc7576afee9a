// CT display windows [low, high] in HU. The training window comes from the preprocessing settings,
// so the user sees exactly the intensity range the model will see.
export type WindowName = 'soft' | 'lung' | 'bone' | 'training' | 'full';

export const FIXED_WINDOWS: Record<Exclude<WindowName, 'training' | 'full'>, { label: string; range: [number, number] }> = {
  soft: { label: 'Soft tissue', range: [-160, 240] },
  lung: { label: 'Lung', range: [-1350, 150] },
  bone: { label: 'Bone', range: [-450, 1050] },
};

export function windowRange(name: WindowName, training: [number, number], full: [number, number]): [number, number] {
  if (name === 'training') return training;
  if (name === 'full') return full;
  return FIXED_WINDOWS[name].range;
}
