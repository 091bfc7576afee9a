import os

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DATA = os.environ.get('VOCO_TEST_DATA', os.path.join(REPO, 'test', 'data'))
VOCO_REFERENCE = os.environ.get('VOCO_REFERENCE', os.path.join(REPO, 'test', 'fixtures', 'voco-reference.json'))
VOCO_SWIN_FIXTURE = os.environ.get('VOCO_SWIN_FIXTURE', os.path.join(REPO, 'test', 'fixtures', 'voco-swin'))
ABDOMEN_CT = os.path.join(DATA, 'ct-abdomen-totalseg', 'example_ct.nii.gz')
CHEST_CT = os.path.join(DATA, 'ct-chest-elastix', 'chest_ct_derived_4x.nii.gz')
