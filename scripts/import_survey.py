"""Import every example config of a peer's checkout and say which import cleanly (docs/importing.md).

    python scripts/import_survey.py axolotl PEER_CHECKOUT [--commit SHA]
    python scripts/import_survey.py llama-factory PEER_CHECKOUT [--commit SHA]

"Clean": the manifest validates and every setting that changes what is trained was carried over
(bookkeeping such as output_dir, W&B or worker counts aside, which the importer still lists)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import yaml

from tuneforge.api.manifest import parse
from tuneforge.cli.importers import axolotl, llama_factory
from tuneforge.cli.importers.common import API

# Settings that do not change the trained model: listed by the importer, not counted against "clean".
BOOKKEEPING = re.compile(r"^(output_dir|dataset_prepared_path|wandb_\w+|use_wandb|swanlab\w*|trackio_\w+|comet_\w+|"
                         r"report_to|plot_loss|overwrite_output_dir|overwrite_cache|preprocessing_num_workers|"
                         r"preprocessing_batch_size|dataloader_num_workers|ddp_timeout|do_train|resume_from_checkpoint|"
                         r"auto_resume_from_checkpoints|save_only_model|strict|debug|evals_per_epoch|saves_per_epoch|"
                         r"per_device_eval_batch_size|eval_sample_packing|tokenizer_type|model_type|"
                         r"gradient_checkpointing_kwargs|ddp_find_unused_parameters|remove_unused_columns|"
                         r"pad_to_sequence_len|ignored \(empty)")


def survey(tool: str, root: Path) -> list[tuple[str, str]]:
    folder = root / "examples"
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml"))
    rows = []
    for path in files:
        try:
            config = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue
        if not isinstance(config, dict) or not ({"base_model", "model_name_or_path"} & config.keys()):
            continue  # accelerate, deepspeed and inference configs are not training configs
        if tool == "llama-factory" and ("stage" not in config or config.get("do_predict") or config.get("do_train") is False):
            continue  # inference, evaluation and export configs
        reader = (axolotl.convert(config, path.parent) if tool == "axolotl"
                  else llama_factory.convert(config, path.parent, root / "data"))
        reader.put("resources.gpus", 1)
        doc = {"apiVersion": API, "kind": "FineTuneJob", "metadata": {"name": "survey"}, "spec": reader.spec}
        issues = parse(doc)[1]
        lost = sorted({line.split(":")[0] for line in [*reader.notes, *reader.leftovers()]
                       if "not supported" in line and not BOOKKEEPING.match(line)})
        if issues:
            verdict = f"does not validate: {issues[0].line()[:150]}"
        elif lost:
            verdict = "validates; not carried over: " + ", ".join(f"`{k}`" for k in lost)
        else:
            verdict = "clean"
        rows.append((str(path.relative_to(root)), verdict))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tool", choices=["axolotl", "llama-factory"])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--commit", default="")
    args = parser.parse_args()
    rows = survey(args.tool, args.checkout)
    clean = [r for r in rows if r[1] == "clean"]
    print(f"{len(clean)} of {len(rows)} training configs import cleanly ({args.commit})\n")
    print("| config | result |\n| --- | --- |")
    for path, verdict in rows:
        print(f"| `{path}` | {verdict} |")


if __name__ == "__main__":
    main()
