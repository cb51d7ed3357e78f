"""Log the CV margin of choose_prior_weights for each evaluate group (diagnostic, not shipped)."""
import json, sys
import numpy as np
import torch
import napari_irdm.tomo.tv_cp as tc

LOG = open(sys.argv[1], "a")
orig = tc.choose_prior_weights

def wrapped(*a, **kw):
    kw["return_scores"] = True
    best, (cands, scores) = orig(*a, **kw)
    LOG.write(json.dumps({"best": best, "scores": [float(s) for s in scores], "cands": cands}) + "\n"); LOG.flush()
    return best

# expose margins: re-implement the decision print via a second hook on held_out_errors
orig_he = tc._HeldOut.held_out_errors
def he(self, x, m_c):
    per = orig_he(self, x, m_c)
    k = per.shape[1]
    a = self.angles[self.held]; n = self.angles.size; ke = max(1, int(round(0.08 * n)))
    srt = np.sort(self.angles); lo_c, hi_c = srt[ke - 1], srt[n - ke]
    edge = (a <= lo_c) | (a >= hi_c)
    err_parts = {}
    for name, msk in (("edge", edge), ("inner", ~edge)):
        idx = torch.as_tensor(np.repeat(msk, self.nx), device=x.device)
        pe = self.p_held.forward_cols(x)[idx]; be = self.b_held.repeat(1, m_c)[idx]
        e = ((pe - be) ** 2).sum(dim=0).reshape(m_c, self.k).double().cpu().numpy()
        r = (self.b_held[idx].double() ** 2).sum(dim=0).cpu().numpy().clip(min=1e-30)
        err_parts[name] = e / r
    jj = 1 + int(np.argmin(np.sqrt(per.mean(axis=1))[1:]))
    for name, e in err_parts.items():
        dd = e[jj] - e[0]
        LOG.write(json.dumps({"part": name, "dmean": float(dd.mean()), "se": float(dd.std(ddof=1) / np.sqrt(k)),
                              "ref": float(e[0].mean()), "n_tilts": int((edge if name == "edge" else ~edge).sum())}) + "\n")
    j = 1 + int(np.argmin(np.sqrt(per.mean(axis=1))[1:]))
    d = per[j] - per[0]
    se = d.std(ddof=1) / np.sqrt(k) if k > 1 else 0.0
    LOG.write(json.dumps({"k": int(k), "j": j, "dmean": float(d.mean()), "se": float(se),
                          "ref": float(per[0].mean()), "per_ref": per[0].tolist(), "per_j": per[j].tolist()}) + "\n")
    return per
tc._HeldOut.held_out_errors = he
tc.choose_prior_weights = wrapped
from napari_irdm.cli import main
sys.exit(main(sys.argv[2:]))
