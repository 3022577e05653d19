import pytest
import torch
import torch.nn.functional as F

from papergrid.lm.config import GPTConfig
from papergrid.lm.pattention import Pattention
from papergrid.tokenformer.model import GeluPattention, build

PAT = GPTConfig(
    vocab_size=11,
    block_size=6,
    n_layer=2,
    d_model=8,
    n_head=2,
    d_ff=8,
    layer="pattention",
    attn_tokens=8,
)


def test_the_gelu_layer_has_pattention_s_shapes_and_draws_but_no_normalisation():
    torch.manual_seed(0)
    a = build(PAT, "pattention", "plain")
    torch.manual_seed(0)
    b = build(PAT, "gelu", "plain")
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # the same initial weights
    layers = [m for m in b.modules() if isinstance(m, Pattention)]
    assert len(layers) == 2 * 5 and all(type(m) is GeluPattention for m in layers)
    x = torch.randn(3, 8)
    m = layers[0]
    torch.testing.assert_close(m(x), F.gelu(x @ m.key.t()) @ m.value)
    # Theta's normalisation makes parameter attention blind to the input's scale; a plain
    # GeLU is not
    assert not torch.allclose(m(2 * x), m(x))
    ids = torch.randint(0, 11, (2, 6))
    assert not torch.allclose(a(ids)[0], b(ids)[0])


@pytest.mark.parametrize("layer", ["pattention", "gelu"])
def test_a_plain_layer_norm_has_no_weights(layer):
    plain, affine = build(PAT, layer, "plain"), build(PAT, layer, "affine")
    lns = (2 * PAT.n_layer + 1) * 2 * PAT.d_model
    assert affine.num_params() - plain.num_params() == lns
    assert not any("ln" in name for name, _ in plain.named_parameters())
    assert all(
        not m.elementwise_affine for m in plain.modules() if isinstance(m, torch.nn.LayerNorm)
    )


@pytest.mark.parametrize(
    "layer, layer_norm, message",
    [
        ("mlp", "plain", "layer must be one of"),
        ("gelu", "rms", "layer_norm must be one of"),
        ("linear", "plain", "needs GPTConfig.layer of its kind"),
    ],
)
def test_bad_variants_are_refused(layer, layer_norm, message):
    with pytest.raises(ValueError, match=message):
        build(PAT, layer, layer_norm)
