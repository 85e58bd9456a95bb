"""The real-data benchmark's synthetic start: which runs get it, and with what."""
from __future__ import annotations

from benchmarks import real_data as rd


def test_synthetic_pretraining_measures_its_fields_and_real_runs_keep_their_size():
    pre = rd.SYNTHETIC_PRETRAIN.cfg_options(seed=0)
    assert 'source_rbc_px' not in pre  # the config's own None: the ruler measures
    assert pre['train_cfg.max_iters'] == 1000 and pre['train_dataloader.batch_size'] == 4
    for name in ('native_synpre', 'native_synpre_long'):
        method = rd.METHODS[name]
        assert method.synthetic_init
        assert method.cfg_options(seed=1)['source_rbc_px'] == rd.SOURCE_RBC_PX
    assert not rd.METHODS['native_long'].synthetic_init


def test_only_synthetic_init_runs_start_from_the_pretrained_weights(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(rd, 'make_real_fields', lambda *a, **k: dict(pools=None))
    monkeypatch.setattr(rd, 'synthetic_pretrain', lambda work_dir, configs_dir: 'pre.pth')

    def fake_train(method, run_dir, data_root, configs_dir, seed, force=False, load_from=None):
        calls.append((method.name, seed, load_from))
        return str(run_dir / 'best.pth'), dict(iters=method.iters, wall_s=1.0, cpu_s=60.0)

    def fake_evaluate(method, ckpt, *args):
        return dict(scores={'test|none': {k: 0.5 for k in rd.SCORES}})

    monkeypatch.setattr(rd, 'train_method', fake_train)
    monkeypatch.setattr(rd, '_evaluate_run', fake_evaluate)
    monkeypatch.setattr(rd, 'to_markdown', lambda result: '')
    rd.run_real_benchmark('real', tmp_path, 'configs', seeds=(0, 1),
                          methods=[rd.METHODS['native'], rd.METHODS['native_synpre']])
    assert calls == [('native', 0, None), ('native', 1, None),
                     ('native_synpre', 0, 'pre.pth'), ('native_synpre', 1, 'pre.pth')]
    assert (tmp_path / 'real_data.json').is_file()


def test_a_run_with_other_white_cells_as_a_class_gets_fields_of_its_own(tmp_path, monkeypatch):
    built, trained = [], []

    def fake_fields(real_root, out, spec, step=None, other_label=0):
        built.append((out.name, other_label))
        return dict(pools=None)

    def fake_train(method, run_dir, data_root, configs_dir, seed, force=False, load_from=None):
        trained.append((method.name, data_root.name))
        return str(run_dir / 'best.pth'), dict(iters=method.iters, wall_s=1.0, cpu_s=60.0)

    monkeypatch.setattr(rd, 'make_real_fields', fake_fields)
    monkeypatch.setattr(rd, 'train_method', fake_train)
    monkeypatch.setattr(rd, '_evaluate_run', lambda *a: dict(
        scores={'test|none': {k: 0.5 for k in rd.SCORES}}))
    monkeypatch.setattr(rd, 'to_markdown', lambda result: '')
    rd.run_real_benchmark('real', tmp_path, 'configs', seeds=(0, 1),
                          methods=[rd.METHODS['native_wbc_long'], rd.METHODS['native']])
    assert built == [('data', 0), ('data_other2', 2)]  # once each
    assert trained == [('native_wbc_long', 'data_other2')] * 2 + [('native', 'data')] * 2
