"""Matching method files to test images by name, as SR tools name their outputs."""

from __future__ import annotations

from pathlib import Path

from rwsr.eval.methods import parse_sr_option
from rwsr.eval.samples import Sample, match_files


def test_names_with_suffixes_match_and_the_rest_is_reported() -> None:
    samples = [
        Sample("021", Path("hr/021H.PNG"), Path("lr/021L.PNG")),
        Sample("0801", Path("hr/0801.png")),
        Sample("Canon_001", Path("hr/Canon_001_HR.png"), Path("lr/Canon_001_LR4.png")),
        Sample("002", Path("hr/002.png")),
        Sample("003", Path("hr/003.png")),
    ]
    files = [
        Path(name)
        for name in (
            "021L_x1.png",  # rwsr upscale's naming of 021L.PNG
            "0801x4.png",  # DIV2K style
            "Canon_001_LR4_rlt.png",  # BasicSR results of the LR file
            "002_a.png",
            "002_b.png",  # ambiguous: neither is used
            "0210.png",  # not 021 followed by a separator
            "notes.png",
        )
    ]
    found, missing, notes = match_files(samples, files)
    assert found == {
        "021": Path("021L_x1.png"),
        "0801": Path("0801x4.png"),
        "Canon_001": Path("Canon_001_LR4_rlt.png"),
    }
    assert missing == ["002", "003"]
    assert any("002: several files match (002_a.png, 002_b.png)" in n for n in notes)
    assert any("4 file(s) match no test image" in n and "0210.png" in n for n in notes)


def test_an_exact_name_wins_over_a_prefix() -> None:
    samples = [Sample("img", Path("hr/img.png"))]
    found, missing, _ = match_files(samples, [Path("img_old.png"), Path("img.png")])
    assert found == {"img": Path("img.png")} and not missing


def test_sr_option_forms() -> None:
    assert parse_sr_option("ours=results/x4") == ("ours", Path("results/x4"))
    assert parse_sr_option("results/esrgan") == ("esrgan", Path("results/esrgan"))
