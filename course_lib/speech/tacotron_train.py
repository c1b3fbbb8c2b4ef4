"""Day 10's Tacotron trained on the speech corpus: recipe, presets, load-or-train, and
the alignment snapshots that show attention learning to read.

    recipe = preset(PRESETS, DEVICE)                 # PRESETS["cpu"] on a laptop
    trained = train_tacotron(recipe)                 # trains once; later calls load
    trained.model.infer(tokens, token_lengths)
    trained.run.history, trained.run.metrics["guided"], trained.snapshots[100]

The checkpoint is artifacts/checkpoints/tacotron_<recipe key>.pt; the snapshots are part
of it (the training `state`), so a loaded model has them too. The model, its loss
(`tacotron.teacher_forced_loss`) and inference are in `tacotron.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import torch
from torch import Tensor

from course_lib.data.speech import Utterance, collate, load_corpus
from course_lib.runtime import cpu_threads, get_device, settings_key, step_random
from course_lib.speech.tacotron import Tacotron, TacotronConfig, teacher_forced_loss
from course_lib.speech.text import SymbolTable
from course_lib.train import TrainingRun, TrainSettings, load_or_train

__all__ = ["TacotronRecipe", "PRESETS", "TrainedTacotron", "new_tacotron", "alignment_snapshot",
           "train_tacotron"]


@dataclass(frozen=True)
class TacotronRecipe:
    """Everything that decides the trained Tacotron: sizes (`model.vocab_size` is filled
    from the corpus' phoneme table), optimisation, the corpus (`domains` x `voices`,
    training split), the guided-attention weight (0 switches it off) and width g, and
    the steps at which the alignment of a validation sentence is recorded."""
    model: TacotronConfig = TacotronConfig()
    train: TrainSettings = TrainSettings(steps=300, batch_size=16, lr=2e-3)
    domains: tuple[str, ...] = ("digits",)
    voices: tuple[str, ...] = ("en-us",)
    guided_weight: float = 1.0
    g: float = 0.2
    snapshot_steps: tuple[int, ...] = (0, 25, 50, 100, 200, 300)

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


PRESETS = {
    # 0.6 M parameters, 300 steps of 16 digit strings: about 40 s on one CPU thread.
    "cpu": TacotronRecipe(),
    # the same model, longer on bigger batches
    "gpu": TacotronRecipe(train=TrainSettings(steps=1000, batch_size=32, lr=2e-3),
                          snapshot_steps=(0, 25, 50, 100, 300, 1000)),
}


@dataclass
class TrainedTacotron:
    """The model (eval mode), the training run (metrics: the loss parts "mel", "postnet",
    "stop", "guided"), the recipe, its phoneme table, the validation sentence `probe`
    and its teacher-forced alignment (steps, N) at each of `recipe.snapshot_steps`."""
    model: Tacotron
    run: TrainingRun
    recipe: TacotronRecipe = field(repr=False)
    table: SymbolTable = field(repr=False)
    probe: Utterance = field(repr=False)
    snapshots: dict[int, Tensor] = field(repr=False)

    def encode(self, utterances: Sequence[Utterance]) -> dict[str, Tensor]:
        """A padded batch (data.speech.collate) of corpus utterances: phoneme ids + EOS, mels."""
        return collate([(self.table.encode(u.phonemes), u.mel) for u in utterances])


def new_tacotron(recipe: TacotronRecipe, vocab_size: int) -> Tacotron:
    """The untrained Tacotron of `recipe` for a phoneme table of `vocab_size` ids,
    initialised from `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return Tacotron(replace(recipe.model, vocab_size=vocab_size))


@torch.no_grad()
def alignment_snapshot(model: Tacotron, batch: dict[str, Tensor]) -> Tensor:
    """The teacher-forced alignment (steps, N) of the first item of `batch`, in eval mode,
    with the prenet's dropout seeded (0): the same weights give the same picture. The
    global random state is left as it was."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
    model.train(was_training)
    return out.alignment[0].cpu()


def train_tacotron(recipe: TacotronRecipe | None = None, device: torch.device | None = None,
                   progress: bool = True) -> TrainedTacotron:
    """Train the Tacotron of `recipe` on its corpus, or load it when already trained.

    Batch `step`: `batch_size` distinct random training utterances (`runtime.step_random`).
    Loss: `tacotron.teacher_forced_loss` with the recipe's guided-attention weight. After
    each step in `recipe.snapshot_steps` (and before the first, for step 0) `on_step`
    records the alignment of the first validation sentence; the snapshots are saved with
    the checkpoint. One CPU thread (hundreds of tiny ops per step)."""
    recipe = recipe or PRESETS["cpu"]
    device = device or get_device()
    corpus = load_corpus(recipe.domains, recipe.voices, progress=progress)
    table = corpus.phoneme_table
    train, valid = corpus.split("train"), corpus.split("valid")
    items = [(table.encode(u.phonemes), u.mel) for u in train]
    probe = valid[0]
    probe_batch = collate([(table.encode(probe.phonemes), probe.mel)])
    model = new_tacotron(recipe, len(table))
    model.mel_norm.fit([u.mel for u in train])

    state = {"snapshots": {}}

    def on_step(step: int, model: Tacotron, logs: dict) -> None:
        if step in recipe.snapshot_steps:
            state["snapshots"][step] = alignment_snapshot(model, probe_batch)

    if 0 in recipe.snapshot_steps:                # before training (replaced by the saved one)
        with cpu_threads(device, 1):
            on_step(0, model, {})

    def data(step: int) -> dict[str, Tensor]:
        rng = step_random(recipe.train.seed, step)
        return collate(rng.sample(items, min(recipe.train.batch_size, len(items))))

    loss = partial(teacher_forced_loss, guided_weight=recipe.guided_weight, g=recipe.g)
    run = load_or_train("tacotron", recipe, model, loss, data, device=device, on_step=on_step,
                        state=state, threads=1, checkpoint_every=100, desc="tacotron", progress=progress)
    return TrainedTacotron(model, run, recipe, table, probe, dict(sorted(state["snapshots"].items())))
