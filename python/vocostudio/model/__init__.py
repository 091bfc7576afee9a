from .presets import PRESETS, DEFAULT_PRESET, EncoderPreset, embed_dim, param_count, preset_from_json, validate_preset
from .voco_model import VocoModel
