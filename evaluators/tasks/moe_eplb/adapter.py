# Runs inside the candidate process: rebuilds the torch tensor the EPLB API expects, calls the
# candidate's rebalance_experts and sends its three tensors back as compact numpy arrays. The
# scorer validates what arrives and times the whole round trip itself, so nothing reported
# from here (including this code, if tampered with) can make an answer look valid or fast.
import time

import numpy as np
import torch

_NAMES = ("phy2log", "log2phy", "logcnt")


def _compact(array):
    """The smallest wire dtype that holds every value exactly (indices fit in 8 or 16 bits)."""
    if array.size:
        low, high = int(array.min()), int(array.max())
        for dtype in (np.uint8, np.int8, np.int16):
            info = np.iinfo(dtype)
            if info.min <= low and high <= info.max:
                return array.astype(dtype)
    return array.astype(np.int64)


def rebalance(rebalance_experts, weight, num_replicas, num_groups, num_nodes, num_gpus):
    started = time.perf_counter()
    out = rebalance_experts(torch.from_numpy(weight), num_replicas, num_groups, num_nodes, num_gpus)
    self_timed = time.perf_counter() - started  # informational only: the scorer never scores it
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        return {"error": f"rebalance_experts returned {type(out).__name__}; expected (phy2log, log2phy, logcnt)"}
    arrays, dtypes = [], []
    for name, tensor in zip(_NAMES, out):
        if not isinstance(tensor, torch.Tensor):
            return {"error": f"{name} is a {type(tensor).__name__}, not a torch tensor"}
        dtypes.append(str(tensor.dtype).removeprefix("torch."))
        if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
            return {"error": f"{name} has dtype {tensor.dtype}; expected an integer tensor (torch.int64)"}
        arrays.append(tensor.detach().cpu().numpy())
    phy2log, log2phy, logcnt = arrays
    width = log2phy.shape[-1] if log2phy.ndim == 3 else -1
    if log2phy.ndim == 3 and log2phy.size:
        # Drop trailing all-padding columns: the same map, far fewer bytes on the wire.
        used = np.nonzero((log2phy != -1).any(axis=(0, 1)))[0]
        log2phy = log2phy[:, :, :used[-1] + 1 if used.size else 0]
    return {"phy2log": _compact(phy2log), "log2phy": _compact(log2phy), "logcnt": _compact(logcnt),
            "dtypes": dtypes, "log2phy_width": int(width), "self_timed_s": self_timed}
