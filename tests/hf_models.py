"""Hugging Face model families from tiny configs with random weights (never a download): each
builder returns (module, example inputs), the module returning one tensor (the last hidden state
or pooled features), in eval mode. Sizes: 2 layers, hidden 32, sequence 8, images 32x32."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

SEQ = 8
VOCAB = 99
TEXT = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=37,
            max_position_embeddings=64)
VISION = dict(image_size=32, num_channels=3, num_hidden_layers=2, hidden_size=32,
              num_attention_heads=2, intermediate_size=37, patch_size=8)


class FirstOutput(torch.nn.Module):
    """model(x)[0]: one tensor out, so both importers see a plain output."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]


def _ids() -> torch.Tensor:
    return torch.randint(3, VOCAB, (1, SEQ), generator=torch.Generator().manual_seed(0))


def _image() -> torch.Tensor:
    return torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _text(model_cls: Any, config: Any) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    return FirstOutput(model_cls(config)).eval(), (_ids(),)


def _vision(model_cls: Any, config: Any) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    return FirstOutput(model_cls(config)).eval(), (_image(),)


def bert() -> Any:
    import transformers as tf

    return _text(tf.BertModel, tf.BertConfig(vocab_size=VOCAB, **TEXT))


def distilbert() -> Any:
    import transformers as tf

    return _text(tf.DistilBertModel, tf.DistilBertConfig(
        vocab_size=VOCAB, dim=32, n_layers=2, n_heads=2, hidden_dim=37,
        max_position_embeddings=64))


def roberta() -> Any:
    import transformers as tf

    return _text(tf.RobertaModel, tf.RobertaConfig(vocab_size=VOCAB, pad_token_id=1, **TEXT))


def albert() -> Any:
    import transformers as tf

    return _text(tf.AlbertModel, tf.AlbertConfig(vocab_size=VOCAB, embedding_size=16, **TEXT))


def gpt2() -> Any:
    import transformers as tf

    return _text(tf.GPT2Model, tf.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2,
                                             n_positions=64))


def llama() -> Any:
    import transformers as tf

    return _text(tf.LlamaModel, tf.LlamaConfig(vocab_size=VOCAB, num_key_value_heads=2, **TEXT))


def t5_encoder() -> Any:
    import transformers as tf

    return _text(tf.T5EncoderModel, tf.T5Config(vocab_size=VOCAB, d_model=32, d_kv=16, d_ff=37,
                                                num_layers=2, num_heads=2))


def whisper_encoder() -> Any:
    import transformers as tf
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = tf.WhisperConfig(num_mel_bins=8, d_model=32, encoder_layers=2,
                              encoder_attention_heads=2, encoder_ffn_dim=37,
                              max_source_positions=SEQ)
    features = torch.randn(1, 8, 2 * SEQ, generator=torch.Generator().manual_seed(0))
    return FirstOutput(WhisperEncoder(config)).eval(), (features,)


def wav2vec2() -> Any:
    import transformers as tf

    config = tf.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=37, conv_dim=(16, 16), conv_stride=(5, 2),
                               conv_kernel=(10, 3), num_conv_pos_embeddings=4,
                               num_conv_pos_embedding_groups=2, feat_extract_norm="group")
    audio = torch.randn(1, 400, generator=torch.Generator().manual_seed(0))
    return FirstOutput(tf.Wav2Vec2Model(config)).eval(), (audio,)


def vit() -> Any:
    import transformers as tf

    return _vision(tf.ViTModel, tf.ViTConfig(**VISION))


def deit() -> Any:
    import transformers as tf

    return _vision(tf.DeiTModel, tf.DeiTConfig(**VISION))


def swin() -> Any:
    import transformers as tf

    return _vision(tf.SwinModel, tf.SwinConfig(image_size=32, patch_size=4, embed_dim=16,
                                               depths=[1, 1], num_heads=[1, 2], window_size=4))


def convnext() -> Any:
    import transformers as tf

    return _vision(tf.ConvNextModel, tf.ConvNextConfig(num_stages=2, hidden_sizes=[8, 16],
                                                       depths=[1, 1], image_size=32))


def resnet() -> Any:
    import transformers as tf

    return _vision(tf.ResNetModel, tf.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16],
                                                   depths=[1, 1], layer_type="basic"))


def mobilenet_v2() -> Any:
    import transformers as tf

    return _vision(tf.MobileNetV2Model, tf.MobileNetV2Config(image_size=32, depth_multiplier=0.35,
                                                             min_depth=4))


FAMILIES: dict[str, Callable[[], Any]] = {
    "bert": bert, "distilbert": distilbert, "roberta": roberta, "albert": albert, "gpt2": gpt2,
    "llama": llama, "t5_encoder": t5_encoder, "whisper_encoder": whisper_encoder,
    "wav2vec2": wav2vec2, "vit": vit, "deit": deit, "swin": swin, "convnext": convnext,
    "resnet": resnet, "mobilenet_v2": mobilenet_v2,
}
