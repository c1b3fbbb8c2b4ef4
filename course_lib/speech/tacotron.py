"""Tacotron 2 (Shen et al., 2018), small: text ids -> log-mel frames, one step at a time.

    model = Tacotron(TacotronConfig(n_symbols=len(table)))
    out = model(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
    loss, parts = tacotron_loss(out, batch)              # mel, postnet mel, stop, guided attention
    mel, alignment, lengths = model.infer(tokens, token_lengths)

The pieces, in the order data flows through them:

- encoder: embedding -> 3 x (conv 5, batch norm, ReLU, dropout) -> bidirectional LSTM,
  giving one vector h_j per input symbol, (B, N, D);
- location-sensitive attention (Chorowski et al., 2015): at decoder step i the energy of
  input j is

      e_ij = v^T tanh(W s_i + V h_j + U f_ij + b),   f_i = F * [alpha_{i-1}; sum_{k<i} alpha_k]

  where s_i is the attention-RNN state, alpha_{i-1} the previous attention, sum alpha_k
  the cumulative attention, and F a 1-D convolution (32 filters, kernel 31): the model
  sees where it looked before and moves on from there. alpha_i = softmax over the real
  (unpadded) inputs of e_i, and the context is c_i = sum_j alpha_ij h_j;
- decoder: prenet (2 x linear + ReLU with dropout 0.5, *kept on at inference*, the only
  source of variation Tacotron 2 has) on the previous frame, attention LSTM, attention,
  decoder LSTM, then a linear layer predicting `reduction` frames at once and a stop
  logit;
- postnet: 5 convolutions predicting a residual that sharpens the whole spectrogram.

Training helpers: `stop_targets` (1 from the last frame on), `guided_attention_weights`
(Tachibana et al., 2017: W_nt = 1 - exp(-(n/N - t/T)^2 / 2g^2) penalises attention
far from the diagonal), `tacotron_loss`. Measures: `alignment_is_monotonic`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.runtime import settings_key, torch_threads

__all__ = ["TacotronConfig", "Tacotron", "Encoder", "Prenet", "Postnet",
           "LocationSensitiveAttention", "location_features", "masked_softmax",
           "stop_targets", "guided_attention_weights", "guided_attention_loss",
           "tacotron_loss", "alignment_is_monotonic", "TacotronOutput", "TacotronRecipe",
           "TrainedTacotron", "train_tacotron", "one_thread"]


@dataclass
class TacotronConfig:
    """Sizes. The defaults are a CPU-sized Tacotron 2 (0.6 M parameters with 26 symbols);
    the paper's sizes in comments (28 M parameters)."""
    n_symbols: int
    n_mels: int = 80
    reduction: int = 4                 # frames predicted per decoder step (paper: 1)
    embed_dim: int = 64                # 512
    encoder_convs: int = 3
    encoder_kernel: int = 5
    encoder_dim: int = 64              # BiLSTM output, 2 x 32 (512)
    dropout: float = 0.5               # encoder convolutions
    attention_dim: int = 64            # 128
    location_filters: int = 32
    location_kernel: int = 31
    prenet_dim: int = 64               # 256
    prenet_dropout: float = 0.5
    rnn_dim: int = 128                 # attention LSTM and decoder LSTM (1024)
    postnet_channels: int = 64         # 512
    postnet_layers: int = 5
    postnet_kernel: int = 5
    max_steps: int = 200               # inference: decoder steps before giving up

    def __post_init__(self):
        for name in ("n_symbols", "n_mels", "reduction", "embed_dim", "encoder_dim",
                     "attention_dim", "location_filters", "rnn_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        if self.encoder_dim % 2:
            raise ValueError(f"encoder_dim must be even (two LSTM directions); got {self.encoder_dim}")
        if self.location_kernel % 2 == 0:
            raise ValueError(f"location_kernel must be odd; got {self.location_kernel}")


# ---------------------------------------------------------------- encoder

class Encoder(nn.Module):
    """ids (B, N) + lengths (B,) -> memory (B, N, encoder_dim), zero at padded positions."""

    def __init__(self, cfg: TacotronConfig):
        super().__init__()
        self.embedding = nn.Embedding(cfg.n_symbols, cfg.embed_dim, padding_idx=0)
        pad = (cfg.encoder_kernel - 1) // 2
        self.convs = nn.ModuleList(nn.Sequential(
            nn.Conv1d(cfg.embed_dim, cfg.embed_dim, cfg.encoder_kernel, padding=pad),
            nn.BatchNorm1d(cfg.embed_dim), nn.ReLU(), nn.Dropout(cfg.dropout))
            for _ in range(cfg.encoder_convs))
        self.lstm = nn.LSTM(cfg.embed_dim, cfg.encoder_dim // 2, batch_first=True,
                            bidirectional=True)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        mask = (torch.arange(tokens.shape[1], device=tokens.device) < lengths[:, None])[:, None]
        x = self.embedding(tokens).transpose(1, 2) * mask                 # (B, E, N)
        for conv in self.convs:
            x = conv(x) * mask                                            # padding stays 0
        packed = nn.utils.rnn.pack_padded_sequence(x.transpose(1, 2), lengths.cpu(),
                                                   batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                  total_length=tokens.shape[1])
        return out                                                        # (B, N, D)


# ---------------------------------------------------------------- attention

def location_features(previous: Tensor, cumulative: Tensor, conv: nn.Conv1d) -> Tensor:
    """f_i = F * [alpha_{i-1}; sum_{k<i} alpha_k]: (B, N) and (B, N) -> (B, N, filters).

    The two attentions are stacked as channels in this order (channel 0 = previous,
    channel 1 = cumulative) and convolved with `conv` (2 -> filters, 'same' padding).
    """
    stacked = torch.stack([previous, cumulative], dim=1)                 # (B, 2, N)
    return conv(stacked).transpose(1, 2)                                  # (B, N, filters)


def masked_softmax(energies: Tensor, mask: Tensor) -> Tensor:
    """softmax over the last axis where mask is True; exactly 0 where it is False.

    energies: (B, N) float; mask: (B, N) bool, at least one True per row.
    """
    if mask.shape != energies.shape or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor shaped like energies {tuple(energies.shape)}; "
                         f"got {tuple(mask.shape)} {mask.dtype}")
    return torch.softmax(energies.masked_fill(~mask, float("-inf")), dim=-1)


class LocationSensitiveAttention(nn.Module):
    """e_ij = v^T tanh(W s_i + V h_j + U f_ij + b); alpha_i = masked softmax of e_i."""

    def __init__(self, query_dim: int, memory_dim: int, attention_dim: int,
                 filters: int = 32, kernel: int = 31):
        super().__init__()
        self.query = nn.Linear(query_dim, attention_dim, bias=False)      # W
        self.memory = nn.Linear(memory_dim, attention_dim, bias=False)    # V
        self.location_conv = nn.Conv1d(2, filters, kernel, padding=(kernel - 1) // 2, bias=False)
        self.location = nn.Linear(filters, attention_dim, bias=False)     # U
        self.v = nn.Linear(attention_dim, 1, bias=True)                   # v and b

    def process_memory(self, memory: Tensor) -> Tensor:
        """V h_j for all j, computed once per utterance: (B, N, D) -> (B, N, A)."""
        return self.memory(memory)

    def energies(self, query: Tensor, processed_memory: Tensor, previous: Tensor,
                 cumulative: Tensor) -> Tensor:
        """e_i: query (B, Dq), processed memory (B, N, A), attentions (B, N) -> (B, N)."""
        location = self.location(location_features(previous, cumulative, self.location_conv))
        hidden = torch.tanh(self.query(query)[:, None] + processed_memory + location)
        return self.v(hidden).squeeze(-1)                                 # (B, N)

    def forward(self, query: Tensor, memory: Tensor, processed_memory: Tensor,
                previous: Tensor, cumulative: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Returns context (B, D) = sum_j alpha_ij h_j and alpha_i (B, N)."""
        weights = masked_softmax(self.energies(query, processed_memory, previous, cumulative), mask)
        context = torch.bmm(weights[:, None], memory).squeeze(1)          # (B, D)
        return context, weights


# ---------------------------------------------------------------- decoder parts

class Prenet(nn.Module):
    """2 x (linear, ReLU, dropout 0.5). Dropout is on in eval mode too (Tacotron 2 §2.3)."""

    def __init__(self, in_dim: int, dim: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(in_dim, dim), nn.Linear(dim, dim)])
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = F.dropout(F.relu(layer(x)), self.dropout, training=True)  # always
        return x


class Postnet(nn.Module):
    """mel (B, n_mels, T) -> residual (B, n_mels, T): conv + BN + tanh, last one linear."""

    def __init__(self, cfg: TacotronConfig):
        super().__init__()
        pad = (cfg.postnet_kernel - 1) // 2
        channels = [cfg.n_mels] + [cfg.postnet_channels] * (cfg.postnet_layers - 1) + [cfg.n_mels]
        self.layers = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip(channels, channels[1:])):
            last = i == cfg.postnet_layers - 1
            self.layers.append(nn.Sequential(
                nn.Conv1d(c_in, c_out, cfg.postnet_kernel, padding=pad), nn.BatchNorm1d(c_out),
                nn.Identity() if last else nn.Tanh(), nn.Dropout(0.1)))

    def forward(self, mel: Tensor) -> Tensor:
        for layer in self.layers:
            mel = layer(mel)
        return mel


@dataclass
class TacotronOutput:
    """mel, mel_postnet: (B, n_mels, T) in log-mel units (T = steps * reduction);
    stop_logits: (B, steps); alignment: (B, steps, N)."""
    mel: Tensor
    mel_postnet: Tensor
    stop_logits: Tensor
    alignment: Tensor


class Tacotron(nn.Module):
    """Tacotron 2 with a reduction factor. Mels are normalised inside with per-band
    mean/std buffers (`set_normalization`), so outputs are in the corpus' log-mel units."""

    def __init__(self, cfg: TacotronConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.prenet = Prenet(cfg.n_mels, cfg.prenet_dim, cfg.prenet_dropout)
        self.attention_rnn = nn.LSTMCell(cfg.prenet_dim + cfg.encoder_dim, cfg.rnn_dim)
        self.attention = LocationSensitiveAttention(cfg.rnn_dim, cfg.encoder_dim, cfg.attention_dim,
                                                    cfg.location_filters, cfg.location_kernel)
        self.decoder_rnn = nn.LSTMCell(cfg.rnn_dim + cfg.encoder_dim, cfg.rnn_dim)
        self.frames = nn.Linear(cfg.rnn_dim + cfg.encoder_dim, cfg.n_mels * cfg.reduction)
        self.stop = nn.Linear(cfg.rnn_dim + cfg.encoder_dim, 1)
        self.postnet = Postnet(cfg)
        self.register_buffer("mel_mean", torch.zeros(cfg.n_mels, 1))
        self.register_buffer("mel_std", torch.ones(cfg.n_mels, 1))

    def set_normalization(self, mels: list[Tensor]) -> None:
        """Per-band mean and std of (n_mels, frames) training mels."""
        frames = torch.cat([m for m in mels], dim=1)                      # (n_mels, sum T)
        self.mel_mean.copy_(frames.mean(1, keepdim=True))
        self.mel_std.copy_(frames.std(1, keepdim=True).clamp_min(1e-3))

    def normalize(self, mel: Tensor) -> Tensor:
        return (mel - self.mel_mean) / self.mel_std

    def denormalize(self, mel: Tensor) -> Tensor:
        return mel * self.mel_std + self.mel_mean

    # -- one decoder step
    def _init_state(self, memory: Tensor) -> dict[str, Tensor]:
        B, N, D = memory.shape
        zeros = lambda *shape: memory.new_zeros(*shape)                   # noqa: E731
        return {"h_att": zeros(B, self.cfg.rnn_dim), "c_att": zeros(B, self.cfg.rnn_dim),
                "h_dec": zeros(B, self.cfg.rnn_dim), "c_dec": zeros(B, self.cfg.rnn_dim),
                "context": zeros(B, D), "previous": zeros(B, N), "cumulative": zeros(B, N)}

    def _step(self, prenet_out: Tensor, state: dict, memory: Tensor, processed: Tensor,
              mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One decoder step: updates state; returns r frames (B, n_mels * r), stop (B,), alpha (B, N)."""
        h_att, c_att = self.attention_rnn(torch.cat([prenet_out, state["context"]], -1),
                                          (state["h_att"], state["c_att"]))
        h_att = F.dropout(h_att, 0.1, self.training)
        context, weights = self.attention(h_att, memory, processed, state["previous"],
                                          state["cumulative"], mask)
        h_dec, c_dec = self.decoder_rnn(torch.cat([h_att, context], -1),
                                        (state["h_dec"], state["c_dec"]))
        h_dec = F.dropout(h_dec, 0.1, self.training)
        state.update(h_att=h_att, c_att=c_att, h_dec=h_dec, c_dec=c_dec, context=context,
                     previous=weights, cumulative=state["cumulative"] + weights)
        out = torch.cat([h_dec, context], -1)
        return self.frames(out), self.stop(out).squeeze(-1), weights

    def _encode(self, tokens: Tensor, token_lengths: Tensor):
        if tokens.ndim != 2 or token_lengths.shape != tokens.shape[:1]:
            raise ValueError(f"tokens must be (B, N) and token_lengths (B,); got "
                             f"{tuple(tokens.shape)} and {tuple(token_lengths.shape)}")
        memory = self.encoder(tokens, token_lengths)                      # (B, N, D)
        mask = torch.arange(tokens.shape[1], device=tokens.device) < token_lengths[:, None]
        return memory, self.attention.process_memory(memory), mask

    def _finish(self, frames: list[Tensor], stops: list[Tensor], weights: list[Tensor]):
        B = frames[0].shape[0]
        mel = torch.stack(frames, 1).reshape(B, -1, self.cfg.n_mels).transpose(1, 2)  # (B, n_mels, T)
        mel_post = mel + self.postnet(mel)
        return TacotronOutput(self.denormalize(mel), self.denormalize(mel_post),
                              torch.stack(stops, 1), torch.stack(weights, 1))

    def forward(self, tokens: Tensor, token_lengths: Tensor, mels: Tensor,
                mel_lengths: Tensor | None = None) -> TacotronOutput:
        """Teacher forcing. tokens (B, N), token_lengths (B,), mels (B, n_mels, T) log-mel.

        Step i is fed the last true frame of step i - 1 (a zero "go" frame at step 0).
        Output frames: steps * reduction >= T (ceil(T / reduction) steps).
        """
        r, n_mels = self.cfg.reduction, self.cfg.n_mels
        if mels.ndim != 3 or mels.shape[1] != n_mels:
            raise ValueError(f"mels must be (B, {n_mels}, T); got {tuple(mels.shape)}")
        memory, processed, mask = self._encode(tokens, token_lengths)
        steps = math.ceil(mels.shape[2] / r)
        target = F.pad(self.normalize(mels), (0, steps * r - mels.shape[2]))  # (B, n_mels, steps*r)
        inputs = torch.cat([target.new_zeros(len(mels), n_mels, 1),
                            target[:, :, r - 1:-1:r]], dim=2)             # (B, n_mels, steps)
        prenet_out = self.prenet(inputs.transpose(1, 2))                  # (B, steps, P)
        state = self._init_state(memory)
        frames, stops, weights = [], [], []
        for i in range(steps):
            f, s, w = self._step(prenet_out[:, i], state, memory, processed, mask)
            frames.append(f), stops.append(s), weights.append(w)
        return self._finish(frames, stops, weights)

    @torch.no_grad()
    def infer(self, tokens: Tensor, token_lengths: Tensor, max_steps: int | None = None,
              stop_threshold: float = 0.5) -> tuple[Tensor, Tensor, Tensor]:
        """Free running: each step is fed its own last predicted frame, until the stop
        probability passes stop_threshold (per item) or max_steps.

        Returns mel (B, n_mels, T) postnet log-mel (zero after each item's end),
        alignment (B, steps, N) and frame lengths (B,) (a multiple of reduction).
        """
        was_training = self.training
        self.eval()
        max_steps = max_steps or self.cfg.max_steps
        memory, processed, mask = self._encode(tokens, token_lengths)
        B, r = len(tokens), self.cfg.reduction
        state = self._init_state(memory)
        previous_frame = memory.new_zeros(B, self.cfg.n_mels)
        done = torch.zeros(B, dtype=torch.bool, device=tokens.device)
        steps = torch.full((B,), max_steps, device=tokens.device)
        frames, stops, weights = [], [], []
        for i in range(max_steps):
            f, s, w = self._step(self.prenet(previous_frame), state, memory, processed, mask)
            frames.append(f), stops.append(s), weights.append(w)
            previous_frame = f[:, -self.cfg.n_mels:]
            stopping = ~done & (torch.sigmoid(s) > stop_threshold)
            steps[stopping] = i + 1
            done |= stopping
            if done.all():
                break
        out = self._finish(frames, stops, weights)
        lengths = steps * r
        valid = torch.arange(out.mel_postnet.shape[2], device=tokens.device) < lengths[:, None]
        self.train(was_training)
        return out.mel_postnet * valid[:, None], out.alignment, lengths

    def config_dict(self) -> dict:
        return asdict(self.cfg)


# ---------------------------------------------------------------- losses

def stop_targets(mel_lengths: Tensor, n_frames: int) -> Tensor:
    """(B, n_frames) float: 1 at the last real frame (index length - 1) and after it, else 0."""
    frames = torch.arange(n_frames, device=mel_lengths.device)
    return (frames[None] >= mel_lengths[:, None] - 1).float()


def guided_attention_weights(token_lengths: Tensor, step_lengths: Tensor, n_tokens: int,
                             n_steps: int, g: float = 0.2) -> Tensor:
    """W (B, n_steps, n_tokens): 1 - exp(-(n/N - t/T)^2 / (2 g^2)) inside each item's
    (T, N) = (step_lengths, token_lengths), 0 in the padding.

    Near the diagonal n/N = t/T the weight is 0; far from it, close to 1. Multiplied with
    the attention, it costs the model attention that strays from reading in order.
    """
    n = torch.arange(n_tokens, device=token_lengths.device)[None, None]        # (1, 1, N)
    t = torch.arange(n_steps, device=token_lengths.device)[None, :, None]      # (1, T, 1)
    N = token_lengths[:, None, None].float()
    T = step_lengths[:, None, None].float()
    W = 1 - torch.exp(-((n / N - t / T) ** 2) / (2 * g * g))
    inside = (n < N) & (t < T)
    return W * inside


def guided_attention_loss(alignment: Tensor, token_lengths: Tensor, step_lengths: Tensor,
                          g: float = 0.2) -> Tensor:
    """mean over the real (step, token) pairs of alignment * W. alignment: (B, T, N)."""
    B, T, N = alignment.shape
    W = guided_attention_weights(token_lengths, step_lengths, N, T, g)
    count = (token_lengths * step_lengths.clamp_max(T)).sum()
    return (alignment * W).sum() / count


def tacotron_loss(out: TacotronOutput, batch: dict, model: Tacotron,
                  guided_weight: float = 1.0, g: float = 0.2) -> tuple[Tensor, dict]:
    """Masked MSE of both mels (in normalised units), BCE of the stop logits (one per
    step: the target of a step is that of its last frame), guided attention.

    Returns (total loss, dict of the parts as floats).
    """
    r = model.cfg.reduction
    mels, lengths = batch["mels"], batch["mel_lengths"]
    T = mels.shape[2]
    mask = batch["mel_mask"][:, None].float()                                  # (B, 1, T)
    target = model.normalize(mels)
    n_real = mask.sum() * mels.shape[1]
    mel_loss = (((model.normalize(out.mel[..., :T]) - target) ** 2) * mask).sum() / n_real
    post_loss = (((model.normalize(out.mel_postnet[..., :T]) - target) ** 2) * mask).sum() / n_real
    steps = out.stop_logits.shape[1]
    stop_target = stop_targets(lengths, steps * r)[:, r - 1::r]                # (B, steps)
    stop_loss = F.binary_cross_entropy_with_logits(out.stop_logits, stop_target)
    step_lengths = torch.div(lengths + r - 1, r, rounding_mode="floor")
    guide = guided_attention_loss(out.alignment, batch["token_lengths"], step_lengths, g)
    total = mel_loss + post_loss + stop_loss + guided_weight * guide
    return total, {"mel": mel_loss.item(), "postnet": post_loss.item(), "stop": stop_loss.item(),
                   "guided": guide.item()}


# ---------------------------------------------------------------- measures

def alignment_is_monotonic(alignment: Tensor, n_tokens: int, max_back: int = 1,
                           max_jump: int = 3, edge: int = 2) -> bool:
    """Does the attention read the text in order, start to end, skipping nothing?

    alignment: (steps, N) of one utterance; n_tokens: its real length (EOS included).
    With p_i = argmax_j alpha_ij: p never moves back by more than max_back, never jumps
    ahead by more than max_jump, starts within the first `edge` + 1 tokens and ends
    within the last `edge` + 1.
    """
    if alignment.ndim != 2:
        raise ValueError(f"alignment must be (steps, N); got {tuple(alignment.shape)}")
    path = alignment[:, :n_tokens].argmax(-1)
    moves = path.diff()
    return bool((moves >= -max_back).all() and (moves <= max_jump).all()
                and path[0] <= edge and path[-1] >= n_tokens - 1 - edge)


# ---------------------------------------------------------------- the training recipe

@contextmanager
def one_thread(device: torch.device | str = "cpu"):
    """On CPU, run torch on one thread: a Tacotron step is hundreds of tiny ops, and
    splitting each over threads costs more than it saves (far more on a busy machine)."""
    if torch.device(device).type != "cpu":
        yield
        return
    with torch_threads(1):
        yield


@dataclass
class TacotronRecipe:
    """What `train_tacotron` trains: data, model sizes, optimisation, alignment snapshots."""
    domains: tuple[str, ...] = ("digits",)
    voices: tuple[str, ...] = ("en-us",)
    steps: int = 300
    batch_size: int = 16
    lr: float = 2e-3
    guided_weight: float = 1.0         # 0 switches guided attention off
    g: float = 0.2
    seed: int = 0
    snapshot_steps: tuple[int, ...] = (0, 25, 50, 100, 200, 300)
    config: dict = field(default_factory=dict)   # TacotronConfig fields besides n_symbols

    def key(self) -> str:
        """8 hex digits naming these settings (part of the checkpoint's file name)."""
        return settings_key(self)


@dataclass
class TrainedTacotron:
    """model (eval mode), its phoneme table, the loss of every step, and the teacher-forced
    alignment (steps, N) of a fixed validation sentence (`probe`) at each snapshot step."""
    model: Tacotron
    table: object
    history: list[float]
    snapshots: dict[int, Tensor]
    probe: object
    recipe: TacotronRecipe

    def encode(self, utterances: Sequence) -> dict[str, Tensor]:
        """A padded batch (data.speech.collate) of corpus utterances: phoneme ids + EOS, mels."""
        from course_lib.data.speech import collate
        return collate([(self.table.encode(u.phonemes), u.mel) for u in utterances])


def train_tacotron(recipe: TacotronRecipe | None = None, checkpoint: str | None = "tacotron",
                   device: torch.device | None = None, progress: bool = True) -> TrainedTacotron:
    """Train Tacotron on the corpus of `recipe` with `train.fit`, or load it when trained.

    Batches: `batch_size` random training utterances per step (seeded by the step, so a
    resumed run sees the same batches). Loss: `tacotron_loss` with the recipe's guided
    attention weight. Checkpoint: artifacts/checkpoints/{checkpoint}_{recipe.key()}.pt
    (plus the alignment snapshots beside it); None trains without saving.
    """
    from course_lib.data.speech import collate, load_corpus
    from course_lib.runtime import get_device
    from course_lib.train import checkpoint_path, fit

    recipe = recipe or TacotronRecipe()
    device = device or get_device()
    corpus = load_corpus(recipe.domains, recipe.voices, progress=progress)
    table = corpus.phoneme_table
    train, valid = corpus.split("train"), corpus.split("valid")
    items = [(table.encode(u.phonemes), u.mel) for u in train]
    probe = valid[0]
    probe_batch = collate([(table.encode(probe.phonemes), probe.mel)])

    torch.manual_seed(recipe.seed)
    model = Tacotron(TacotronConfig(n_symbols=len(table), **recipe.config))
    model.set_normalization([u.mel for u in train])

    snapshots: dict[int, Tensor] = {}
    snap_path = None
    if checkpoint is not None:
        path = checkpoint_path(f"{checkpoint}_{recipe.key()}")
        snap_path = path.with_name(path.stem + "_alignments.pt")
        if snap_path.exists():
            snapshots = torch.load(snap_path, weights_only=False)

    def snapshot(step: int) -> None:
        if step not in recipe.snapshot_steps or step in snapshots:
            return
        was_training = model.training
        model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            batch = {k: v.to(device) for k, v in probe_batch.items()}
            out = model(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
        snapshots[step] = out.alignment[0].cpu()
        model.train(was_training)
        if snap_path is not None:
            torch.save(snapshots, snap_path)

    def data(step: int) -> dict[str, Tensor]:
        snapshot(step)                       # the model has been trained for `step` steps
        rng = random.Random(recipe.seed * 1_000_003 + step)
        return collate(rng.sample(items, min(recipe.batch_size, len(items))))

    def loss_fn(model: Tacotron, batch: dict[str, Tensor]) -> Tensor:
        out = model(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
        return tacotron_loss(out, batch, model, recipe.guided_weight, recipe.g)[0]

    with one_thread(device):
        model.to(device)
        history = fit(model, loss_fn, data, steps=recipe.steps, lr=recipe.lr, device=device,
                      checkpoint=None if checkpoint is None else f"{checkpoint}_{recipe.key()}",
                      checkpoint_every=100, desc="tacotron", progress=progress)
        snapshot(recipe.steps)
    model.eval()
    return TrainedTacotron(model, table, history, snapshots, probe, recipe)
