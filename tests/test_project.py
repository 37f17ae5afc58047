"""Project folders: creation, listing, run folders, project.json, guarded deletes (genmix_core.data.project)."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from PIL import Image

from genmix_core.data import import_uploads, scan_split
from genmix_core.errors import UserError
from genmix_core.fileio import read_json
from genmix_core.paths import workspace_root
from genmix_core.data.project import SPLITS, Project, list_projects, open_project


def png(colour=(1, 2, 3)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (12, 12), colour).save(buf, "PNG")
    return buf.getvalue()


def test_open_creates_layout_and_project_json():
    project = open_project("Line 3 検査")
    assert project.name == "Line 3 検査"
    assert project.root.parent == workspace_root() / "projects"
    for split in SPLITS:
        assert project.data_dir(split).is_dir()
    assert project.prompts_dir.is_dir() and project.cache_dir.is_dir() and project.runs_dir.is_dir()
    meta = read_json(project.root / "project.json")
    assert meta["name"] == "Line 3 検査" and meta["data_source"] is None
    assert datetime.fromisoformat(meta["created"]).tzinfo is not None
    created = meta["created"]
    assert open_project("Line 3 検査").meta()["created"] == created  # reopening keeps it


def test_list_and_missing_projects():
    assert list_projects() == []
    open_project("b")
    open_project("a")
    assert list_projects() == ["a", "b"]
    with pytest.raises(UserError) as info:
        open_project("nope", create=False)
    assert info.value.key == "err.project.not_found" and "a, b" in str(info.value)
    assert list_projects() == ["a", "b"]


@pytest.mark.parametrize("name", ["../escape", "/abs/path", "..", "a/../../b"])
def test_hostile_project_names_stay_inside(name):
    try:
        project = open_project(name)
    except UserError as err:
        assert err.key == "err.path.bad_name"
        return
    root = workspace_root() / "projects"
    assert project.root.parent == root and project.root.is_dir()


def test_new_run_dir_unique_and_timestamped():
    project = open_project()
    first, second = project.new_run_dir("generate"), project.new_run_dir("generate")
    assert first != second and first.is_dir() and second.is_dir()
    assert first.parent == project.runs_dir and second.name == first.name + "-2"
    datetime.strptime(first.name[:15], "%Y%m%d-%H%M%S")
    assert project.new_run_dir("../../evil").parent == project.runs_dir


def test_delete_image_guarded():
    project = open_project()
    import_uploads(project, [("a.png", png()), ("b.png", png((9, 9, 9)))], label="ok")
    project.delete_image("ok/a.png")
    assert list(scan_split(project)["rel"]) == ["ok/b.png"]
    with pytest.raises(UserError) as info:
        project.delete_image("ok/a.png")
    assert info.value.key == "err.project.no_image"
    for hostile in ("../../project.json", "/etc/passwd", "ok/../../../project.json"):
        with pytest.raises(UserError) as info:
            project.delete_image(hostile)
        assert info.value.key == "err.path.outside"
    with pytest.raises(UserError) as info:
        project.delete_image("ok")  # a class folder is not an image
    assert info.value.key == "err.project.no_image"
    assert (project.root / "project.json").is_file()


def test_clear_split_and_bad_split():
    project = open_project()
    import_uploads(project, [("a.png", png())], label="ok")
    import_uploads(project, [("b.png", png())], label="ok", split="onsite")
    assert project.clear_split("train") == 1
    assert scan_split(project, "train").empty and len(scan_split(project, "onsite")) == 1
    assert project.data_dir("train").is_dir()
    for bad in ("test", "../data"):
        with pytest.raises(UserError) as info:
            project.clear_split(bad)
        assert info.value.key == "err.project.bad_split"
    with pytest.raises(UserError):
        Project(project.root).data_dir("validation")


def test_record_import_keeps_history():
    project = open_project()
    import_uploads(project, [("a.png", png())], label="ok")
    import_uploads(project, [("b.png", png((5, 5, 5)))], label="ok", split="onsite")
    meta = project.meta()
    assert meta["data_source"] == "upload"
    assert [(m["split"], m["added"]) for m in meta["imports"]] == [("train", 1), ("onsite", 1)]
