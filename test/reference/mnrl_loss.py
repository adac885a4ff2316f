"""Golden numbers of the multiple-negatives ranking loss (sentence-transformers' MultipleNegativesRankingLoss:
cosine similarity * scale, cross-entropy against each query's own positive), float64 torch."""
import json, torch
torch.manual_seed(0)
B, N, D, temp = 3, 2, 5, 0.05
q = torch.randn(B, D, dtype=torch.float64)
docs = torch.randn(B * (1 + N), D, dtype=torch.float64)
scores = torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(docs, dim=1).T / temp
loss = torch.nn.functional.cross_entropy(scores, torch.arange(B))
print(json.dumps({"q": q.tolist(), "docs": docs.tolist(), "temperature": temp, "loss": loss.item()}))
