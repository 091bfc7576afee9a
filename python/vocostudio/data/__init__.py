from .sources import list_scans, read_datalist, write_datalist
from .cache import VolumeCache
from .loader import CropDataset, PlanBatchSampler, make_loader, prepare_volumes
