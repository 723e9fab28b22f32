"""`prover train sft | dpo` on data made by a sweep against the fake REPL, with a tiny random Llama (CPU, offline).

The data: `bench run` of the portfolio on the first four MiniF2F test problems (tests/scenarios/bench_minif2f.json:
three provable) with --log-samples, then `prover datagen`: proved-path steps and Lean-rejected siblings.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

from prover.cli import main  # noqa: E402
from prover.models import build_generator, get_prompt_format  # noqa: E402
from prover.training.examples import (  # noqa: E402
    Example,
    dpo_pairs,
    read_records,
    PROOF_FORMATS,
    register_proof_format,
    resolve_format,
    sft_examples,
)
from prover.training.trainer import TrainSettings, completion_perplexities, load_base, tokenize_sft, train  # noqa: E402
from search.outcomes import TacticState  # noqa: E402
from search.protocols import PolicyRequest, Sampling  # noqa: E402
from tests.test_cli_bench import fake_cmd  # noqa: E402
from tests.tiny_models import causal_dir, tiny_causal_dir  # noqa: E402, F401


def make_sweep_data(root: Path) -> Path:
    """A portfolio sweep against the fake REPL, exported by `prover datagen`: the data folder."""
    runs = root / "runs"
    args = ["bench", "run", "--tasks", "minif2f-test", "--limit", "4", "--output-path", str(runs),
            "--repl-cmd", fake_cmd(), "--no-cache", "--budget", "30", "--log-samples"]
    assert main(args) == 0
    assert main(["datagen", str(runs), "-o", str(root / "data")]) == 0
    return root / "data"


@pytest.fixture(scope="module")
def sweep_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sweep_data(tmp_path_factory.mktemp("sweep"))


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_training_prompts_are_the_generators_prompts_byte_for_byte(sweep_data: Path, causal_dir: Path) -> None:
    steps = read_records(sweep_data, "state_tactic")
    assert steps and all(s["origin"] in ("proof", "tree") for s in steps)
    gen = build_generator("hf", model=str(causal_dir), prompt_format="internlm2.5-step")
    seen: list[str] = []
    real = gen._complete  # type: ignore[attr-defined]

    async def spy(prompts: list[str], sampling: Sampling, seeds: Any = None) -> Any:
        seen.extend(prompts)
        return await real(prompts, sampling, seeds)

    gen._complete = spy  # type: ignore[attr-defined]
    for name in ("goal-proofstep", "bfs-prover", "internlm2.5-step", "reprover-byt5"):
        fmt = get_prompt_format(name)
        examples = sft_examples(sweep_data, fmt)
        assert [e.completion.removesuffix("<|im_end|>") for e in examples] == [s["tactic"] for s in steps]
        # The second step of a recorded proof carries the first tactic as the path before it (PROOF_BEFORE).
        request = PolicyRequest(TacticState(tuple(steps[1]["state_before"].split("\n\n"))), steps[1]["theorem"],
                                (steps[0]["tactic"],) if steps[1]["id"] == steps[0]["id"] else ())
        assert examples[1].prompt == fmt.prompt(request)
    # What the hf generator actually sends for that request, with the same format, is the training prompt.
    asyncio.run(gen.propose([request], Sampling(n=1, temperature=1.0, max_tokens=2, seed=0)))
    asyncio.run(gen.close())
    chat_examples = sft_examples(sweep_data, get_prompt_format("internlm2.5-step"))
    assert seen == [chat_examples[1].prompt]
    assert "PROOF_BEFORE: " + steps[0]["tactic"] in seen[0]
    # Token for token: the trained sequence starts with exactly the tokens the generator feeds the model.
    tokenizer = gen.tokenizer  # type: ignore[attr-defined]
    columns = tokenize_sft(chat_examples, tokenizer)
    prompt_ids = tokenizer(seen)["input_ids"][0]
    assert columns["input_ids"][1][: len(prompt_ids)] == prompt_ids
    assert columns["completion_mask"][1] == [0] * len(prompt_ids) + [1] * (len(columns["input_ids"][1]) - len(prompt_ids))
    assert columns["input_ids"][1][-1] == tokenizer.eos_token_id


def test_sft_lowers_the_loss_on_a_fixed_batch(sweep_data: Path, causal_dir: Path, tmp_path: Path) -> None:
    fmt = get_prompt_format("bfs-prover")
    batch = sft_examples(sweep_data, fmt)
    model, tokenizer, _ = load_base(str(causal_dir), False)
    before = completion_perplexities(model, tokenizer, batch)
    out = tmp_path / "full"
    result = train(TrainSettings("sft", str(causal_dir), sweep_data, out, prompt_format="bfs-prover", max_steps=8,
                                 lr=3e-3, batch_size=len(batch)))
    trained, tokenizer2, _ = load_base(str(out), False)
    after = completion_perplexities(trained, tokenizer2, batch)
    assert sum(after) / len(after) < 0.5 * sum(before) / len(before)
    assert result.losses[-1][1] < result.losses[0][1] and len(result.losses) == 8
    info = json.loads((out / "prover_training.json").read_text())
    assert info["prompt_format"] == "bfs-prover" and info["counts"]["examples"] == len(batch)
    assert info["versions"]["trl"] and info["steps"] == 8 and not info["adapter"]
    card = (out / "README.md").read_text()
    assert "bfs-prover" in card and str(causal_dir) in card and "loss_curve.png" in card
    assert (out / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"


def _propose(gen: Any, state: str) -> list[Any]:
    request = PolicyRequest(TacticState((state,)), "t")
    try:
        return asyncio.run(gen.propose([request], Sampling(n=2, temperature=1.0, max_tokens=4, seed=0)))[0]
    finally:
        asyncio.run(gen.close())


def test_adapter_and_merged_outputs_load_through_hf_with_their_format(sweep_data: Path, causal_dir: Path,
                                                                     tmp_path: Path) -> None:
    from peft import PeftModel

    adapter, merged = tmp_path / "adapter", tmp_path / "merged"
    common = ["--model", str(causal_dir), "--data", str(sweep_data), "--prompt-format", "bfs-prover", "--lora",
              "--max-steps", "2", "--lr", "1e-2", "--batch-size", "4"]
    assert main(["train", "sft", *common, "--output", str(adapter)]) == 0
    assert main(["train", "sft", *common, "--output", str(merged), "--merge"]) == 0
    assert (adapter / "adapter_config.json").is_file() and not (adapter / "model.safetensors").exists()
    assert (merged / "model.safetensors").is_file() and not (merged / "adapter_config.json").exists()
    base_gen = build_generator("hf", model=str(causal_dir))
    state = read_records(sweep_data, "state_tactic")[0]["state_before"]
    for out in (adapter, merged):
        gen = build_generator("hf", model=str(out))  # no --prompt-format: the trained one is picked up
        assert gen.prompt_format.name == "bfs-prover"
        assert isinstance(gen.lm, PeftModel) == (out is adapter)  # type: ignore[attr-defined]
        ids = gen.tokenizer(["x"], return_tensors="pt")  # type: ignore[attr-defined]
        trained_logits = gen.lm(**ids).logits  # type: ignore[attr-defined]
        assert not trained_logits.allclose(base_gen.lm(**ids).logits)  # type: ignore[attr-defined]
        assert isinstance(_propose(gen, state), list)
    asyncio.run(base_gen.close())


def test_dpo_trains_on_proved_tactic_versus_rejected_sibling(sweep_data: Path, causal_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    fmt = get_prompt_format("goal-proofstep")
    pairs = dpo_pairs(sweep_data, fmt)
    steps = {(s["state_before"], s["tactic"]) for s in read_records(sweep_data, "state_tactic")}
    negatives = {(s["state_before"], s["tactic"]) for s in read_records(sweep_data, "negatives")}
    for pair in pairs:
        state = next(s for s, _ in steps if fmt.prompt(PolicyRequest(TacticState(tuple(s.split("\n\n"))))) == pair.prompt)
        assert (state, pair.chosen) in steps and (state, pair.rejected) in negatives and pair.chosen != pair.rejected
    out = tmp_path / "dpo"
    rc = main(["train", "dpo", "--model", str(causal_dir), "--data", str(sweep_data), "--output", str(out), "--lora",
               "--max-steps", "2", "--batch-size", "4", "--lr", "1e-3"])
    assert rc == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["counts"]["pairs"] == len(pairs) and line["steps"] == 2
    info = json.loads((out / "prover_training.json").read_text())
    assert info["method"] == "dpo" and info["prompt_format"] == "goal-proofstep" and info["adapter"]


def test_bad_input_exits_with_one_line_and_leaves_nothing(sweep_data: Path, causal_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    empty, junk, out = tmp_path / "empty", tmp_path / "junk", tmp_path / "out"
    empty.mkdir()
    junk.mkdir()
    (junk / "state_tactic.jsonl").write_text("this is not json\n")
    existing = tmp_path / "existing"
    existing.mkdir()

    def run(*args: str) -> tuple[int, str]:
        rc = main(["train", "sft", *args])
        err = capsys.readouterr().err.strip()
        return rc, err

    base = ["--model", str(causal_dir)]
    cases = [
        (["--data", str(empty), "--output", str(out), *base], 2, "no datagen files"),
        (["--data", str(junk), "--output", str(out), *base], 2, "not JSON"),
        (["--data", str(tmp_path / "nowhere"), "--output", str(out), *base], 2, "not a directory"),
        (["--data", str(sweep_data), "--output", str(out), "--model", "nobody/no-such-model"], 3, "not available locally"),
        (["--data", str(sweep_data), "--output", str(existing), *base], 2, "--overwrite"),
        (["--data", str(sweep_data), "--output", str(out), *base, "--prompt-format", "internlm2.5-step"], 2,
         "no chat template"),
        (["--data", str(sweep_data), "--output", str(out), *base, "--merge"], 2, "needs --lora"),
    ]
    for args, code, text in cases:
        rc, err = run(*args)
        assert rc == code, (args, err)
        assert len(err.splitlines()) == 1 and text in err, err
    assert not out.exists() and leftovers(tmp_path) == [] and list(existing.iterdir()) == []
    monkeypatch.setitem(__import__("sys").modules, "trl", None)  # the train extra is not installed
    rc, err = run("--data", str(sweep_data), "--output", str(out), *base)
    assert rc == 3 and "train extra" in err and "pip install" in err


def test_a_failed_run_leaves_no_output_and_overwrite_replaces(sweep_data: Path, causal_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import trl

    out = tmp_path / "m"
    out.mkdir()
    (out / "old.txt").write_text("old")

    def boom(self: Any, *a: Any, **k: Any) -> None:
        raise RuntimeError("killed mid-training")

    monkeypatch.setattr(trl.SFTTrainer, "train", boom)
    settings = TrainSettings("sft", str(causal_dir), sweep_data, out, max_steps=1, overwrite=True)
    with pytest.raises(RuntimeError):
        train(settings)
    assert (out / "old.txt").read_text() == "old" and leftovers(tmp_path) == []
    monkeypatch.undo()
    train(settings)
    assert not (out / "old.txt").exists() and (out / "prover_training.json").is_file() and leftovers(tmp_path) == []


class ToyProofFormat:
    """A stand-in whole-proof format (the real ones live with the whole-proof adapters): checks the plumbing."""

    name = "toy-whole-proof"

    def proof_prompt(self, header: str, formal_statement: str) -> str:
        return f"{header}{formal_statement}"

    def repair_prompt(self, header: str, formal_statement: str, failed_proof: str, errors: str) -> str:
        return f"{header}{formal_statement}{failed_proof}\n/- {errors} -/\n{formal_statement}"

    def completion(self, header: str, formal_statement: str, proof: str) -> str:
        return proof


def test_whole_proof_formats_train_on_proofs_and_repairs(sweep_data: Path, tmp_path: Path) -> None:
    fmt = ToyProofFormat()
    register_proof_format(fmt)
    try:
        data = tmp_path / "data"
        shutil.copytree(sweep_data, data)
        proofs = read_records(data, "proofs")
        # datagen's repairs.jsonl schema: the statement as recorded (ending `:=`), Lean's messages as a list.
        statement = proofs[0]["formal_statement"].removesuffix(" by\n")
        repair = {"formal_statement": statement, "failed_proof": "  simp\n", "errors": ["simp failed", "unsolved goals"],
                  "repaired_proof": proofs[0]["proof"], "header": proofs[0]["header"]}
        (data / "repairs.jsonl").write_text(json.dumps(repair) + "\n")
        examples = sft_examples(data, PROOF_FORMATS["toy-whole-proof"])
        assert [e.source for e in examples] == ["proofs"] * len(proofs) + ["repairs"]
        assert examples[0] == Example(fmt.proof_prompt(proofs[0]["header"], proofs[0]["formal_statement"]),
                                      proofs[0]["proof"], "proofs")
        assert examples[-1].prompt == fmt.repair_prompt(repair["header"], proofs[0]["formal_statement"], "  simp\n",
                                                        "simp failed\nunsolved goals")
        assert examples[-1].completion == proofs[0]["proof"]
        assert (proofs[0]["formal_statement"] + proofs[0]["proof"]).strip() in proofs[0]["full_text"]
    finally:
        PROOF_FORMATS.pop("toy-whole-proof", None)


def test_sft_on_whole_proofs_with_a_chat_proof_format(sweep_data: Path, tmp_path: Path) -> None:
    from prover.models.chat import render_chat
    from prover.models.proof_prompts import FORMATS, proof_format_for
    from search.proofs import ProofRequest
    from tests.tiny_models import tiny_chat_dir

    chat = tiny_chat_dir()
    model, tokenizer, _ = load_base(str(chat), False)
    fmt = FORMATS["deepseek-v2"]
    examples = sft_examples(sweep_data, resolve_format("deepseek-v2", tokenizer))
    proofs = read_records(sweep_data, "proofs")
    statement = proofs[0]["formal_statement"].rstrip()
    request = ProofRequest(proofs[0]["theorem"], proofs[0]["header"], statement)
    assert examples[0].prompt == render_chat(tokenizer, fmt.conversation(request))  # what the chat model is sent
    assert fmt.extract(examples[0].completion) is not None  # the answer is what the format reads back
    out = tmp_path / "wp"
    assert main(["train", "sft", "--model", str(chat), "--data", str(sweep_data), "--output", str(out),
                 "--prompt-format", "deepseek-v2", "--lora", "--max-steps", "1"]) == 0
    assert proof_format_for(str(out)).name == "deepseek-v2"  # `--model OUT` picks the whole-proof format up
    assert main(["train", "sft", "--model", str(tiny_causal_dir()), "--data", str(sweep_data),
                 "--output", str(tmp_path / "no"), "--prompt-format", "deepseek-v2"]) == 2  # no chat template
