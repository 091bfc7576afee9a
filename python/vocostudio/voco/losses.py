"""VoCo losses (src/voco/losses.ts, TPAMI version) on torch: intra-volume position loss, inter-volume consistency
and the base-crop regulariser, as batched Gram matrices. Same numerics as the studio: rows divided by
max(‖row‖, 1e-8) (rsqrt of the clamped sum of squares), relu(cos) clamped at 1."""
import torch

COSINE_EPS = 1e-8
LOG_EPS = 1e-6


def normalize_rows(x):
    return x * torch.rsqrt(torch.clamp((x * x).sum(-1, keepdim=True), min=COSINE_EPS * COSINE_EPS))


def relu_cos(c):
    return torch.clamp(torch.relu(c), max=1.0)


def position_logits(x, bases):
    return relu_cos(normalize_rows(x) @ normalize_rows(bases).transpose(-1, -2))


def voco_ce(y, p):
    """The reference ce_loss per volume: y, p [B, sw, k] → [B]."""
    pos = -(y * torch.log(1 - (y - p).abs() + LOG_EPS)).sum((1, 2)) / (y.sum((1, 2)) + LOG_EPS)
    neg_mask = (y.detach() == 0).to(p.dtype)
    neg = -(neg_mask * torch.log(1 - p + LOG_EPS)).sum((1, 2)) / (neg_mask.sum((1, 2)) + LOG_EPS)
    return pos + neg


def voco_losses(x_student, bases_student, x_teacher, bases_teacher, labels, batch, sw, bases):
    """Rows grouped by volume: x_* [batch*sw, d], bases_* [batch*bases, d]; labels [batch, sw, bases].
    Returns dict(intra, inter, reg, total, logits [batch, sw, bases])."""
    if batch < 2:
        raise ValueError(f'vocoLosses: batch must be an integer ≥ 2 (inter-volume pairs i with i+1), got {batch}')
    if bases < 2:
        raise ValueError(f'vocoLosses: bases must be an integer ≥ 2, got {bases}')
    d = x_student.shape[1]
    xs = normalize_rows(x_student).reshape(batch, sw, d)
    bs = normalize_rows(bases_student).reshape(batch, bases, d)
    xt = normalize_rows(x_teacher.detach()).reshape(batch, sw, d)
    bt = normalize_rows(bases_teacher.detach()).reshape(batch, bases, d)

    logits = relu_cos(xs @ bt.transpose(1, 2))
    intra = voco_ce(labels, logits).mean()

    roll = lambda t: torch.cat([t[1:], t[:1]], 0)  # volume i meets the bases of volume (i+1) mod B
    target = relu_cos(xt @ roll(bt).transpose(1, 2)).detach()
    pred = relu_cos(xs @ roll(bs).transpose(1, 2))
    inter = voco_ce(target, pred).mean()

    gram = bs @ bs.detach().transpose(1, 2)
    upper = torch.triu(torch.ones(bases, bases, dtype=gram.dtype, device=gram.device), 1)
    pairs = bases * (bases - 1) / 2
    reg = ((relu_cos(gram) ** 2) * upper).sum((1, 2)).div(pairs).mean()
    total = intra + inter + reg
    return {'intra': intra, 'inter': inter, 'reg': reg, 'total': total, 'logits': logits}
