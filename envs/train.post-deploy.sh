#!/usr/bin/env bash
# Snakemake runs this inside the train env right after creating it (--use-conda / --sdm conda).
# FlashAttention-2 for SFT on GPU nodes (the paper trained with it). flash-attn compiles against the torch already in
# the env, so it needs --no-build-isolation and a CUDA build of torch (and nvcc, unless a prebuilt wheel matches);
# on a CPU torch it is skipped and SFT uses PyTorch SDPA (rewild.sft.attention_implementation).
set -euo pipefail
FLASH_ATTN=flash-attn==2.8.3.post2
if python -c 'import sys, torch; sys.exit(0 if torch.version.cuda else 1)'; then
    MAX_JOBS="${MAX_JOBS:-4}" python -m pip install --no-build-isolation "$FLASH_ATTN"
else
    echo "train env: CPU torch, skipping $FLASH_ATTN (GPU only)"
fi
