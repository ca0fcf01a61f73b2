"""Export a BERT encoder to ONNX for the onnxruntime comparisons: bench/browser.mjs (onnxruntime-web's
wasm backend on the same shapes as biomeg's wasm build) and bench/ort_pairs.mjs (onnxruntime-node
against biomeg native). Inputs input_ids, attention_mask,
token_type_ids (int64, dynamic batch and sequence), output last_hidden_state.

  --model-dir DIR    a Hugging Face folder (config.json + model.safetensors), e.g. MiniLM
  --config FILE      a config.json: random weights (bert-base for the 8x128 timing); a
                     "model_type": "megatron-bert" config (biomegatron-345m) exports a
                     MegatronBertModel (pre-LayerNorm layers), any other a BertModel

Needs torch + transformers (/opt/biomeg-py) and the `onnx` package (bench/browser.mjs installs it
into .cache/pyonnx with pip --target when missing). Uses the TorchScript exporter (dynamo=False),
which needs no onnxscript.
"""

import argparse
import json

import torch
import transformers


class LastHidden(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.last_hidden_state


def main():
    ap = argparse.ArgumentParser()
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir")
    src.add_argument("--config")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.model_dir:
        model = transformers.AutoModel.from_pretrained(args.model_dir)
    else:
        with open(args.config) as f:
            cfg = json.load(f)
        cfg = {k: v for k, v in cfg.items() if not k.startswith("biomeg")}
        if cfg.get("model_type") == "megatron-bert":
            cfg.pop("model_type")
            model = transformers.MegatronBertModel(transformers.MegatronBertConfig(**cfg), add_pooling_layer=False)
        else:
            cfg["model_type"] = "bert"
            model = transformers.BertModel(transformers.BertConfig(**cfg), add_pooling_layer=False)
    model.eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad():
        torch.onnx.export(
            LastHidden(model),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            args.out,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in names + ["last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
