"""allidb_mmseg: SegFormer segmentation of ALL lymphoblasts as an MMSegmentation plugin."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
RUNTIME = HERE / 'requirements' / 'runtime.txt'


# `allidb-<name>` runs what `python tools/<path>.py` runs (allidb_mmseg/cli/).
CONSOLE_SCRIPTS = {
    'allidb-train': 'train',
    'allidb-test': 'test',
    'allidb-infer': 'infer',
    'allidb-convert': 'coco_to_masks',
    'allidb-synthetic': 'make_synthetic',
    'allidb-xyc-to-coco': 'xyc_to_coco',
    'allidb-export': 'export_onnx',
    'allidb-mit-weights': 'hf_mit2mmseg',
    'allidb-eval-counts': 'eval_counts',
    'allidb-fit-stain': 'fit_stain_reference',
    'allidb-fit-smear-call': 'fit_smear_call',
}


def read_requirements(path: Path = HERE / 'requirements.txt') -> list[str]:
    lines = (line.split('#', 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


setup(
    name='allidb_mmseg',
    version='0.1.0',
    description='SegFormer segmentation of acute lymphoblastic leukemia blasts '
                '(ALL-IDB) as an MMSegmentation plugin',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['allidb_mmseg', 'allidb_mmseg.*']),
    package_data={'allidb_mmseg.products': ['review_page.html']},
    python_requires='>=3.9',
    # A plain install is light (converters, synthetic smears, reports);
    # [runtime] adds onnxruntime for exported models, [train] the whole
    # torch/mmseg stack that `make install` installs (docs/deployment.md).
    install_requires=[r for r in read_requirements(RUNTIME)
                      if not r.startswith('onnxruntime')],
    extras_require={'runtime': read_requirements(RUNTIME),
                    'train': read_requirements(),
                    'test': read_requirements(HERE / 'requirements-test.txt')},
    entry_points={'console_scripts': [f'{name} = allidb_mmseg.cli.{module}:main'
                                      for name, module in CONSOLE_SCRIPTS.items()]},
    license='Apache-2.0',
)
