"""The two inference graphs of a report model, as plain torch modules that export cleanly to ONNX.

encoder: (pixel_values, prompt_ids, prompt_mask) -> encoder_hidden_states, encoder_attention_mask,
         the cross-attention keys/values of every decoder layer (computed once per study), and, for a
         model with a finding head, finding_logits [B, n_labels] from the same ViT pass (last output;
         consumers read outputs by name).
decoder: one greedy step with an explicit self-attention KV cache:
         (input_ids[B,1], encoder_attention_mask, past_key_i/past_value_i [B,H,T,dk] with T >= 0,
          cross_key_i/cross_value_i) -> logits[B,V], present_key_i/present_value_i [B,H,T+1,dk].

The decoder step is written out against T5's modules (q/k/v/o projections, layer norms, the relative
position bias of layer 0, the feed-forward block) instead of calling transformers' forward, because the
latter's cache objects change between releases and do not export. export/validate.py proves the graphs
equal transformers' own generation.
"""

from __future__ import annotations

import torch
from torch import nn

from training.model import ReportModel


def _heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """[B, L, H*dk] -> [B, H, L, dk]"""
    b, length, _ = x.shape
    return x.reshape(b, length, n_heads, -1).transpose(1, 2)


class EncoderGraph(nn.Module):
    def __init__(self, model: ReportModel) -> None:
        super().__init__()
        self.model = model
        self.layers = model.t5.get_decoder().block
        self.n_heads = model.t5.config.num_heads

    def forward(
        self, pixel_values: torch.Tensor, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        tokens = self.model.vision(pixel_values)
        hidden, mask = self.model.encode_tokens(tokens, prompt_ids, prompt_mask)
        cross: list[torch.Tensor] = []
        for block in self.layers:
            attention = block.layer[1].EncDecAttention
            cross.append(_heads(attention.k(hidden), self.n_heads))
            cross.append(_heads(attention.v(hidden), self.n_heads))
        head = self.model.finding_head
        return (hidden, mask, *cross) if head is None else (hidden, mask, *cross, head(tokens))


class DecoderStepGraph(nn.Module):
    def __init__(self, model: ReportModel) -> None:
        super().__init__()
        t5 = model.t5
        self.config = t5.config
        self.embed = t5.get_input_embeddings()
        self.decoder = t5.get_decoder()
        self.n_heads = t5.config.num_heads
        self.d_kv = t5.config.d_kv
        self.n_layers = len(self.decoder.block)
        # An LM head of its own, never the embedding table: a tied weight would be one initializer
        # feeding both Gather and MatMul, which INT8 quantisation may leave in fp32 (the head is a
        # sixth of the decoder's weights and read every step). T5 rescales the hidden state before a
        # tied head; that scale is folded into the copy.
        scale = t5.config.d_model**-0.5 if t5.config.tie_word_embeddings else 1.0
        self.lm_weight = nn.Parameter(t5.lm_head.weight.detach().clone() * scale, requires_grad=False)

    def _position_bias(self, past: torch.Tensor) -> torch.Tensor:
        """Bias of the one new query (position T = past length) over keys 0..T, shape [1, H, 1, T+1]."""
        attention = self.decoder.block[0].layer[0].SelfAttention
        memory = torch.arange(past.shape[2] + 1, dtype=torch.long).unsqueeze(0)
        relative = memory - memory[:, -1:]  # the query sits at the last key position
        buckets = attention._relative_position_bucket(
            relative,
            bidirectional=False,
            num_buckets=attention.relative_attention_num_buckets,
            max_distance=attention.relative_attention_max_distance,
        )
        return attention.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)

    def forward(
        self, input_ids: torch.Tensor, encoder_attention_mask: torch.Tensor, *cache: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        past = cache[: 2 * self.n_layers]
        cross = cache[2 * self.n_layers :]
        self_bias = self._position_bias(past[0])
        dtype = past[0].dtype
        cross_bias = (1.0 - encoder_attention_mask.to(dtype))[:, None, None, :] * torch.finfo(dtype).min

        h = self.embed(input_ids)
        present: list[torch.Tensor] = []
        for i, block in enumerate(self.decoder.block):
            self_layer, cross_layer, ff_layer = block.layer[0], block.layer[1], block.layer[2]
            att = self_layer.SelfAttention
            x = self_layer.layer_norm(h)
            key = torch.cat([past[2 * i], self._one_step_heads(att.k(x))], dim=2)
            value = torch.cat([past[2 * i + 1], self._one_step_heads(att.v(x))], dim=2)
            present += [key, value]
            h = h + att.o(self._attend(self._one_step_heads(att.q(x)), key, value, self_bias))

            att = cross_layer.EncDecAttention
            x = cross_layer.layer_norm(h)
            q = self._one_step_heads(att.q(x))
            h = h + att.o(self._attend(q, cross[2 * i], cross[2 * i + 1], cross_bias))

            h = ff_layer(h)

        h = self.decoder.final_layer_norm(h)
        logits = torch.nn.functional.linear(h[:, -1, :], self.lm_weight)
        return (logits, *present)

    def _one_step_heads(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, H*dk] -> [B, H, 1, dk] for the single new position.

        With one position, [B, 1, H, dk] and [B, H, 1, dk] share a memory layout, so a reshape with a
        constant target replaces reshape + transpose and the Shape/Gather/Concat nodes a symbolic
        target costs: a few hundred fewer nodes per step, which is most of the non-matmul time of the
        INT8 decoder on CPU.
        """
        return x.reshape(-1, self.n_heads, 1, self.d_kv)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        # T5 does not scale scores by 1/sqrt(dk): the scale is folded into its initialisation.
        scores = torch.matmul(q, k.transpose(-1, -2)) + bias
        weights = torch.softmax(scores.float(), dim=-1).type_as(scores)
        out = torch.matmul(weights, v)  # [B, H, 1, dk], laid out as [B, 1, H*dk]
        return out.reshape(-1, 1, self.n_heads * self.d_kv)


@torch.no_grad()
def greedy_with_graphs(
    model: ReportModel,
    pixel_values: torch.Tensor,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    max_new_tokens: int,
) -> torch.Tensor:
    """Greedy decoding through the two graphs in torch (the export's own reference)."""
    enc, dec = EncoderGraph(model).eval(), DecoderStepGraph(model).eval()
    _, mask, *rest = enc(pixel_values, prompt_ids, prompt_mask)
    cross = rest[: 2 * dec.n_layers]  # finding_logits, if any, come after the caches
    cfg = model.t5.config
    batch = pixel_values.shape[0]
    heads, d_kv = cfg.num_heads, cfg.d_kv
    past = [torch.zeros(batch, heads, 0, d_kv) for _ in range(2 * dec.n_layers)]
    tokens = torch.full((batch, 1), model.decoder_start_token_id, dtype=torch.long)
    done = torch.zeros(batch, dtype=torch.bool)
    out = [tokens]
    for _ in range(max_new_tokens):
        logits, *past = dec(tokens, mask, *past, *cross)
        tokens = logits.argmax(-1, keepdim=True)
        tokens = torch.where(done[:, None], torch.full_like(tokens, model.pad_token_id), tokens)
        out.append(tokens)
        done |= tokens[:, 0] == model.eos_token_id
        if bool(done.all()):
            break
    return torch.cat(out, dim=1)
