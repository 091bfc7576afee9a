"""Where the scans come from: a folder (searched recursively for NIfTI files and DICOM series folders) or a
datalist JSON in the authors' format {"training": [{"image": "relative/or/absolute/path.nii.gz"}, ...]} (paths
relative to the JSON file's folder unless --data-root says otherwise)."""
import json
import os

NIFTI = ('.nii', '.nii.gz')


def _is_dicom_file(path):
    try:
        with open(path, 'rb') as f:
            head = f.read(132)
        return len(head) == 132 and head[128:132] == b'DICM'
    except OSError:
        return False


def list_scans(folder):
    """Sorted scan paths under folder: every .nii / .nii.gz file (names containing seg/label/mask are label maps and
    skipped, as the studio pairs them) and every folder that directly holds DICOM files."""
    if not os.path.isdir(folder):
        raise ValueError(f'{folder}: not a folder')
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        dicom = False
        for f in sorted(files):
            p = os.path.join(root, f)
            low = f.lower()
            if low.endswith(NIFTI):
                if any(k in low for k in ('seg', 'label', 'mask')):
                    continue
                out.append(p)
            elif not dicom and ('.' not in f or low.endswith('.dcm')) and _is_dicom_file(p):
                dicom = True
        if dicom:
            out.append(root)
    if not out:
        raise ValueError(f'{folder}: no NIfTI files or DICOM series found')
    return out


def read_datalist(path, root=None, key='training'):
    with open(path, encoding='utf-8') as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path}: not JSON ({e})') from e
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise ValueError(f'{path}: expected {{"{key}": [{{"image": path}}, ...]}} with at least one entry')
    base = root or os.path.dirname(os.path.abspath(path))
    out = []
    for i, it in enumerate(items):
        img = it.get('image') if isinstance(it, dict) else it if isinstance(it, str) else None
        if not isinstance(img, str):
            raise ValueError(f'{path}: entry {i} has no "image" path')
        out.append(img if os.path.isabs(img) else os.path.join(base, img))
    missing = [p for p in out if not os.path.exists(p)]
    if missing:
        raise ValueError(f'{path}: {len(missing)} listed scan(s) do not exist, e.g. {missing[0]}')
    return out


def write_datalist(paths, path, root=None):
    base = root or os.path.dirname(os.path.abspath(path))
    items = [{'image': os.path.relpath(p, base)} for p in paths]
    with open(path, 'w', encoding='utf-8') as f:
        json.dump({'training': items}, f, indent=2)
