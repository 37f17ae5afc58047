"""bench/evidence_runs.py and bench/evidence_tables.py (issue #15): the evidence studies run through the compare
CLI into one summary, restart without redoing finished work, share runs between studies of one folder, stop at
a deadline, and fill the marked tables of docs/EVIDENCE.md."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
from PIL import Image

from genmix_core.paths import REPO_ROOT
from test_compare_cli import make_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def evidence(tmp_path_factory):
    """Two tiny studies in one folder (the second plans the first's baseline runs again) and one in another."""
    runs = _load("evidence_runs")
    root = tmp_path_factory.mktemp("evidence")
    lab, line = make_folder(root / "lab", 5), make_folder(root / "line", 4, shift=40, seed=1)
    runs.COMMON["quick"] = {"--data": str(lab), "--test": str(line), "--cross-val-fraction": "0.5",
                            "--seeds": "0,1", "--epochs": "1", "--batch-size": "4", "--backbone": "small_cnn",
                            "--size": "16", "--eps": "2/255", "--pgd-steps": "2", "--pgd-restarts": "2"}
    runs.SCALES["quick"] = {"low": "1", "high": "2"}
    runs.STUDIES = (
        runs.Study("main", 1, "shared", {"--conditions": "baseline,mixup", "--steps-scale": "{scale}"}),
        runs.Study("sweep16", 2, "shared", {"--conditions": "baseline,cutmix", "--steps-scale": "{scale},{scale_high}"}),
        runs.Study("other", 2, "apart", {"--conditions": "baseline", "--steps-scale": "{scale}"}),
    )
    out = root / "out"
    first = runs.main(["--out", str(out), "--quick", "--device", "cpu"])
    return runs, out, first


def test_every_study_runs_through_the_cli_into_one_summary(evidence):
    runs, out, first = evidence
    assert first == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "quick" and set(summary["studies"]) == {"main", "sweep16", "other"}
    main = summary["studies"]["main"]
    assert main["status"] == "done" and main["command"].startswith("python -m genmix_core.train ")
    assert "--conditions baseline,mixup" in main["command"] and "--device cpu" in main["command"]
    res = main["results"]
    assert set(res["arms"]) == {"baseline", "mixup"} and res["verdict"]
    assert "predictions" not in json.dumps(res)               # the summary keeps what the tables read
    assert {r["seed"] for r in res["runs"]} == {0, 1}
    # The second study of the folder planned baseline x1 again: trained once, by the first study.
    assert summary["studies"]["main"]["plan"]["runs"] == 4
    assert summary["studies"]["sweep16"]["plan"]["runs"] == 6      # cutmix x1, and all three x2 arms
    stamps = {r["arm"]: r for r in summary["studies"]["sweep16"]["results"]["runs"] if r["seed"] == 0}
    main_base = [r for r in res["runs"] if r["arm"] == "baseline" and r["seed"] == 0][0]
    assert stamps["baseline"]["train_s"] == main_base["train_s"]   # the same run, not a second training
    assert (out / "apart" / "results.json").is_file()


def test_a_rerun_skips_finished_studies_and_a_passed_deadline_starts_none(evidence, capsys):
    runs, out, _ = evidence
    before = (out / "shared" / "results.json").stat().st_mtime_ns
    assert runs.main(["--out", str(out), "--quick", "--device", "cpu", "--part", "1"]) == 0
    assert "main: done before, skipped" in capsys.readouterr().out
    assert (out / "shared" / "results.json").stat().st_mtime_ns == before
    fresh = out.parent / "late"
    assert runs.main(["--out", str(fresh), "--quick", "--device", "cpu", "--deadline-s", "0"]) == 1
    assert json.loads((fresh / "summary.json").read_text())["studies"] == {}


def test_tables_fill_the_marked_blocks_of_the_evidence_page(evidence, tmp_path):
    _, out, _ = evidence
    tables = _load("evidence_tables")
    page = tmp_path / "EVIDENCE.md"
    page.write_text("intro\n<!-- evidence:main -->\nold\n<!-- /evidence:main -->\n"
                    "<!-- evidence:sweep -->\n<!-- /evidence:sweep -->\n"
                    "<!-- evidence:protocol -->\nold\n<!-- /evidence:protocol -->\n"
                    "<!-- evidence:unknown -->\nkept\n<!-- /evidence:unknown -->\n")
    assert tables.main([str(out / "summary.json"), "--fill", str(page)]) == 0
    text = page.read_text()
    assert "old" not in text and "kept" in text and text.startswith("intro\n")
    main_block = text.split("<!-- evidence:main -->\n")[1].split("<!-- /evidence:main -->")[0]
    assert "| `baseline` |" in main_block and "| `mixup` |" in main_block
    sweep = text.split("<!-- evidence:sweep -->\n")[1].split("<!-- /evidence:sweep -->")[0]
    assert "line ×2" in sweep and "| `cutmix` |" in sweep
    protocol = text.split("<!-- evidence:protocol -->\n")[1]             # no such study in this summary
    assert protocol.startswith("_Not run yet._") and "evidence_runs.py --device cuda" in protocol
    assert "--only protocol" in protocol
    # Filling twice gives the same page (the blocks are replaced, not appended to).
    tables.main([str(out / "summary.json"), "--fill", str(page)])
    assert page.read_text() == text


def test_a_lost_summary_is_rebuilt_from_the_results_of_its_folder(evidence, tmp_path):
    """A GPU call whose summary.json did not come back: the study's entry rebuilt from the run folder's
    results.json gives the same tables as the summary the run wrote, and says it was rebuilt."""
    runs, out, _ = evidence
    rebuilt = tmp_path / "rebuilt.json"
    assert runs.main(["--out", str(out), "--quick", "--device", "cpu", "--only", "other",
                      "--from-results", str(out / "apart" / "results.json"), "--summary", str(rebuilt)]) == 0
    entry = json.loads(rebuilt.read_text())["studies"]["other"]
    written = json.loads((out / "summary.json").read_text())["studies"]["other"]
    assert entry["status"] == "done" and entry["rebuilt_from"] == "results.json" and entry["wall_s"] is None
    assert entry["command"] == written["command"] and entry["results"] == written["results"]
    assert set(json.loads(rebuilt.read_text())["studies"]) == {"other"}
    # One study at a time: without --only naming one, it refuses.
    with pytest.raises(SystemExit):
        runs.main(["--out", str(out), "--quick", "--from-results", str(out / "apart" / "results.json"),
                   "--summary", str(rebuilt)])


def test_tables_say_which_arms_an_incomplete_study_lacks(evidence):
    """A study cut by the time limit is marked, with the arms short of seeds and the command that finishes
    it; its timing row counts only the runs it trained itself, also when no start time was recorded."""
    _, out, _ = evidence
    tables = _load("evidence_tables")
    studies, _ = tables.load_studies([str(out / "summary.json")])
    main = json.loads(json.dumps(studies["main"]))
    main["status"] = "incomplete"
    main["results"]["runs"] = [r for r in main["results"]["runs"] if not (r["arm"] == "mixup" and r["seed"] == 1)]
    note = tables.incomplete_note({"main": main}, "main")
    assert note.startswith("**Incomplete**") and "`mixup` 1 of 2 seeds (0)" in note and "`baseline`" not in note
    assert "--only main" in note and tables.incomplete_note(studies, "sweep16") == ""
    for st in studies.values():                        # an old summary: no start or finish times
        st.pop("started", None)
        for r in st["results"]["runs"]:
            r.pop("finished", None)
    rows = {line.split(" | ")[0]: line for line in tables.timing(studies).splitlines()}
    assert "| 4 of 4 |" in rows["| `main`"]              # 2 arms x 2 seeds, all its own
    assert "| 6 of 8 |" in rows["| `sweep16`"]           # baseline x1 came from main
    assert "| 2 of 2 |" in rows["| `other`"]             # another folder


def _idx(path, array):
    """An IDX file as the Fashion-MNIST distribution ships it (gzip; unsigned bytes; big-endian dims)."""
    import gzip

    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype("uint8").tobytes()))


def test_fashion_mnist_studies_write_their_photos_once_and_run_through_the_cli(tmp_path, monkeypatch):
    """Part 3: the Fashion-MNIST folders (training photos; on-site photos = test photos through another camera)
    are written from the IDX files once, the study's command reads them, and the tables show its results and
    name the folders it used (not lab and line)."""
    import numpy as np

    runs = _load("evidence_runs")
    rng = np.random.default_rng(0)
    idx = tmp_path / "idx"
    idx.mkdir()
    for prefix, n in (("train", 40), ("t10k", 30)):
        labels = np.arange(n) % 10
        images = np.clip(rng.normal(60, 20, (n, 28, 28)) + labels[:, None, None] * 15, 0, 255)
        _idx(idx / f"{prefix}-images-idx3-ubyte.gz", images)
        _idx(idx / f"{prefix}-labels-idx1-ubyte.gz", labels)
    monkeypatch.setitem(runs.COMMON, "quick", {
        "--cross-val-fraction": "0.5", "--seeds": "0,1", "--epochs": "1", "--batch-size": "8",
        "--backbone": "small_cnn", "--size": "16", "--eps": "2/255", "--pgd-steps": "2", "--pgd-restarts": "1"})
    monkeypatch.setitem(runs.FMNIST_SIZES, "quick", (3, 2))
    monkeypatch.setitem(runs.SCALES, "quick", {"low": "1", "high": "2"})
    monkeypatch.setattr(runs, "STUDIES", (runs.Study("fmnist_camera", 3, "fm", {
        **runs.FMNIST_DATA, "--conditions": "baseline,mixup", "--steps-scale": "{scale}"}),))
    out = tmp_path / "out"
    assert runs.main(["--out", str(out), "--quick", "--device", "cpu", "--fashion-mnist", str(idx)]) == 0
    data = out / "fashion_mnist"
    for part, per_class in (("train", 3), ("onsite", 2)):
        classes = sorted(d.name for d in (data / part).iterdir())
        assert len(classes) == 10 and "ankle-boot" in classes
        assert all(len(list((data / part / c).iterdir())) == per_class for c in classes)
    shifted = np.asarray(Image.open(next((data / "onsite" / "bag").iterdir())))
    assert shifted.shape == (28, 28, 3) and not (shifted[..., 0] == shifted[..., 2]).all()   # the warm camera
    entry = json.loads((out / "summary.json").read_text())["studies"]["fmnist_camera"]
    assert entry["status"] == "done" and f"--data {data}/train --test {data}/onsite" in entry["command"]
    stamp = (data / "train").stat().st_mtime_ns
    assert runs.main(["--out", str(out), "--quick", "--device", "cpu", "--fashion-mnist", str(idx)]) == 0
    assert (data / "train").stat().st_mtime_ns == stamp                 # written once
    tables = _load("evidence_tables")
    studies, meta = tables.load_studies([str(out / "summary.json")])
    block = tables.fmnist(studies)
    assert "`fmnist_authors`): _Not run yet._" in block and "| `mixup` |" in block and "| `mixup` | onsite |" in block
    row = tables.setup(studies, meta)
    assert "train; onsite 10 test + 10 val" in row and "lab;" not in row
