"""Tacotron 2 (Shen et al., 2018), small: text ids -> log-mel frames, one step at a time.

    model = Tacotron(TacotronConfig(vocab_size=len(table)))
    out = model(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
    loss, parts = tacotron_loss(out, batch, model)       # mel, postnet mel, stop, guided attention
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
far from the diagonal), `tacotron_loss`, `teacher_forced_loss` (forward + loss, what
training minimises). Measures: `alignment_is_monotonic`. The recipe, its presets and
`train_tacotron` are in `tacotron_train.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.audio.normalize import MelNormalizer
from course_lib.checks import check_positive_int, check_shape

__all__ = ["TacotronConfig", "Tacotron", "Encoder", "Prenet", "Postnet",
           "LocationSensitiveAttention", "location_features", "masked_softmax",
           "stop_targets", "guided_attention_weights", "guided_attention_loss",
           "tacotron_loss", "teacher_forced_loss", "alignment_is_monotonic", "TacotronOutput"]


@dataclass(frozen=True)
class TacotronConfig:
    """Sizes. The defaults are a CPU-sized Tacotron 2 (0.6 M parameters with 26 symbols);
    the paper's sizes in comments (28 M parameters). vocab_size: the phoneme table's size
    (PAD 0, EOS 1); 0 in a recipe, where `train_tacotron` fills it from the data."""
    vocab_size: int = 0
    n_mels: int = 80
    reduction: int = 4                 # frames predicted per decoder step (paper: 1)
    embed_dim: int = 64                # 512
    encoder_depth: int = 3             # convolutions before the BiLSTM
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
    postnet_depth: int = 5
    postnet_kernel: int = 5
    max_steps: int = 200               # inference: decoder steps before giving up

    def __post_init__(self):
        check_positive_int(self.vocab_size, "vocab_size", allow_zero=True)
        for name in ("n_mels", "reduction", "embed_dim", "encoder_dim", "attention_dim",
                     "location_filters", "rnn_dim", "postnet_depth"):
            check_positive_int(getattr(self, name), name)
        if self.encoder_dim % 2:
            raise ValueError(f"encoder_dim must be even (two LSTM directions); got {self.encoder_dim}")
        if self.location_kernel % 2 == 0:
            raise ValueError(f"location_kernel must be odd; got {self.location_kernel}")


# ---------------------------------------------------------------- encoder

class Encoder(nn.Module):
    """ids (B, N) + lengths (B,) -> memory (B, N, encoder_dim), zero at padded positions."""

    def __init__(self, config: TacotronConfig):
        super().__init__()
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=0)
        pad = (config.encoder_kernel - 1) // 2
        self.convs = nn.ModuleList(nn.Sequential(
            nn.Conv1d(config.embed_dim, config.embed_dim, config.encoder_kernel, padding=pad),
            nn.BatchNorm1d(config.embed_dim), nn.ReLU(), nn.Dropout(config.dropout))
            for _ in range(config.encoder_depth))
        self.lstm = nn.LSTM(config.embed_dim, config.encoder_dim // 2, batch_first=True,
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

    def __init__(self, config: TacotronConfig):
        super().__init__()
        pad = (config.postnet_kernel - 1) // 2
        channels = [config.n_mels] + [config.postnet_channels] * (config.postnet_depth - 1) + [config.n_mels]
        self.layers = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip(channels, channels[1:])):
            last = i == config.postnet_depth - 1
            self.layers.append(nn.Sequential(
                nn.Conv1d(c_in, c_out, config.postnet_kernel, padding=pad), nn.BatchNorm1d(c_out),
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
    """Tacotron 2 with a reduction factor. It predicts normalised mels: `mel_norm`
    (`audio.normalize.MelNormalizer`, fitted on the training mels with
    `model.mel_norm.fit(mels)`) maps them back, so outputs are in log-mel units."""

    def __init__(self, config: TacotronConfig):
        super().__init__()
        if config.vocab_size < 3:
            raise ValueError(f"config.vocab_size must be >= 3 (PAD, EOS, a symbol); got {config.vocab_size}: "
                             "fill it from the phoneme table, replace(config, vocab_size=len(table))")
        self.config = c = config
        self.encoder = Encoder(c)
        self.prenet = Prenet(c.n_mels, c.prenet_dim, c.prenet_dropout)
        self.attention_rnn = nn.LSTMCell(c.prenet_dim + c.encoder_dim, c.rnn_dim)
        self.attention = LocationSensitiveAttention(c.rnn_dim, c.encoder_dim, c.attention_dim,
                                                    c.location_filters, c.location_kernel)
        self.decoder_rnn = nn.LSTMCell(c.rnn_dim + c.encoder_dim, c.rnn_dim)
        self.frames = nn.Linear(c.rnn_dim + c.encoder_dim, c.n_mels * c.reduction)
        self.stop = nn.Linear(c.rnn_dim + c.encoder_dim, 1)
        self.postnet = Postnet(c)
        self.mel_norm = MelNormalizer(c.n_mels)

    # -- one decoder step
    def _init_state(self, memory: Tensor) -> dict[str, Tensor]:
        B, N, D = memory.shape
        zeros = lambda *shape: memory.new_zeros(*shape)                   # noqa: E731
        return {"h_att": zeros(B, self.config.rnn_dim), "c_att": zeros(B, self.config.rnn_dim),
                "h_dec": zeros(B, self.config.rnn_dim), "c_dec": zeros(B, self.config.rnn_dim),
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
        check_shape(tokens, "tokens", "B N")
        check_shape(token_lengths, "token_lengths", "B", B=tokens.shape[0])
        memory = self.encoder(tokens, token_lengths)                      # (B, N, D)
        mask = torch.arange(tokens.shape[1], device=tokens.device) < token_lengths[:, None]
        return memory, self.attention.process_memory(memory), mask

    def _finish(self, frames: list[Tensor], stops: list[Tensor], weights: list[Tensor]):
        B = frames[0].shape[0]
        mel = torch.stack(frames, 1).reshape(B, -1, self.config.n_mels).transpose(1, 2)  # (B, n_mels, T)
        mel_post = mel + self.postnet(mel)
        return TacotronOutput(self.mel_norm.inverse(mel), self.mel_norm.inverse(mel_post),
                              torch.stack(stops, 1), torch.stack(weights, 1))

    def forward(self, tokens: Tensor, token_lengths: Tensor, mels: Tensor,
                mel_lengths: Tensor | None = None) -> TacotronOutput:
        """Teacher forcing. tokens (B, N), token_lengths (B,), mels (B, n_mels, T) log-mel.

        Step i is fed the last true frame of step i - 1 (a zero "go" frame at step 0).
        Output frames: steps * reduction >= T (ceil(T / reduction) steps).
        """
        r, n_mels = self.config.reduction, self.config.n_mels
        check_shape(mels, "mels", "B n_mels T", n_mels=n_mels)
        memory, processed, mask = self._encode(tokens, token_lengths)
        steps = math.ceil(mels.shape[2] / r)
        target = F.pad(self.mel_norm(mels), (0, steps * r - mels.shape[2]))  # (B, n_mels, steps*r)
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
        max_steps = max_steps or self.config.max_steps
        memory, processed, mask = self._encode(tokens, token_lengths)
        B, r = len(tokens), self.config.reduction
        state = self._init_state(memory)
        previous_frame = memory.new_zeros(B, self.config.n_mels)
        done = torch.zeros(B, dtype=torch.bool, device=tokens.device)
        steps = torch.full((B,), max_steps, device=tokens.device)
        frames, stops, weights = [], [], []
        for i in range(max_steps):
            f, s, w = self._step(self.prenet(previous_frame), state, memory, processed, mask)
            frames.append(f), stops.append(s), weights.append(w)
            previous_frame = f[:, -self.config.n_mels:]
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
    r = model.config.reduction
    mels, lengths = batch["mels"], batch["mel_lengths"]
    T = mels.shape[2]
    mask = batch["mel_mask"][:, None].float()                                  # (B, 1, T)
    target = model.mel_norm(mels)
    n_real = mask.sum() * mels.shape[1]
    mel_loss = (((model.mel_norm(out.mel[..., :T]) - target) ** 2) * mask).sum() / n_real
    post_loss = (((model.mel_norm(out.mel_postnet[..., :T]) - target) ** 2) * mask).sum() / n_real
    steps = out.stop_logits.shape[1]
    stop_target = stop_targets(lengths, steps * r)[:, r - 1::r]                # (B, steps)
    stop_loss = F.binary_cross_entropy_with_logits(out.stop_logits, stop_target)
    step_lengths = torch.div(lengths + r - 1, r, rounding_mode="floor")
    guide = guided_attention_loss(out.alignment, batch["token_lengths"], step_lengths, g)
    total = mel_loss + post_loss + stop_loss + guided_weight * guide
    return total, {"mel": mel_loss.item(), "postnet": post_loss.item(), "stop": stop_loss.item(),
                   "guided": guide.item()}


def teacher_forced_loss(model: Tacotron, batch: dict, guided_weight: float = 1.0,
                        g: float = 0.2) -> tuple[Tensor, dict]:
    """What training minimises: the teacher-forced forward pass of a padded batch
    (`data.speech.collate`) and its `tacotron_loss`. Returns (total, parts)."""
    out = model(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
    return tacotron_loss(out, batch, model, guided_weight, g)


# ---------------------------------------------------------------- measures

def alignment_is_monotonic(alignment: Tensor, n_tokens: int, max_back: int = 1,
                           max_jump: int = 3, edge: int = 2) -> bool:
    """Does the attention read the text in order, start to end, skipping nothing?

    alignment: (steps, N) of one utterance; n_tokens: its real length (EOS included).
    With p_i = argmax_j alpha_ij: p never moves back by more than max_back, never jumps
    ahead by more than max_jump, starts within the first `edge` + 1 tokens and ends
    within the last `edge` + 1.
    """
    check_shape(alignment, "alignment", "steps N")
    path = alignment[:, :n_tokens].argmax(-1)
    moves = path.diff()
    return bool((moves >= -max_back).all() and (moves <= max_jump).all()
                and path[0] <= edge and path[-1] >= n_tokens - 1 - edge)
