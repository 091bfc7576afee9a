"""On-disk cache of preprocessed volumes: one .npy per (scan content, settings), named
<sha256 of the file (or of a DICOM folder's files)>-<settings digest>.npy, written atomically, read memory-mapped
(a crop touches only its pages), so tens of thousands of scans are preprocessed once and shared by every rank
and worker."""
import hashlib
import os

import numpy as np

from ..preprocess.preprocess import preprocess_file


def file_hash(path, chunk=1 << 22):
    h = hashlib.sha256()
    paths = [path]
    if os.path.isdir(path):
        paths = [os.path.join(path, f) for f in sorted(os.listdir(path)) if os.path.isfile(os.path.join(path, f))]
    for p in paths:
        with open(p, 'rb') as f:
            while True:
                b = f.read(chunk)
                if not b:
                    break
                h.update(b)
    return h.hexdigest()[:24]


class VolumeCache:
    def __init__(self, folder, settings):
        self.folder, self.settings = folder, settings
        os.makedirs(folder, exist_ok=True)

    def path_for(self, scan):
        return os.path.join(self.folder, f'{file_hash(scan)}-{self.settings.digest()}.npy')

    def ensure(self, scan):
        """Cache path and dims [x, y, z] of a scan, preprocessing it if it is not cached yet."""
        path = self.path_for(scan)
        if not os.path.exists(path):
            vol = preprocess_file(scan, self.settings)
            tmp = f'{path}.{os.getpid()}.tmp.npy'
            np.save(tmp, vol)
            os.replace(tmp, path)
        arr = np.load(path, mmap_mode='r')
        return path, (int(arr.shape[2]), int(arr.shape[1]), int(arr.shape[0]))
