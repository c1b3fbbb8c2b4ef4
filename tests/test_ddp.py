"""`train.fit` under torchrun (2 CPU processes, gloo on loopback) equals one process."""

import pytest
import torch

from course_lib import distributed
from course_lib.diffusion import ddp_demo

STEPS, BATCH = 20, 32


_max_weight_diff = ddp_demo.weight_difference


def test_shard_takes_each_ranks_rows():
    x, y = torch.arange(12).view(6, 2), torch.arange(6)
    parts = [distributed.shard((x, {"y": y, "name": "clip"}), r, 3) for r in range(3)]
    assert torch.equal(torch.cat([p[0] for p in parts]), x), "the shards must tile the batch in order"
    assert torch.equal(parts[1][1]["y"], torch.tensor([2, 3])) and parts[1][1]["name"] == "clip"
    with pytest.raises(ValueError, match="divisible"):
        distributed.shard(torch.zeros(5, 2), 0, 2)
    with pytest.raises(ValueError, match="rank"):
        distributed.shard(x, 3, 3)


def test_backend_and_command():
    assert distributed.backend_for(torch.device("cpu")) == "gloo"
    assert distributed.backend_for(torch.device("cuda", 1)) == "nccl"
    cmd = distributed.torchrun_command("course_lib.diffusion.ddp_demo", ["--out", "x.pt"], nproc=2, port=29999)
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and "--nproc_per_node=2" in cmd
    assert "--master_addr=127.0.0.1" in cmd and cmd[-3:] == ["course_lib.diffusion.ddp_demo", "--out", "x.pt"]
    with pytest.raises(ValueError, match="nproc"):
        distributed.torchrun_command("m", [], nproc=0)


def test_fixed_noise_batches_are_deterministic():
    data = ddp_demo.fixed_noise_batches(torch.randn(50, 1, 4, 4), torch.arange(50) % 10, 8, 1000, null_label=10)
    a, b = data(3), data(3)
    assert all(torch.equal(u, v) for u, v in zip(a, b)), "a step's batch must not depend on when it is drawn"
    assert not torch.equal(data(4)[3], a[3])
    with pytest.raises(ValueError, match="one length"):
        ddp_demo.fixed_noise_batches(torch.randn(5, 2), torch.arange(4), 2, 10, 10)


def test_torchrun_two_processes_equal_one_process_on_the_global_batch(tmp_path):
    common = ["--steps", str(STEPS), "--seed", "0"]
    single = ddp_demo.main([*common, "--batch-size", str(BATCH), "--out", str(tmp_path / "single.pt")])
    assert single["world_size"] == 1

    distributed.launch("course_lib.diffusion.ddp_demo",
                       [*common, "--batch-size", str(BATCH), "--out", str(tmp_path / "ddp.pt")], nproc=2)
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=False)
    assert ddp["world_size"] == 2
    assert ddp["rows_per_step"] == BATCH // 2 and single["rows_per_step"] == BATCH, \
        "each rank must train on its half of the global batch"

    # The loss history (averaged over ranks) is the global batch's loss at every step.
    torch.testing.assert_close(torch.tensor(ddp["history"]), torch.tensor(single["history"]), rtol=1e-4, atol=1e-5)
    diff = _max_weight_diff(ddp["state_dict"], single["state_dict"])
    assert diff < 2e-4, f"2-process weights differ from 1-process weights by {diff:.2e}"

    # The test can fail: training on one rank's half of each batch (no gradient
    # all-reduce) ends far away from the global-batch weights.
    half = ddp_demo.main([*common, "--batch-size", str(BATCH // 2), "--out", str(tmp_path / "half.pt")])
    far = _max_weight_diff(half["state_dict"], single["state_dict"])
    assert far > 20 * max(diff, 2e-4), f"a half batch should change the weights clearly; moved {far:.2e}"
