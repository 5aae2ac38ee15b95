"""Run by tests/train/test_fsdp.py under ``accelerate launch --config_file fsdp.yaml --num_processes 2``.

Loads a policy and a reference like the DPO recipe does; on rank 1 the reference's weights are first
replaced by zeros -- the placeholders a rank other than 0 may hold under ``cpu_ram_efficient_loading`` --
then prepares both. Prints, on rank 0, one JSON line: the distributed type, how many elements of the
reference each rank holds, and each rank's reference and policy log-probs on the same batch.
"""

import json
import sys

import torch

from ponder import ranks
from ponder.train import distributed, optim
from ponder.train.logprobs import logprobs
from ponder.train.model import load_model
from ponder.train.packing import PromptGroup, pack


def main(model_dir: str) -> None:
    torch.set_num_threads(1)
    acc = distributed.make_accelerator()
    policy = load_model(model_dir)
    optimizer = optim.build_optimizer(policy, lr=1e-3)
    policy, optimizer = acc.prepare(policy, optimizer)
    ref = load_model(model_dir, trainable=False)
    if acc.process_index == 1:
        with torch.no_grad():
            for p in ref.parameters():
                p.zero_()
    ref = distributed.prepare_reference(acc, ref)
    local = sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel() for p in ref.parameters())
    full = sum(p.numel() for p in load_model(model_dir, trainable=False).parameters())
    batch = pack([PromptGroup((5, 6, 7, 8), ((9, 10, 11), (12, 13)))]).to(acc.device)
    with torch.no_grad():
        ref_lp = logprobs(ref, batch).tokens.tolist()
        pol_lp = logprobs(policy, batch).tokens.tolist()
    mine = {"rank": acc.process_index, "local": local, "full": full, "ref": ref_lp, "policy": pol_lp}
    rows = distributed.gather_objects(acc, mine)
    if acc.is_main_process:
        print(json.dumps({"type": acc.distributed_type.value, "mixed": acc.mixed_precision, "ranks": rows}))
    ranks.finish()


if __name__ == "__main__":
    main(sys.argv[1])
