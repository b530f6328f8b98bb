"""The `prefbuild` command line: parses arguments and calls the library; nothing else.

Every user-facing failure is a PrefbuildError, printed as one `Error: …` line with exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

from prefbuild import __version__
from prefbuild.errors import PrefbuildError


def _recorded_command(argv: Sequence[str]) -> str:
    """The command that rebuilds an output folder, as stats.json and the card record it (without --overwrite).

    Local paths are made public (`cards.public_argv`): relative ones as typed, absolute ones by their name.
    """
    from prefbuild.cards import public_argv

    return shlex.join(["prefbuild", *public_argv([arg for arg in argv if arg not in ("--overwrite", "--debug")])])


def _builder_option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per builder option (`eval_size` → `--eval-size`), shared by all builders that declare it."""
    from prefbuild.builders import BUILDERS

    owners: dict[str, list[str]] = {}
    defaults: dict[str, object] = {}
    for name, builder in sorted(BUILDERS.items()):
        for option, default in builder.options.items():
            owners.setdefault(option, []).append(name)
            defaults.setdefault(option, default)
    group = parser.add_argument_group("builder options")
    for option, names in sorted(owners.items()):
        flag = "--" + option.replace("_", "-")
        default = defaults[option]
        help_text = f"({', '.join(names)}; default: {default})"
        if isinstance(default, bool):
            group.add_argument(flag, dest=f"option_{option}", action=argparse.BooleanOptionalAction, help=help_text)
        else:
            group.add_argument(flag, dest=f"option_{option}", type=type(default), help=help_text)


def _add_build(subparsers: argparse._SubParsersAction) -> None:
    from prefbuild.builders import BUILDERS

    parser = subparsers.add_parser(
        "build",
        help="Build a preference dataset from a source and write a Hub-ready folder.",
        description="Build prompt/chosen/rejected pairs from a source and write a Hub-ready folder: "
        "data/<split>-XXXXX-of-YYYYY.parquet, stats.json, README.md (dataset card), edit_distance.png.",
    )
    parser.add_argument("name", help=f"builder: {', '.join(sorted(BUILDERS))}")
    parser.add_argument(
        "--source",
        help="Hub dataset id, or a local file / folder in the source's Hub schema (a folder with "
        "train.jsonl / validation.jsonl / test.jsonl maps to those splits). Default: the builder's Hub id.",
    )
    parser.add_argument("--source-config", help="Hub dataset config (default: the builder's, e.g. ARC-Challenge).")
    parser.add_argument("--out", required=True, help="output folder (refused if it exists, unless --overwrite)")
    parser.add_argument(
        "--seed", type=int, default=0, help="global seed; per-row randomness derives from it (default: 0)"
    )
    parser.add_argument("--num-proc", type=int, default=1, help="worker processes for building (default: 1)")
    parser.add_argument("--limit", type=int, help="use at most N rows of each source split")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--few-shot", type=int, default=0, help="prefix each prompt with K solved train examples")
    parser.add_argument(
        "--format", default="standard", help="standard (strings) or conversational (TRL message lists)"
    )
    parser.add_argument("--system-prompt", help="system message for --format conversational")
    parser.add_argument("--tokenizer", help="tokenizer (Hub id or folder) for token-level edit distances")
    parser.add_argument("--no-plot", action="store_true", help="do not write edit_distance.png")
    parser.add_argument(
        "--on-bad-rows",
        choices=("error", "skip"),
        default="error",
        help="a row with undecodable text or a wrong type (an int or list where text belongs): error stops with "
        "one line naming the file, row and field; skip counts it under a skip reason (default: error)",
    )
    _decontaminate_flags(parser)
    _builder_option_flags(parser)
    parser.set_defaults(handler=_run_build)


def _run_build(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from prefbuild.build import build_dataset
    from prefbuild.builders import get_builder
    from prefbuild.stats import render_summary

    builder = get_builder(args.name)
    options = {key[len("option_") :]: value for key, value in vars(args).items() if key.startswith("option_")}
    options = {key: value for key, value in options.items() if value is not None}
    foreign = sorted(key for key in options if key not in builder.options)
    if foreign:
        flags = ", ".join("--" + key.replace("_", "-") for key in foreign)
        raise PrefbuildError(f"{flags} does not apply to builder '{builder.name}'.")
    command = _recorded_command(argv)
    report = build_dataset(
        args.name,
        out=args.out,
        source=args.source,
        source_config=args.source_config,
        seed=args.seed,
        num_proc=args.num_proc,
        limit=args.limit,
        overwrite=args.overwrite,
        few_shot=args.few_shot,
        fmt=args.format,
        system_prompt=args.system_prompt,
        tokenizer=args.tokenizer,
        options=options,
        command=command,
        plot=not args.no_plot,
        on_bad_rows=args.on_bad_rows,
        decontaminate=_decontamination_request(args),
    )
    total = sum(report.seconds.values())
    print(f"\nWrote {report.out} in {total:.1f} s")
    print(render_summary(report.stats))
    return 0


def _add_stats(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="Show edit-distance statistics of a folder written by `prefbuild build`.",
        description="Recompute edit distances between chosen and rejected from the folder's parquet shards and "
        "show counts, skip reasons and distance summaries (mean, median, p10, p90, histogram).",
    )
    parser.add_argument("folder", help="a folder written by `prefbuild build` or `prefbuild mix`")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="write a histogram of the edit distances")
    parser.add_argument("--tokenizer", help="tokenizer (Hub id or folder) for token-level distances")
    _displacement_flags(parser)
    parser.set_defaults(handler=_run_stats)


def _displacement_flags(parser: argparse.ArgumentParser) -> None:
    """`prefbuild stats --model M`: per-pair CHES (displacement risk) under a model."""
    group = parser.add_argument_group(
        "displacement risk",
        "With --model, score each pair's CHES and normalised CHES (Razin et al. 2024, arXiv 2410.08847) from the "
        "model's last hidden layer: higher = DPO more likely to lower the chosen likelihood.",
    )
    group.add_argument("--model", metavar="M", help="causal LM (local folder or Hub id) that scores the pairs")
    group.add_argument("--split", metavar="S", help="score only this split (default: every split)")
    group.add_argument("--limit", type=int, metavar="N", help="score only the first N pairs of each split")
    group.add_argument("--batch-size", type=int, default=8, metavar="B", help="pairs per forward pass (default: 8)")
    group.add_argument("--device", metavar="D", help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    group.add_argument("--out", metavar="DIR2", help="write a copy of the folder with the ches columns added")
    group.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")


def _run_stats(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.model is not None:
        return _run_stats_model(args, argv)
    given = [flag for flag, value in (("--split", args.split), ("--limit", args.limit), ("--out", args.out)) if value]
    given += ["--device"] if args.device else []
    if given:
        raise PrefbuildError(f"{', '.join(given)}: only with --model M (CHES scoring); add --model or drop them.")
    from prefbuild.build import folder_statistics
    from prefbuild.stats import plot_histograms, render_summary

    plot = Path(args.plot) if args.plot else None
    if plot is not None and (plot.suffix.lower() != ".png" or not plot.parent.is_dir()):
        raise PrefbuildError(f"--plot '{args.plot}' must be a .png file in an existing folder.")
    if plot is not None and (plot.is_dir() or plot.is_symlink()):
        raise PrefbuildError(f"--plot '{args.plot}' is a folder or a link; give the path of a .png file to write.")
    if plot is not None and not os.access(plot.parent, os.W_OK):
        raise PrefbuildError(f"--plot '{args.plot}': no permission to write in '{plot.parent}'.")
    result = folder_statistics(args.folder, tokenizer=args.tokenizer)
    if plot is not None:
        try:
            plot_histograms(result, str(plot))
        except OSError as error:
            raise PrefbuildError(f"Cannot write --plot '{args.plot}': {error.strerror or error}.") from None
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        print(render_summary(result))
        from prefbuild.displacement.scores import render_scores_summary

        if scores := render_scores_summary(result):
            print(scores)
        if args.plot:
            print(f"Wrote {args.plot}")
    return 0


def _run_stats_model(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from prefbuild.displacement.folders import score_folder
    from prefbuild.displacement.scores import render_scores_summary
    from prefbuild.stats import render_summary

    if args.tokenizer or args.plot:
        raise PrefbuildError(
            "--tokenizer and --plot do not go with --model; run them as a separate `prefbuild stats`."
        )
    stats = score_folder(
        args.folder,
        args.model,
        split=args.split,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
        out=args.out,
        overwrite=args.overwrite,
        command=_recorded_command(argv),
        progress=True,
    )
    if args.json:
        print(json.dumps(stats.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(render_summary(stats))
    print(render_scores_summary(stats))
    if args.out:
        print(f"Wrote {args.out}")
    return 0


def _add_filter(subparsers: argparse._SubParsersAction) -> None:
    from prefbuild.displacement.scores import FILTER_COLUMNS

    parser = subparsers.add_parser(
        "filter",
        help="Write a copy of a built folder without the pairs a per-pair score or distance marks (e.g. top CHES).",
        description="Drop pairs by a per-pair column: CHES (`prefbuild stats DIR --model M --out DIR2` adds it) or "
        "an edit distance. Dropped pairs are counted under the reason filtered_<column>; stats.json and the card "
        "record the rule, the cut and the commands that rebuild the folder.",
    )
    parser.add_argument("folder", metavar="DIR", help="a folder written by `prefbuild build`, `mix` or `stats --out`")
    parser.add_argument("--by", required=True, metavar="COLUMN", help=f"one of: {', '.join(FILTER_COLUMNS)}")
    rule = parser.add_mutually_exclusive_group(required=True)
    rule.add_argument("--drop-top", type=float, metavar="F", help="drop ⌊F × pairs⌋ of each split: the highest values")
    rule.add_argument(
        "--drop-bottom", type=float, metavar="F", help="drop ⌊F × pairs⌋ of each split: the lowest values"
    )
    rule.add_argument("--keep-below", type=float, metavar="X", help="keep the pairs whose value is below X")
    rule.add_argument("--keep-above", type=float, metavar="X", help="keep the pairs whose value is above X")
    parser.add_argument("--split", metavar="S", help="filter only this split (the others are copied as they are)")
    parser.add_argument("--out", required=True, metavar="DIR2", help="the filtered folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    parser.set_defaults(handler=_run_filter)


def _run_filter(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from prefbuild.displacement.folders import filter_folder
    from prefbuild.displacement.scores import describe_filter, render_scores_summary
    from prefbuild.stats import render_summary

    stats = filter_folder(
        args.folder,
        args.by,
        out=args.out,
        drop_top=args.drop_top,
        drop_bottom=args.drop_bottom,
        keep_below=args.keep_below,
        keep_above=args.keep_above,
        split=args.split,
        overwrite=args.overwrite,
        command=_recorded_command(argv),
    )
    print(render_summary(stats))
    if scores := render_scores_summary(stats):
        print(scores)
    else:
        print(f"filter: {describe_filter(stats.filters[-1])}")
    print(f"Wrote {args.out}")
    return 0


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    # Listed here for `prefbuild --help`; `main` hands its arguments untouched to TRL's parser
    # (prefbuild.train.run), so `--config RECIPE.yaml` and every `--field value` override work as in TRL.
    subparsers.add_parser(
        "train",
        help="Train with DPOP (or DPO / IPO / SLiC) from a recipe: --config RECIPE.yaml [--field value ...].",
        add_help=False,
    )


def _run_train(argv: Sequence[str]) -> int:
    from prefbuild.train.run import main as train_main

    return train_main(list(argv))


def _add_tiny_model(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tiny-model",
        help="Write a tiny random Llama model and a locally trained tokenizer (offline demos and tests).",
        description="Write a tiny randomly initialised Llama-architecture causal LM and a byte-level BPE tokenizer "
        "trained locally, so recipes, tests and demos run without the Hub.",
    )
    parser.add_argument(
        "--out", required=True, help="folder to write the model and tokenizer to (refused if it exists)"
    )
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed (default: 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    parser.set_defaults(handler=_run_tiny_model)


def _run_tiny_model(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from prefbuild.train.tiny_model import write_tiny_model

    out = write_tiny_model(args.out, seed=args.seed, overwrite=args.overwrite)
    print(f"Wrote a tiny Llama model and tokenizer to {out}")
    return 0


def _add_push(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "push",
        help="Upload a folder written by `prefbuild build` / `prefbuild mix` to the Hugging Face Hub.",
        description="Upload a built folder (shards, stats.json, README.md card, histogram) to a Hub dataset repo in "
        "one commit, creating the repo if needed. The token comes from HF_TOKEN or `hf auth login` and is never "
        "printed. --dry-run OUT writes exactly what would be uploaded and touches no network.",
    )
    parser.add_argument("folder", metavar="DIR", help="a folder written by `prefbuild build` or `prefbuild mix`")
    parser.add_argument(
        "--repo-id", required=True, metavar="ORG/NAME", help="dataset repository, e.g. my-org/arc-dpop"
    )
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--revision", metavar="R", help="branch to commit to (created if missing; default: main)")
    parser.add_argument("--commit-message", metavar="M", help="commit title (default: names the set and version)")
    parser.add_argument(
        "--dry-run", metavar="OUT", help="write the files that would be uploaded into OUT and list the operations"
    )
    parser.set_defaults(handler=_run_push)


def _run_push(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from prefbuild.hub import push_folder

    result = push_folder(
        args.folder,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
        dry_run=args.dry_run,
    )
    plan = result.plan
    where = f"{plan.repo_id}@{args.revision}" if args.revision else plan.repo_id
    print(f"Commit to dataset {where}: {plan.commit_message!r}, {len(plan.operations)} operations")
    for name in plan.files:
        print(f"  CommitOperationAdd {name} ({plan.sizes[name]:,} bytes)")
    if result.dry_run_folder is not None:
        print(f"Dry run: wrote the files that would be uploaded to {result.dry_run_folder}; nothing was sent.")
    else:
        print(f"Pushed: {result.commit_url}")
    return 0


def _add_mix(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mix",
        help="Mix built folders and third-party preference sets, each by its share, into one Hub-ready folder.",
        description="Sample each source of a mixture config (recipes/mix/<name>.yaml) by its share (`fraction` or "
        "`rows`), with a seed, "
        "into train and eval splits with a `source` column for provenance, per-source statistics and a card "
        "listing the composition. Sources: folders from `prefbuild build`, Intel/orca_dpo_pairs, "
        "jondurbin/truthy-dpo-v0.1, HuggingFaceH4/ultrafeedback_binarized (Hub ids or local copies).",
    )
    parser.add_argument("--config", required=True, help="mixture config, e.g. recipes/mix/smaug.yaml")
    parser.add_argument("--out", required=True, help="output folder (refused if it exists, unless --overwrite)")
    parser.add_argument("--seed", type=int, help="seed for sampling and shuffling (default: the config's, else 0)")
    parser.add_argument(
        "--format", help="standard (strings) or conversational (TRL message lists); default: the config's"
    )
    parser.add_argument("--system-prompt", help="system message for --format conversational rows without one")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--no-plot", action="store_true", help="do not write edit_distance.png")
    parser.add_argument(
        "--on-bad-rows",
        choices=["error", "skip"],
        default="error",
        help="a third-party or `pairs` row with undecodable text or a wrong type: stop with one line naming file, "
        "row and field (default), or count it under the entry's skip reasons",
    )
    _decontaminate_flags(parser)
    parser.set_defaults(handler=_run_mix)


def _run_mix(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from prefbuild.mix import load_config, mix_datasets
    from prefbuild.stats import render_summary

    config = load_config(args.config)
    report = mix_datasets(
        config,
        out=args.out,
        overwrite=args.overwrite,
        fmt=args.format,
        system_prompt=args.system_prompt,
        seed=args.seed,
        command=_recorded_command(argv),
        config_path=args.config,
        plot=not args.no_plot,
        decontaminate=_decontamination_request(args),
        on_bad_rows=args.on_bad_rows,
    )
    print(f"Wrote {report.out}")
    from prefbuild.folder import FolderStats

    for source in FolderStats.coerce(report.stats).sources or []:
        taken = ", ".join(
            f"{split} {facts.selected:,}/{facts.usable_pairs:,}" for split, facts in source.splits.items()
        )
        print(f"  {source.name}: {taken}")
    print(render_summary(report.stats))
    return 0


def _add_analyze(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="Token-level log-probs of chosen/rejected, aligned on the first differing token (the paper's Fig. 4).",
        description="Score the chosen and rejected completions of a preference dataset with a causal LM, token by "
        "token (tokenised as the preference trainer does), align them on the first differing token and write "
        "OUT/analysis.json (before_edit_mean, at_edit_mean, after_edit_mean, by_offset, ...) and "
        "OUT/token_logprobs.png.",
    )
    parser.add_argument("--model", required=True, metavar="M", help="causal LM: Hub id or local folder")
    parser.add_argument("--data", required=True, metavar="DIR", help="a folder written by `prefbuild build`")
    parser.add_argument("--split", default="eval", help="split to score (default: eval)")
    parser.add_argument("--limit", type=int, metavar="N", help="score at most N pairs")
    parser.add_argument(
        "--window", type=int, default=10, help="offsets -W..W around the first differing token (default: 10)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass (default: 16)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--out", required=True, metavar="OUT", help="folder for analysis.json and the PNG")
    parser.set_defaults(handler=_run_analyze)


def _run_analyze(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from prefbuild.analysis.analyze import analyze, render_analysis
    from prefbuild.paths import check_out

    # analyze adds two files to --out (an existing folder is fine), so only the paths that would hurt are refused
    check_out(args.out, overwrite=True, inputs=[args.data, args.model])
    analysis = analyze(
        args.model,
        args.data,
        out=args.out,
        split=args.split,
        limit=args.limit,
        window=args.window,
        batch_size=args.batch_size,
        device=args.device,
    )
    print(render_analysis(analysis))
    print(f"Wrote {args.out}/analysis.json and {args.out}/token_logprobs.png")
    return 0


def _add_repro(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "repro",
        help="Reproduce DPO's failure mode and DPOP's fix at toy scale, offline, over several seeds.",
        description="For each seed: generate arithmetic word problems, train a tokenizer and a small Llama on them "
        "(the reference), build low-edit pairs with the metamath builder (and a high-edit control), train DPO, DPOP, "
        "IPO, SLiC, RPO ([sigmoid, sft]) and [dpop, sft] with DPOPTrainer, and run the predictor study (CHES and "
        "edit distances against DPO's per-pair fall of the chosen log-prob; DPO again without the top 10 %% by "
        "CHES). Writes results.json (every figure as mean, sd and 95 %% t-interval over seeds), figures and "
        "report.md to --out.",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the small configuration: under 10 minutes on 2 CPU cores with 3 seeds (default: the larger one)",
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed; runs use seed, seed+1, ... (default: 0)")
    parser.add_argument(
        "--seeds",
        type=int,
        help="independent runs; figures are mean ± sd over them with a 95 %% t-interval (default: 3)",
    )
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default: 1, which avoids oversubscribing a shared machine)"
    )
    parser.add_argument(
        "--jobs", type=int, help="seeds run at once, one process each (default: 2; at most the CPU cores)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    parser.set_defaults(handler=_run_repro)


def _run_repro(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from dataclasses import replace

    from prefbuild.paths import check_out
    from prefbuild.repro import FULL, QUICK, render_results, run_repro

    # run_repro itself refuses a non-empty --out without --overwrite (and then empties it): refuse what would hurt
    check_out(args.out, overwrite=True)
    config = replace(QUICK if args.quick else FULL, seed=args.seed)
    if args.seeds is not None:
        if args.seeds < 1:
            raise PrefbuildError(
                f"--seeds must be >= 1, got {args.seeds}. Use 3 (the default) or more: 1 seed gives no interval."
            )
        config = replace(config, seeds=args.seeds)
    if args.threads is not None:
        config = replace(config, threads=args.threads)
    if args.jobs is not None:
        if args.jobs < 1:
            raise PrefbuildError(f"--jobs must be >= 1, got {args.jobs}. Use 1 to run the seeds one after another.")
        config = replace(config, jobs=args.jobs)
    results = run_repro(args.out, config, overwrite=args.overwrite)
    print(render_results(results))
    print(f"Wrote {args.out}/results.json, {args.out}/report.md and figures")
    return 0


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="Run the whole job offline on sample sources shipped with prefbuild (about a minute on a CPU).",
        description="Build MetaMath, ARC and HellaSwag preference sets from small sample sources inside the package, "
        "print their statistics, check their dataset cards, dry-run a push, mix them, and train a few DPOP steps on "
        "a tiny model. Offline; everything is written under --out.",
    )
    parser.add_argument("--out", default="runs/demo", help="demo folder (default: runs/demo)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing demo folder")
    parser.add_argument("--max-steps", type=int, default=3, help="DPOP training steps (default: 3)")
    parser.add_argument("--no-train", action="store_true", help="skip the training step")
    parser.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from prefbuild.demo import run_demo
    from prefbuild.paths import check_out

    if args.max_steps < 1:
        raise PrefbuildError(f"--max-steps must be >= 1, got {args.max_steps}.")
    # run_demo empties a non-empty --out only with --overwrite: refuse first what must never be emptied
    check_out(args.out, overwrite=True)
    # The narration is the command's output, on stdout; the steps' own log lines go to stderr
    run_demo(args.out, overwrite=args.overwrite, train=not args.no_train, max_steps=args.max_steps, echo=print)
    return 0


def _add_eval(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="Score models on benchmarks with lm-evaluation-harness and tabulate them side by side.",
        description="Evaluate one or more models (Hub id, `prefbuild train` folder or PEFT adapter folder) with the "
        "same lm-evaluation-harness settings and write OUT/results.json, OUT/results.md (a table) and "
        "OUT/results.png (grouped bars). --suite leaderboard-v1 uses the Open LLM Leaderboard settings of the "
        "paper's Table 1.",
    )
    parser.add_argument("--model", required=True, action="append", metavar="M", help="model to score (repeatable)")
    parser.add_argument("--tasks", metavar="T1,T2", help="lm-eval task names, e.g. arc_challenge,gsm8k")
    parser.add_argument("--suite", metavar="NAME", help="a task suite: leaderboard-v1")
    parser.add_argument("--num-fewshot", type=int, metavar="N", help="few-shot examples (default: task/suite's)")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N examples per task (for quick checks)")
    parser.add_argument("--batch-size", type=int, default=8, metavar="B", help="batch size (default: 8)")
    parser.add_argument("--device", metavar="D", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument(
        "--max-gen-toks", type=int, metavar="N", help="cap on generated tokens for generative tasks (default: task's)"
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="offline: one folder per task with local copies in the Hub schema"
    )
    parser.add_argument("--out", required=True, metavar="OUT", help="folder for results.json/.md/.png")
    parser.set_defaults(handler=_run_eval)


def _run_eval(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from prefbuild.evaluation import evaluate_models, parse_task_list, plan_evaluation, render_table, write_results

    if args.limit is not None and args.limit < 1:
        raise PrefbuildError(f"--limit must be >= 1, got {args.limit}.")
    if args.batch_size < 1:
        raise PrefbuildError(f"--batch-size must be >= 1, got {args.batch_size}.")
    tasks = None if args.tasks is None else parse_task_list(args.tasks)
    plan = plan_evaluation(tasks=tasks, suite=args.suite, num_fewshot=args.num_fewshot, data_dir=args.data_dir)
    if args.max_gen_toks is not None and args.max_gen_toks < 1:
        raise PrefbuildError(f"--max-gen-toks must be >= 1, got {args.max_gen_toks}.")
    gen_kwargs = None if args.max_gen_toks is None else {"max_gen_toks": args.max_gen_toks}
    results = evaluate_models(
        args.model, plan, limit=args.limit, batch_size=args.batch_size, device=args.device, gen_kwargs=gen_kwargs
    )
    write_results(results, args.out)
    print(render_table(results))
    print(f"Wrote {args.out}/results.json, {args.out}/results.md and {args.out}/results.png")
    return 0


def _decontaminate_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("benchmark decontamination")
    group.add_argument(
        "--decontaminate",
        metavar="B1,B2",
        help="check pairs for 13-gram overlap with benchmarks: gsm8k, math, arc_challenge, hellaswag or a local file",
    )
    group.add_argument("--decontaminate-drop", action="store_true", help="remove the overlapping pairs")
    group.add_argument(
        "--decontaminate-data-dir", metavar="DIR", help="local benchmark copies (DIR/gsm8k/test.jsonl, ...)"
    )


def _decontamination_request(args: argparse.Namespace):
    from prefbuild.decontaminate import DecontaminationRequest, parse_benchmarks

    if args.decontaminate is None:
        if args.decontaminate_drop or args.decontaminate_data_dir:
            raise PrefbuildError("--decontaminate-drop and --decontaminate-data-dir need --decontaminate B1,B2.")
        return None
    benchmarks = parse_benchmarks(args.decontaminate)
    if not benchmarks:
        raise PrefbuildError("--decontaminate is empty; name benchmarks, e.g. --decontaminate gsm8k,math.")
    return DecontaminationRequest(
        tuple(benchmarks), data_dir=args.decontaminate_data_dir, drop=args.decontaminate_drop
    )


def _add_decontaminate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "decontaminate",
        help="Check a built folder for n-gram overlap with benchmark test sets; optionally drop those pairs.",
        description="Compare every pair's prompt, chosen and rejected text with the documents models are scored on "
        "(GSM8K test, MATH test, ARC-Challenge test, HellaSwag validation, or local files) by word n-gram overlap on "
        "normalised text (13-grams, as GPT-3 and lm-eval's decontamination). The per-split, per-benchmark counts "
        "and examples go into stats.json and the card; --drop removes the overlapping pairs.",
    )
    parser.add_argument("folder", metavar="DIR", help="a folder written by `prefbuild build` or `prefbuild mix`")
    parser.add_argument(
        "--benchmarks",
        required=True,
        metavar="B1,B2",
        help="gsm8k, math, arc_challenge, hellaswag, or paths of local .jsonl/.json/.parquet/.txt files",
    )
    parser.add_argument(
        "--data-dir", metavar="D", help="local benchmark copies in the Hub schema (D/gsm8k/test.jsonl, ...)"
    )
    parser.add_argument("--ngram", type=int, default=13, metavar="N", help="n-gram length in words (default: 13)")
    parser.add_argument("--drop", action="store_true", help="remove overlapping pairs (counted as benchmark_overlap)")
    parser.add_argument("--out", metavar="DIR2", help="write the result here (default: update DIR in place)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    parser.set_defaults(handler=_run_decontaminate)


def _run_decontaminate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from prefbuild.decontaminate import decontaminate_folder, parse_benchmarks, render_summary

    stats = decontaminate_folder(
        args.folder,
        parse_benchmarks(args.benchmarks),
        data_dir=args.data_dir,
        ngram=args.ngram,
        drop=args.drop,
        out=args.out,
        overwrite=args.overwrite,
    )
    print(render_summary(stats.decontamination))
    print(f"Wrote the report to {args.out or args.folder}/stats.json and its README.md")
    return 0


def _add_contamination(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "contamination",
        help="Test whether a model has seen a benchmark (Shi et al.'s neighbour test, the paper's Table 3).",
        description="A reference model continues the first --prefix-ratio of each sampled benchmark text "
        "--neighbours times; a text scores the fraction of those neighbours on which the target model's loss is "
        "lower than on the real text. The contamination value is the share of texts scoring below 0.1; above 0.85 "
        "indicates likely contamination. Writes OUT/contamination.json.",
    )
    parser.add_argument("--model", required=True, metavar="M", help="model to test: Hub id or local folder")
    parser.add_argument("--ref-model", required=True, metavar="R", help="reference model that writes neighbours")
    parser.add_argument(
        "--benchmark", required=True, metavar="B", help="gsm8k, arc_challenge, truthfulqa, or a local text file"
    )
    parser.add_argument("--examples", type=int, default=100, metavar="N", help="texts sampled (default: 100)")
    parser.add_argument("--neighbours", type=int, default=100, metavar="K", help="neighbours per text (default: 100)")
    parser.add_argument(
        "--prefix-ratio", type=float, default=0.4, metavar="P", help="share of words kept as prefix (default: 0.4)"
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    parser.add_argument("--data-dir", metavar="DIR", help="offline: DIR/<benchmark>/<split>.jsonl in the Hub schema")
    parser.add_argument("--batch-size", type=int, default=16, metavar="B", help="sequences per pass (default: 16)")
    parser.add_argument("--device", metavar="D", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--out", required=True, metavar="OUT", help="folder for contamination.json")
    parser.set_defaults(handler=_run_contamination)


def _run_contamination(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from prefbuild.contamination import contamination_test, render_report, write_report

    report = contamination_test(
        args.model,
        args.ref_model,
        args.benchmark,
        examples=args.examples,
        neighbours=args.neighbours,
        prefix_ratio=args.prefix_ratio,
        seed=args.seed,
        data_dir=args.data_dir,
        device=args.device,
        batch_size=args.batch_size,
    )
    path = write_report(report, args.out)
    print(render_report(report))
    print(f"Wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prefbuild",
        description="Build preference datasets (prompt / chosen / rejected), inspect their edit distances, "
        "push them to the Hugging Face Hub and train on them with DPOP.",
    )
    parser.add_argument("--version", action="version", version=f"prefbuild {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for add in VERBS:
        add(subparsers)
    for verb, subparser in subparsers.choices.items():
        if verb != "train":  # train's flags go to TRL's parser, where `--debug` is TrainingArguments' own field
            # SUPPRESS: a verb without the flag leaves `prefbuild --debug VERB`'s value alone
            subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


DEBUG_HELP = (
    "show DEBUG log lines, and the full traceback behind an `Error:` line (also PREFBUILD_DEBUG=1); "
    "for train, put it before the verb: prefbuild --debug train ..."
)


VERBS = [_add_build, _add_stats, _add_push, _add_mix, _add_demo, _add_train, _add_tiny_model, _add_analyze, _add_repro]
VERBS += [_add_eval, _add_decontaminate, _add_contamination]
VERBS += [_add_filter]


def main(argv: Sequence[str] | None = None) -> int:
    from prefbuild.log import debug_from_env, rank_prefix, setup_logging

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_from_env()
    while argv[:1] == ["--debug"]:  # the global option; `train` hands the rest to TRL's parser untouched
        debug, argv = True, argv[1:]
    logger = setup_logging(debug)
    logger.debug("prefbuild %s, Python %s, arguments %s", __version__, sys.version.split()[0], argv)
    signals: list[int] = []
    try:
        with _interruptible(signals):
            if argv[:1] == ["train"]:
                return _run_train(argv[1:])
            parser = build_parser()
            args = parser.parse_args(argv)
            if args.debug and not debug:  # `prefbuild VERB --debug`
                debug = True
                setup_logging(debug)
            if args.verb is None:
                parser.print_help()
                return 0
            return args.handler(args, argv)
    except PrefbuildError as error:
        print(f"{rank_prefix()}Error: {error}", file=sys.stderr)
        if debug:
            _print_traceback(error)
        return 1
    except KeyboardInterrupt as error:
        print(f"{rank_prefix()}Error: interrupted.", file=sys.stderr)
        if debug:
            _print_traceback(error)
        return 130
    except Exception as error:
        # datasets' multiprocess map replaces the KeyboardInterrupt with its own error while it unwinds
        if not signals:
            _how_to_report(error)
            raise
        print(f"{rank_prefix()}Error: interrupted.", file=sys.stderr)
        if debug:
            _print_traceback(error)
        return 130


def _print_traceback(error: BaseException) -> None:
    """The traceback behind an `Error:` line, with the exception it replaced: errors raised `from None` hide
    their cause from users, which is what --debug asks to see."""
    error.__suppress_context__ = False
    traceback.print_exception(error, file=sys.stderr)


def _how_to_report(error: BaseException) -> None:
    """Add to an unexpected exception's traceback (not an `Error:` line: prefbuild did not foresee it) how to
    report it."""
    note = (
        f"prefbuild {__version__} stopped on an unexpected error. Unless it is about this machine (memory, disk, "
        "GPU), it is a bug: please report it with the command you ran and this traceback."
    )
    if hasattr(error, "add_note"):  # Python >= 3.11: printed under the exception's line
        error.add_note(note)
    else:
        print(note, file=sys.stderr)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, unwinding like Ctrl-C so the same clean-up runs (temporary folders removed, old folder kept)."""


@contextlib.contextmanager
def _interruptible(received: list[int]) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the command with one line. Worker processes (forked by `datasets.map(num_proc=N)`
    inherit these handlers) stop quietly instead: they ignore SIGINT, which the parent handles by terminating them,
    and exit at once on SIGTERM, so no worker prints a traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    parent = os.getpid()

    def on_signal(signum: int, frame: object) -> None:
        if os.getpid() != parent:
            if signum == signal.SIGTERM:
                os._exit(128 + signum)
            return
        received.append(signum)
        raise KeyboardInterrupt() if signum == signal.SIGINT else _Terminated()

    previous = {number: signal.signal(number, on_signal) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


if __name__ == "__main__":
    sys.exit(main())
