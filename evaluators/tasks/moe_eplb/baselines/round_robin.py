"""Naive round robin for moe_eplb (the contract is in ../seed.py): load-oblivious, the weakest baseline."""
import torch


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    """Naive round robin: slot p holds expert p mod E, so the first experts get the extra replicas."""
    layers, experts = weight.shape
    slot_expert = torch.arange(num_replicas, dtype=torch.int64) % experts
    phy2log = slot_expert.expand(layers, num_replicas).contiguous()
    logcnt = torch.bincount(slot_expert, minlength=experts).expand(layers, experts).contiguous()
    width = int(logcnt.max())
    log2phy = torch.full((experts, width), -1, dtype=torch.int64)
    for slot in range(num_replicas):
        expert = slot % experts
        log2phy[expert, slot // experts] = slot
    return phy2log, log2phy.expand(layers, experts, width).contiguous(), logcnt
