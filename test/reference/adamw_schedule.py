# Reference numbers for test/train/optimizer.test.ts (float64 numpy, PyTorch AdamW semantics).
# Regenerate: python3 test/reference/adamw_schedule.py
import math
import numpy as np

def adamw(p, grads, lrs, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    m = np.zeros_like(p); v = np.zeros_like(p)
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        p = p * (1 - lr * wd)                      # decoupled weight decay
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1 ** t); vhat = v / (1 - b2 ** t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
    return p, m, v

W0 = np.array([[0.5, -1.0], [2.0, 0.25]])
B0 = np.array([0.1, -0.2])
GW = [np.array([[0.1, -0.2], [0.3, 0.05]]), np.array([[-0.4, 0.1], [0.0, 0.2]]), np.array([[0.05, 0.05], [-0.1, 1.5]])]
GB = [np.array([1.0, -0.5]), np.array([0.2, 0.0]), np.array([-3.0, 0.7])]
LRS = [0.1, 0.05, 0.02]
w, mw, vw = adamw(W0, GW, LRS, wd=0.1)   # matrix: decayed
b, mb, vb = adamw(B0, GB, LRS, wd=0.0)   # bias: not decayed
np.set_printoptions(precision=17)
print('W', repr(w.ravel().tolist())); print('mW', repr(mw.ravel().tolist())); print('vW', repr(vw.ravel().tolist()))
print('b', repr(b.tolist())); print('mb', repr(mb.tolist())); print('vb', repr(vb.tolist()))

def sched(step, lr, warm, total, kind):
    if step < warm: return lr * step / max(1, warm)
    prog = min(1.0, (step - warm) / (total - warm))
    return lr * ((1 - prog) if kind == 'linear' else 0.5 * (1 + math.cos(math.pi * prog)))
print('linear', [sched(s, 1e-3, 10, 110, 'linear') for s in [0, 5, 10, 60, 110, 200]])
print('cosine', [sched(s, 1e-3, 10, 110, 'cosine') for s in [0, 5, 10, 35, 60, 110]])
