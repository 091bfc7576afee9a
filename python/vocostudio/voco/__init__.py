from .rng import Rng
from .position_labels import position_labels
from .crop_plan import REFERENCE_AUGMENT, AugmentConfig, BatchPlan, CropSpec, VolumePlan, batch_crops, plan_batch, plan_labels, region_size
from .losses import voco_losses, voco_ce, normalize_rows, position_logits
from .schedule import learning_rate
from .adamw import AdamW
