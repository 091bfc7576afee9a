"""Linear warmup from 0, then half a cosine down to min_lr (src/voco/schedule.ts)."""
import math


def learning_rate(step, lr, warmup_steps, total_steps, min_lr=0.0):
    if not step >= 0:
        raise ValueError(f'learningRate: step must be ≥ 0, got {step}')
    if step < warmup_steps:
        return (lr * step) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1, (step - warmup_steps) / span)
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
