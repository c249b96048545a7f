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

The seed is DeepSeek EPLB's hierarchical balanced packing (what ADRS starts this problem from),
written from the public description of deepseek-ai/EPLB:

  1. pack the expert groups onto nodes so that node loads are balanced (each node gets the
     same number of groups);
  2. within each node, replicate experts: every expert gets one slot, and each extra slot goes
     to the expert whose load per replica is currently the highest;
  3. pack the node's replicas onto its GPUs so that GPU loads are balanced (each GPU gets the
     same number of slots).
"Balanced packing" is greedy: items in decreasing weight, each to the lightest pack that still
has room. When the groups do not divide evenly over the nodes, the whole cluster is treated as
one node (DeepSeek's "global" policy). All steps are vectorised across layers (and nodes).
"""
import torch


# EVOLVE-BLOCK-START
def balanced_packing(weight, num_packs):
    """weight [rows, items] -> (pack [rows, items], slot within pack [rows, items])."""
    rows, items = weight.shape
    capacity = items // num_packs
    order = weight.argsort(dim=1, descending=True, stable=True)
    pack = torch.empty(rows, items, dtype=torch.int64)
    slot = torch.empty(rows, items, dtype=torch.int64)
    load = torch.zeros(rows, num_packs, dtype=weight.dtype)
    count = torch.zeros(rows, num_packs, dtype=torch.int64)
    row = torch.arange(rows)
    full = torch.tensor(float("inf"), dtype=weight.dtype)
    for j in range(items):
        item = order[:, j]
        target = torch.where(count < capacity, load, full).argmin(dim=1)
        pack[row, item] = target
        slot[row, item] = count[row, target]
        load[row, target] += weight[row, item]
        count[row, target] += 1
    return pack, slot


def replicate(weight, num_slots):
    """weight [rows, experts] -> (slot2expert [rows, num_slots], count [rows, experts])."""
    rows, experts = weight.shape
    slot2expert = torch.empty(rows, num_slots, dtype=torch.int64)
    slot2expert[:, :experts] = torch.arange(experts)
    count = torch.ones(rows, experts, dtype=torch.int64)
    row = torch.arange(rows)
    for s in range(experts, num_slots):
        hottest = (weight / count).argmax(dim=1)
        slot2expert[:, s] = hottest
        count[row, hottest] += 1
    return slot2expert, count


def logical_to_physical(phy2log, num_experts):
    """Inverse map [layers, experts, max replicas], padded with -1, replicas in slot order."""
    layers, slots = phy2log.shape
    count = torch.zeros(layers, num_experts, dtype=torch.int64).scatter_add_(1, phy2log, torch.ones_like(phy2log))
    width = int(count.max())
    order = phy2log.argsort(dim=1, stable=True)
    sorted_experts = phy2log.gather(1, order)
    first = torch.cumsum(count, dim=1) - count
    rank = torch.arange(slots).expand(layers, slots) - first.gather(1, sorted_experts)
    log2phy = torch.full((layers, num_experts * width), -1, dtype=torch.int64)
    log2phy.scatter_(1, sorted_experts * width + rank, order)
    return log2phy.view(layers, num_experts, width), count


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    weight = weight.float()
    layers, experts = weight.shape
    if num_groups % num_nodes or experts % num_groups:
        num_groups, num_nodes = 1, 1
    group_size = experts // num_groups
    experts_per_node = experts // num_nodes
    slots_per_node = num_replicas // num_nodes
    gpus_per_node = num_gpus // num_nodes
    slots_per_gpu = num_replicas // num_gpus

    # 1. groups -> nodes. A group's new position orders experts node by node.
    group_load = weight.view(layers, num_groups, group_size).sum(dim=2)
    node, rank = balanced_packing(group_load, num_nodes)
    group_position = node * (num_groups // num_nodes) + rank
    new_id = (group_position.unsqueeze(2) * group_size + torch.arange(group_size)).flatten(1)  # [layers, experts]
    old_id = torch.empty_like(new_id).scatter_(1, new_id, torch.arange(experts).expand(layers, experts))
    node_weight = weight.gather(1, old_id).view(layers * num_nodes, experts_per_node)

    # 2. replicate inside each node.
    slot2local, local_count = replicate(node_weight, slots_per_node)

    # 3. replicas -> GPUs of the node; a replica carries its expert's load divided by its count.
    replica_load = (node_weight / local_count).gather(1, slot2local)
    gpu, gpu_rank = balanced_packing(replica_load, gpus_per_node)
    position = gpu * slots_per_gpu + gpu_rank
    placed_local = torch.empty_like(slot2local).scatter_(1, position, slot2local)

    node_offset = (torch.arange(num_nodes) * experts_per_node).repeat(layers).unsqueeze(1)
    phy2new = (placed_local + node_offset).view(layers, num_replicas)
    phy2log = old_id.gather(1, phy2new)
    log2phy, logcnt = logical_to_physical(phy2log, experts)
    return phy2log, log2phy, logcnt
# EVOLVE-BLOCK-END
