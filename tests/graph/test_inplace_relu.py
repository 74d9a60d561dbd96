"""The compiler makes a ReLU in-place only where that cannot change a result (``graph/compile.py``
``_inplace_relus``): its input comes from a conv, BatchNorm, linear or add that nothing else reads.

The reference is the same module with every ReLU set back to ``inplace=False`` (and, for the shared case, the
arithmetic written out with torch), so a wrong rewrite shows as a different output or gradient.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

import nascomp

SPEC = """\
name: inplace_cases
input_shape: [3, 8, 8]
nodes:
  - {id: conv, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {id: shared_act, type: relu}                    # conv is also read by 'sum': must stay out of place
  - {id: sum, type: add, inputs: [conv, shared_act]}
  - {id: conv2, type: conv2d, out_channels: 4, kernel_size: 1}
  - {id: only_act, type: relu}                      # conv2 feeds only this ReLU: may be in place
  - {id: cat, type: concat, inputs: [only_act, sum]}
  - {id: after_cat, type: relu}                     # concat is not in the safe list: out of place
"""


def _not_inplace(model: nn.Module) -> nn.Module:
    reference = copy.deepcopy(model)
    for module in reference.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    return reference


def test_only_a_relu_whose_input_has_no_other_reader_is_made_in_place() -> None:
    model = nascomp.build(SPEC)
    assert model.shared_act.inplace is False
    assert model.only_act.inplace is True
    assert model.after_cat.inplace is False


def test_in_place_relus_give_the_outputs_and_gradients_of_the_plain_module() -> None:
    torch.manual_seed(0)
    model = nascomp.build(SPEC)
    reference = _not_inplace(model)
    x = torch.randn(2, 3, 8, 8)
    out = model(x)
    expected = reference(x)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    y = model.conv(x)
    by_hand = torch.relu(torch.cat([torch.relu(model.conv2(y + torch.relu(y))), y + torch.relu(y)], dim=1))
    torch.testing.assert_close(out, by_hand)
    out.square().sum().backward()
    expected.square().sum().backward()
    for (name, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
