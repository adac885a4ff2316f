"""Reference values for src/rank/losses.ts (test/rank/losses.test.ts), float64 torch.

Regenerate: /usr/bin/python3 test/reference/rank_losses.py   (Debian python3-torch)
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
logits = torch.tensor([2.0, -1.0, 0.0, 30.0, -30.0, 0.5])
labels = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
print("bce", repr(F.binary_cross_entropy_with_logits(logits, labels).item()))

scores = torch.tensor([[3.0, 1.0, 0.0], [-1.0, 2.0, 2.0], [100.0, -100.0, 0.0]])
print("softmax_ce", repr(F.cross_entropy(scores, torch.zeros(3, dtype=torch.long)).item()))

pos = torch.tensor([1.0, 0.2, -0.5])
neg = torch.tensor([[0.5, -1.0], [0.7, 0.1], [-0.4, -3.0]])
print("margin", repr(F.margin_ranking_loss(pos[:, None].expand_as(neg), neg, torch.ones_like(neg), margin=1.0).item()))
