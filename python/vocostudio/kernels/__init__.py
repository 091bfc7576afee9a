from .crop_sampler import sample_crop_tokens, crop_source_voxel
