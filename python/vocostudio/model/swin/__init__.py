"""The authors' reference backbone without MONAI: SwinViT (v2: a residual conv block before each stage) + the UNETR
encoder blocks, pooled and concatenated, and VoCo's projection heads, with state_dict keys exactly as the
authors' VoCoHead (backbone.swinViT.*, backbone.encoder{1,2,3,4,10}.*, student.layer{1,2,3}.0.*, teacher.*)."""
from .voco_head import SwinBackbone, VoCoHead, ProjectionHeadRef, save_authors_checkpoint, load_authors_state
