"""The report model: BiomedCLIP-style ViT image tower -> linear projection -> T5 encoder-decoder.

Every patch token of the ViT (the class token included, 197 tokens for ViT-B/16 at 224 px) is projected
to T5's width and fed to the T5 encoder as `inputs_embeds`, followed by the token embeddings of an
optional clinical-indication prompt that always ends with T5's `</s>`. The decoder writes
"FINDINGS: ... IMPRESSION: ...".

The target report reaches the decoder only (as `labels`); `encode()` takes no report argument at all,
which is what makes the published SecureMed-LLM leak (target report fed to the encoder) impossible here.
tests/training/test_model.py checks it.

The ViT is the project's own module with timm's parameter names (patch_embed.proj, cls_token, pos_embed,
blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}, norm), so BiomedCLIP's open_clip checkpoint
(`visual.trunk.*`) loads from a local directory without open_clip, timm or torchvision.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import T5Config, T5ForConditionalGeneration

# BiomedCLIP's preprocessing (open_clip's OpenAI CLIP statistics).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class VisionConfig:
    image_size: int = 224
    patch_size: int = 16
    width: int = 768
    layers: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    layer_norm_eps: float = 1e-6

    @property
    def num_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2 + 1


@dataclass(frozen=True)
class ReportModelConfig:
    """Everything needed to rebuild the architecture; weights come separately."""

    vision: VisionConfig = field(default_factory=VisionConfig)
    t5: dict[str, Any] = field(default_factory=dict)
    # Names of the image-only finding head's outputs (FindingHead); () = a model without the head.
    labels: tuple[str, ...] = ()

    def to_json(self) -> str:
        raw: dict[str, Any] = {"vision": asdict(self.vision), "t5": self.t5}
        if self.labels:  # configs without a head stay byte-identical to the older format
            raw["labels"] = list(self.labels)
        return json.dumps(raw, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReportModelConfig:
        raw = json.loads(text)
        return cls(vision=VisionConfig(**raw["vision"]), t5=dict(raw["t5"]), labels=tuple(raw.get("labels", ())))


def t5_base_config(vocab_size: int = 32128) -> dict[str, Any]:
    """t5-base's architecture (google-t5/t5-base config.json)."""
    return dict(
        vocab_size=vocab_size,
        d_model=768,
        d_kv=64,
        d_ff=3072,
        num_layers=12,
        num_decoder_layers=12,
        num_heads=12,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        dropout_rate=0.1,
        layer_norm_epsilon=1e-6,
        feed_forward_proj="relu",
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )


def full_config(vocab_size: int = 32128) -> ReportModelConfig:
    """BiomedCLIP ViT-B/16 (224 px, 197 tokens) -> T5-base."""
    return ReportModelConfig(vision=VisionConfig(), t5=t5_base_config(vocab_size))


def tiny_config(vocab_size: int, image_size: int = 128, labels: tuple[str, ...] = ()) -> ReportModelConfig:
    """A few-MB variant of the same architecture, trainable on 2 CPU cores in minutes.

    Encoder and decoder keep the same depth: transformers sizes its generation cache from
    `num_layers`, so an asymmetric T5 fails in `generate()`.
    """
    return ReportModelConfig(
        labels=tuple(labels),
        vision=VisionConfig(image_size=image_size, patch_size=16, width=128, layers=4, heads=4),
        t5=dict(
            vocab_size=vocab_size,
            d_model=192,
            d_kv=32,
            d_ff=512,
            num_layers=3,
            num_decoder_layers=3,
            num_heads=6,
            relative_attention_num_buckets=32,
            relative_attention_max_distance=128,
            dropout_rate=0.1,
            layer_norm_epsilon=1e-6,
            feed_forward_proj="relu",
            tie_word_embeddings=True,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        ),
    )


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.attn = _Attention(cfg.width, cfg.heads)
        self.norm2 = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.mlp = _Mlp(cfg.width, int(cfg.width * cfg.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """timm's `vit_base_patch16_224` as used by BiomedCLIP (pre-norm, class token, no pooling).

    forward(pixels[B,3,H,W]) -> tokens[B, 1 + (H/P)*(W/P), width] after the final LayerNorm.
    """

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = _PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.num_tokens, cfg.width) * 0.02)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixels)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class FindingHead(nn.Module):
    """Image-only multi-label finding classifier: logits [B, n_labels] from mean-pooled ViT tokens.

    Trained in the vision warm-up and as an auxiliary loss; exported as the encoder graph's
    "finding_logits" output, so the runtime can compare what the image shows with what the report says.
    """

    def __init__(self, width: int, n_labels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, n_labels)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(tokens.mean(dim=1))


class ReportModel(nn.Module):
    def __init__(self, cfg: ReportModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.vision = VisionTransformer(cfg.vision)
        self.t5 = T5ForConditionalGeneration(T5Config(**cfg.t5))
        self.proj = nn.Linear(cfg.vision.width, self.t5.config.d_model)
        self.finding_head: FindingHead | None = FindingHead(cfg.vision.width, len(cfg.labels)) if cfg.labels else None

    def encoder_inputs(
        self, pixel_values: torch.Tensor, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs_embeds, attention_mask) for the T5 encoder: image tokens then prompt tokens."""
        return self.join_inputs(self.vision(pixel_values), prompt_ids, prompt_mask)

    def join_inputs(
        self, vision_tokens: torch.Tensor, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Project every ViT token to T5's width and append the prompt's token embeddings."""
        image = self.proj(vision_tokens)
        prompt = self.t5.get_input_embeddings()(prompt_ids)
        ones = torch.ones(image.shape[:2], dtype=prompt_mask.dtype, device=prompt_mask.device)
        return torch.cat([image, prompt], dim=1), torch.cat([ones, prompt_mask], dim=1)

    def encode(
        self, pixel_values: torch.Tensor, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(encoder hidden states, encoder attention mask). Takes no report: nothing to leak."""
        return self.encode_tokens(self.vision(pixel_values), prompt_ids, prompt_mask)

    def encode_tokens(
        self, vision_tokens: torch.Tensor, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`encode` from the ViT's tokens (so the finding head and T5 share one ViT pass)."""
        embeds, mask = self.join_inputs(vision_tokens, prompt_ids, prompt_mask)
        hidden = self.t5.get_encoder()(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        return hidden, mask

    def forward(
        self,
        pixel_values: torch.Tensor,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        """Teacher-forced cross-entropy; `labels` uses -100 for padding."""
        hidden, mask = self.encode(pixel_values, prompt_ids, prompt_mask)
        out = self.t5(encoder_outputs=(hidden,), attention_mask=mask, labels=labels)
        return out.loss

    @torch.no_grad()
    def generate(
        self,
        pixel_values: torch.Tensor,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        max_new_tokens: int = 96,
    ) -> torch.Tensor:
        """Greedy decoding with HF's generate and its KV cache: the reference for the ONNX runtime."""
        from transformers.modeling_outputs import BaseModelOutput

        hidden, mask = self.encode(pixel_values, prompt_ids, prompt_mask)
        out = self.t5.generate(
            # transformers annotates last_hidden_state as FloatTensor; any float Tensor is what it takes.
            encoder_outputs=BaseModelOutput(last_hidden_state=hidden),  # type: ignore[arg-type]
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            use_cache=True,
        )
        # Without return_dict_in_generate, generate returns the token ids themselves.
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"generate returned {type(out).__name__}, expected a tensor of token ids")
        return out

    # ---- special tokens ----------------------------------------------------------------------
    # transformers types these ids Optional; every config of this model sets them (t5_base_config,
    # tiny_config), so a missing one is a broken config and raises ValueError.

    @property
    def pad_token_id(self) -> int:
        return self._token_id("pad_token_id")

    @property
    def eos_token_id(self) -> int:
        return self._token_id("eos_token_id")

    @property
    def decoder_start_token_id(self) -> int:
        return self._token_id("decoder_start_token_id")

    def _token_id(self, name: str) -> int:
        value = getattr(self.t5.config, name, None)
        if not isinstance(value, int):
            raise ValueError(f"the T5 config has no {name} (got {value!r})")
        return value

    # ---- persistence -------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "model_config.json").write_text(self.cfg.to_json())
        torch.save(self.state_dict(), directory / "model.pt")

    @classmethod
    def load(cls, directory: Path) -> ReportModel:
        cfg = ReportModelConfig.from_json((directory / "model_config.json").read_text())
        model = cls(cfg)
        model.load_state_dict(torch.load(directory / "model.pt", map_location="cpu", weights_only=True))
        return model.eval()


@torch.no_grad()
def image_dependent_init(model: ReportModel, embedding_scale: float = 0.05) -> ReportModel:
    """Make an untrained model's output depend on the image; returns the model.

    transformers initialises T5's shared embedding with unit variance. With the LM head tied to it,
    the logits of an untrained decoder are dominated by the embedding of the token just fed, so it
    repeats one token whatever the image, which hides export and quantisation mismatches. Shrinking
    the shared table (and nothing else: the rest keeps T5's own, well-conditioned initialisation)
    lets the cross-attention carry the image into the logits: different images then start with
    different tokens. The stand-in for a trained model when checking graphs and INT8 at full size.
    """
    model.t5.shared.weight.mul_(embedding_scale)
    return model


def load_biomedclip_vision(model: ReportModel, directory: Path) -> None:
    """Load BiomedCLIP's image tower from a local open_clip checkpoint directory.

    The directory holds `open_clip_pytorch_model.bin` (as published on the hub); keys under
    `visual.trunk.` are timm ViT parameters that map one to one onto `VisionTransformer`.
    Raises ValueError naming missing or unexpected keys, so a wrong checkpoint fails loudly.
    """
    state = torch.load(directory / "open_clip_pytorch_model.bin", map_location="cpu", weights_only=True)
    prefix = "visual.trunk."
    trunk = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    missing, unexpected = model.vision.load_state_dict(trunk, strict=False)
    if missing or unexpected:
        raise ValueError(f"BiomedCLIP checkpoint mismatch: missing={missing} unexpected={unexpected}")


def load_t5_weights(model: ReportModel, directory: Path) -> None:
    """Replace the T5 part with weights from a local Hugging Face directory (e.g. t5-base)."""
    pretrained = T5ForConditionalGeneration.from_pretrained(directory, local_files_only=True)
    model.t5.load_state_dict(pretrained.state_dict())
