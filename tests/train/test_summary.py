"""The text a training run prints (train.summary.report and closing): aligned tables, no empty section, and
the last lines name the MLflow runs, summary.json and report.html."""
from __future__ import annotations

import dataclasses
import re

from train.summary import report


def test_the_output_ends_naming_the_report_and_the_summary(trained):
    lines = trained.job.report.splitlines()
    assert lines[-1] == f"report:  {trained.root / 'report.html'}" and (trained.root / "report.html").is_file()
    assert lines[-2] == f"summary: {trained.job.summary_path}"
    assert lines[-3].startswith("MLflow: experiment 'pql-train'") and "runs?workflowType=machine_learning" in lines[-3]


def test_tables_align_and_sections_are_one_blank_line_apart(trained):
    text = trained.job.report
    assert "\n\n\n" not in text and not text.startswith("\n")
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("tier  "))
    names = re.findall(r"\S+(?: \S+)*", lines[head])
    assert names == ["tier", "accounts", "per snapshot", "converted", "rate"]  # never "accounts per snapshot"
    ends = [m.end() for m in re.finditer(r"\S+(?: \S+)*", lines[head])]
    for row in lines[head + 1:head + 4]:
        cells = [m.end() for m in re.finditer(r"\S+(?: \S+)*", row)]
        assert cells[1:4] == ends[1:4]  # the counts end where their headers end


def test_a_section_with_nothing_to_say_is_left_out(trained):
    result = trained.job.result
    empty = dataclasses.replace(result, comparison=result.comparison.iloc[0:0])
    text = report(empty, trained.job.summary)
    assert "Learned model vs hand-defined PQL rules" not in text and "no hand-defined rules" not in text
    assert "Learned model vs hand-defined PQL rules" in report(result, trained.job.summary)


def test_the_closing_lines_mask_a_store_password(tmp_path):
    from train.summary import closing

    text = closing(tmp_path / "report.html", tmp_path / "summary.json", "pql-train-crm", "http://x/#/experiments/1/runs",
                   "postgresql://pql:s3cret@db/mlflow")
    assert "s3cret" not in text and "postgresql://pql:***@db/mlflow" in text
    assert text.splitlines()[-1] == f"report:  {tmp_path / 'report.html'}"
