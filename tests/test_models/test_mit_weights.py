"""HF nvidia/mit-b* -> mmseg MiT conversion, on a random HF-shaped state dict."""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest
import torch

from allidb_mmseg.models.mit_weights import (WeightsError, hf_to_mmseg_mit,
                                             load_safetensors)
from helpers import load_tool
from mmseg.models.backbones import MixVisionTransformer

B0 = dict(embed_dims=[32, 64, 160, 256], depths=[2, 2, 2, 2],
          sr_ratios=[8, 4, 2, 1], patch_sizes=[7, 3, 3, 3], mlp_ratio=4)


def hf_segformer_state_dict(embed_dims, depths, sr_ratios, patch_sizes,
                            mlp_ratio, prefix='segformer.', seed=0):
    """Key names and shapes of transformers' SegformerForImageClassification."""
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def t(*shape):
        return torch.randn(*shape, generator=g)

    in_ch = 3
    for i, (c, d, sr, k) in enumerate(
            zip(embed_dims, depths, sr_ratios, patch_sizes)):
        pe = f'{prefix}encoder.patch_embeddings.{i}'
        sd[f'{pe}.proj.weight'] = t(c, in_ch, k, k)
        sd[f'{pe}.proj.bias'] = t(c)
        sd[f'{pe}.layer_norm.weight'] = t(c)
        sd[f'{pe}.layer_norm.bias'] = t(c)
        hidden = c * mlp_ratio
        for j in range(d):
            b = f'{prefix}encoder.block.{i}.{j}'
            for name, shape in [
                    ('layer_norm_1', (c,)),
                    ('attention.self.query', (c, c)),
                    ('attention.self.key', (c, c)),
                    ('attention.self.value', (c, c)),
                    ('attention.output.dense', (c, c)),
                    ('layer_norm_2', (c,)),
                    ('mlp.dense1', (hidden, c)),
                    ('mlp.dwconv.dwconv', (hidden, 1, 3, 3)),
                    ('mlp.dense2', (c, hidden))]:
                sd[f'{b}.{name}.weight'] = t(*shape)
                sd[f'{b}.{name}.bias'] = t(shape[0])
            if sr > 1:
                sd[f'{b}.attention.self.sr.weight'] = t(c, c, sr, sr)
                sd[f'{b}.attention.self.sr.bias'] = t(c)
                sd[f'{b}.attention.self.layer_norm.weight'] = t(c)
                sd[f'{b}.attention.self.layer_norm.bias'] = t(c)
        sd[f'{prefix}encoder.layer_norm.{i}.weight'] = t(c)
        sd[f'{prefix}encoder.layer_norm.{i}.bias'] = t(c)
        in_ch = c
    sd['classifier.weight'] = t(1000, embed_dims[-1])
    sd['classifier.bias'] = t(1000)
    return sd


def mmseg_b0():
    return MixVisionTransformer(embed_dims=32, num_layers=[2, 2, 2, 2],
                                num_heads=[1, 2, 5, 8])


def test_converted_b0_loads_strictly_and_keeps_values():
    hf = hf_segformer_state_dict(**B0)
    converted = hf_to_mmseg_mit(hf)
    model = mmseg_b0()
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    sd = model.state_dict()
    # q, k, v stacked in that order into the fused projection.
    c = 64
    qkv = sd['layers.1.1.1.attn.attn.in_proj_weight']
    b = 'segformer.encoder.block.1.1.attention.self'
    assert torch.equal(qkv[:c], hf[f'{b}.query.weight'])
    assert torch.equal(qkv[c:2 * c], hf[f'{b}.key.weight'])
    assert torch.equal(qkv[2 * c:], hf[f'{b}.value.weight'])
    # Linear layers of the Mix-FFN became 1x1 convolutions.
    assert torch.equal(sd['layers.2.1.0.ffn.layers.0.weight'][:, :, 0, 0],
                       hf['segformer.encoder.block.2.0.mlp.dense1.weight'])
    assert torch.equal(sd['layers.3.2.weight'],
                       hf['segformer.encoder.layer_norm.3.weight'])


def test_converted_model_computes_the_same_attention_projection():
    # The fused projection must reproduce HF's separate q/k/v linear layers.
    hf = hf_segformer_state_dict(**B0)
    model = mmseg_b0()
    model.load_state_dict(hf_to_mmseg_mit(hf))
    x = torch.randn(5, 32)
    b = 'segformer.encoder.block.0.0.attention.self'
    attn = model.layers[0][1][0].attn.attn
    fused = torch.nn.functional.linear(x, attn.in_proj_weight,
                                       attn.in_proj_bias)
    for i, name in enumerate(('query', 'key', 'value')):
        ref = x @ hf[f'{b}.{name}.weight'].T + hf[f'{b}.{name}.bias']
        assert torch.allclose(fused[:, 32 * i:32 * (i + 1)], ref, atol=1e-5)


def test_b2_shapes_and_unprefixed_segformer_model_keys():
    b2 = dict(B0, embed_dims=[64, 128, 320, 512], depths=[3, 4, 6, 3])
    hf = hf_segformer_state_dict(**b2, prefix='')
    model = MixVisionTransformer(embed_dims=64, num_layers=[3, 4, 6, 3],
                                 num_heads=[1, 2, 5, 8])
    result = model.load_state_dict(hf_to_mmseg_mit(hf), strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_unknown_encoder_key_is_an_error():
    hf = hf_segformer_state_dict(**B0)
    hf['segformer.encoder.block.0.0.mystery.weight'] = torch.zeros(1)
    with pytest.raises(WeightsError, match='mystery'):
        hf_to_mmseg_mit(hf)


def test_cli_converts_bin_and_refuses_to_overwrite(tmp_path, capsys):
    src = tmp_path / 'pytorch_model.bin'
    torch.save(hf_segformer_state_dict(**B0), src)
    dst = tmp_path / 'mit_b0.pth'
    tool = load_tool('model_converters/hf_mit2mmseg')
    assert tool.main([str(src), str(dst)]) == 0
    assert 'embed_dims [32, 64, 160, 256]' in capsys.readouterr().out
    ckpt = torch.load(dst, weights_only=True)
    result = mmseg_b0().load_state_dict(ckpt['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert tool.main([str(src), str(dst)]) == 2
    assert capsys.readouterr().err.strip() == \
        f'error: {dst}: exists (use --force to overwrite)'
    assert tool.main([str(tmp_path / 'nope.bin'), str(dst), '--force']) == 2
    assert capsys.readouterr().err.strip() == \
        f'error: {tmp_path / "nope.bin"}: file not found'


# torch dtype -> safetensors name, for the writer below.
_ST_NAMES = {torch.float64: 'F64', torch.float32: 'F32',
             torch.float16: 'F16', torch.bfloat16: 'BF16',
             torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16',
             torch.int8: 'I8', torch.uint8: 'U8', torch.bool: 'BOOL'}


def write_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer: the inverse of the format the reader parses.

    Tensors are laid out in insertion order without padding, so offsets of
    mixed dtypes need not be aligned (the reader must cope).
    """
    header, chunks, pos = {}, [], 0
    if metadata is not None:
        header['__metadata__'] = metadata
    for name, t in tensors.items():
        raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = dict(dtype=_ST_NAMES[t.dtype], shape=list(t.shape),
                            data_offsets=[pos, pos + len(raw)])
        chunks.append(raw)
        pos += len(raw)
    blob = json.dumps(header).encode()
    blob += b' ' * (-len(blob) % 8)
    Path(path).write_bytes(struct.pack('<Q', len(blob)) + blob
                           + b''.join(chunks))


def test_cli_converts_safetensors_like_bin(tmp_path, capsys):
    hf = hf_segformer_state_dict(**B0)
    write_safetensors(tmp_path / 'model.safetensors', hf,
                      metadata={'format': 'pt'})
    torch.save(hf, tmp_path / 'pytorch_model.bin')
    tool = load_tool('model_converters/hf_mit2mmseg')
    assert tool.main([str(tmp_path / 'model.safetensors'),
                      str(tmp_path / 'st.pth')]) == 0
    assert 'embed_dims [32, 64, 160, 256]' in capsys.readouterr().out
    assert tool.main([str(tmp_path / 'pytorch_model.bin'),
                      str(tmp_path / 'bin.pth')]) == 0
    from_st = torch.load(tmp_path / 'st.pth', weights_only=True)['state_dict']
    from_bin = torch.load(tmp_path / 'bin.pth',
                          weights_only=True)['state_dict']
    result = mmseg_b0().load_state_dict(from_st, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert from_st.keys() == from_bin.keys()
    for k in from_bin:
        assert from_st[k].dtype == from_bin[k].dtype
        assert torch.equal(from_st[k], from_bin[k]), k


def test_safetensors_reader_dtypes_and_unaligned_offsets(tmp_path):
    g = torch.Generator().manual_seed(1)
    tensors = {
        'u8': torch.randint(0, 255, (3,), generator=g, dtype=torch.uint8),
        'f64': torch.randn(2, 3, generator=g, dtype=torch.float64),
        'bool': torch.tensor([True, False, True]),
        'f32': torch.randn(4, 1, 2, generator=g),
        'f16': torch.randn(5, generator=g).half(),
        'bf16': torch.randn(3, 2, generator=g).bfloat16(),
        'i64': torch.randint(-9, 9, (2, 2), generator=g),
        'i32': torch.arange(-3, 3, dtype=torch.int32),
        'i16': torch.arange(4, dtype=torch.int16).reshape(2, 2),
        'i8': torch.tensor([-128, 0, 127], dtype=torch.int8),
        'scalar': torch.tensor(2.5),
        'empty': torch.zeros(0, 3),
    }
    path = tmp_path / 'mixed.safetensors'
    write_safetensors(path, tensors)
    loaded = load_safetensors(str(path))
    assert loaded.keys() == tensors.keys()
    for k, t in tensors.items():
        assert loaded[k].dtype == t.dtype and loaded[k].shape == t.shape, k
        assert torch.equal(loaded[k], t), k


def _corrupt_safetensors(tmp_path):
    """name -> (file bytes, words the error must contain)."""
    good = tmp_path / 'good.safetensors'
    write_safetensors(good, {'a': torch.ones(2, 2), 'b': torch.ones(3)})
    data = good.read_bytes()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])

    def with_header(change):
        h = json.loads(json.dumps(header))
        change(h)
        blob = json.dumps(h).encode()
        return struct.pack('<Q', len(blob)) + blob + data[8 + n:]

    return {
        'short': (b'\x10\0\0', 'header too small'),
        'huge_len': (struct.pack('<Q', 1 << 40) + b'{}', 'header too large'),
        'bad_json': (struct.pack('<Q', 4) + b'{"a"', 'invalid JSON'),
        'not_utf8': (struct.pack('<Q', 2) + b'\xff\xfe', 'invalid UTF-8'),
        'not_object': (struct.pack('<Q', 2) + b'[]', 'invalid JSON'),
        'truncated': (data[:-5], 'not fully covered'),
        'dtype': (with_header(lambda h: h['a'].update(dtype='C64')),
                  'invalid shape, data type, or offset'),
        'size': (with_header(lambda h: h['a'].update(shape=[2, 3])),
                 'invalid shape, data type, or offset'),
        'offsets': (with_header(lambda h: h['b'].update(
            data_offsets=[20, 8])), 'invalid offset'),
        'shape': (with_header(lambda h: h['a'].update(shape=[2, -2])),
                  'invalid value'),
    }


def test_corrupt_safetensors_gives_one_line_error(tmp_path, capsys):
    tool = load_tool('model_converters/hf_mit2mmseg')
    for name, (blob, words) in _corrupt_safetensors(tmp_path).items():
        src = tmp_path / f'{name}.safetensors'
        src.write_bytes(blob)
        with pytest.raises(WeightsError, match=re.escape(words)) as e:
            load_safetensors(str(src))
        assert e.value.path == str(src), name
        assert '\n' not in str(e.value), name
        assert tool.main([str(src), str(tmp_path / 'out.pth')]) == 2, name
        err = capsys.readouterr().err
        assert err.count('\n') == 1, (name, err)
        assert err.startswith(f'error: {src}: not a valid safetensors file'), \
            (name, err)
        assert words in err, (name, err)
    assert not (tmp_path / 'out.pth').exists()


def test_a_near_empty_input_is_refused(tmp_path, capsys):
    # The issue: one stray encoder tensor became a "0.00 M parameters" file.
    hf = hf_segformer_state_dict(**B0)
    src = tmp_path / 'near_empty.bin'
    torch.save({k: v for k, v in hf.items() if 'patch_embeddings.0' in k}, src)
    dst = tmp_path / 'mit.pth'
    assert load_tool('model_converters/hf_mit2mmseg').main(
        [str(src), str(dst)]) == 2
    assert capsys.readouterr().err.strip() == (
        f'error: {src}: not a complete MiT encoder: 14 of its 16 essential '
        'tensors are missing (e.g. layers.0.1.0.attn.attn.in_proj_weight); '
        'only 4 encoder tensors were found')
    assert not dst.exists()
