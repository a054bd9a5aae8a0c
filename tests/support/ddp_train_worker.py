"""Run by tests/test_training_ddp.py under torchrun: trains through the real CLI (``hls-translate train``)
and records, per rank, the final parameters, the losses and how many checkpoints the rank wrote."""

import json
import os
import sys

import torch

from hls_translate import cli
from hls_translate.training import trainer


def main() -> int:
    config, out = sys.argv[1], sys.argv[2]
    rank = int(os.environ["RANK"])
    saved, results = [], []
    original_save, original_train = trainer.save_checkpoint, trainer.train

    def counting_save(path, state):
        saved.append(os.path.basename(path))
        return original_save(path, state)

    def capturing_train(*a, **kw):
        res = original_train(*a, **kw)
        results.append(res)
        return res

    trainer.save_checkpoint = counting_save
    trainer.train = capturing_train
    code = cli.main(["train", "--config", config])
    res = results[0]
    torch.save({k: v.detach().cpu() for k, v in res.model.state_dict().items()}, os.path.join(out, f"rank{rank}.pt"))
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"code": code, "saved": saved, "losses": [h["loss"] for h in res.history],
                   "world": int(os.environ["WORLD_SIZE"]), "step": res.step}, f)
    return code


if __name__ == "__main__":
    sys.exit(main())
