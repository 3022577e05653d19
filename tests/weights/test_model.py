import math

import torch

from papergrid.weights.model import MLP, count_params


def test_param_count_by_hand():
    # 64 -> 32 -> 32 -> 10: weights 64*32 + 32*32 + 32*10, biases 32 + 32 + 10
    assert MLP(64, 32, 10).num_params() == 2048 + 1024 + 320 + 74 == count_params(64, 32, 10)


def test_glorot_uniform_init_and_zero_biases():
    torch.manual_seed(0)
    model = MLP(100, 300, 10)
    bound = math.sqrt(6 / (300 + 300))
    w = model.fc2.weight
    assert w.abs().max() <= bound
    assert w.abs().max() > 0.95 * bound  # uniform fills the range
    assert abs(w.std().item() - bound / math.sqrt(3)) < 0.01 * bound
    assert all(torch.all(layer.bias == 0) for layer in (model.fc1, model.fc2, model.fc3))


def test_forward_shape():
    assert MLP(64, 16, 10)(torch.zeros(5, 64)).shape == (5, 10)
