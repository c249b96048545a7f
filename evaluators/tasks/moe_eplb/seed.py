"""Expert-parallel load balancing (EPLB): map an MoE model's logical experts to physical replica
slots on GPUs, the API of DeepSeek's open-source EPLB and vLLM:

  rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus)
      weight: float tensor [layers, num_logical_experts], the recent load of each expert.
      returns (phy2log, log2phy, logcnt), int64 tensors:
        phy2log [layers, num_replicas]: the logical expert in each physical slot; GPU g owns
            slots g*num_replicas/num_gpus ... (g+1)*num_replicas/num_gpus - 1;
        log2phy [layers, num_logical_experts, X]: the slots of each expert first, then -1 padding;
        logcnt [layers, num_logical_experts]: the number of replicas of each expert (>= 1).
Experts come in num_groups equal contiguous groups; nodes have num_gpus/num_nodes GPUs each.
The mapping is computed on one time window and scored on the next: the score rewards balanced
GPU loads (mean / max) and a fast algorithm.
"""
import torch


# EVOLVE-BLOCK-START
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
# EVOLVE-BLOCK-END
