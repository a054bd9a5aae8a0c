"""Readable model information and the synthesized-vs-real plot (issue 13: point 8, evaluate_band's PNG)."""

import numpy as np
from osgeo import gdal

from hls_translate.core.comparison_plot import PairSample, write_comparison_png
from hls_translate.core.metadata import read_metadata
from hls_translate.core.model_report import model_report, report_html, report_text
from support import REPO

MODEL = REPO / "resources" / "models" / "hls_translate_default.onnx"


def test_model_report_reads_as_text_not_as_a_dict():
    md = read_metadata(str(MODEL))
    sections = model_report(md, str(MODEL))
    # the bundled model (2.2-issue12) is an ensemble of three trainings with a tree prior: no single member's
    # validation numbers, the held-out evaluation instead
    assert [s.title for s in sections] == ["Model", "Bands", "Tiling", "Trained on", "Held-out evaluation"]
    text = report_text(sections)
    assert "{" not in text and "': " not in text  # no Python or JSON dict printed
    assert "cirrus (S2 B10, Landsat B09)" in text
    assert "held out (never trained on)  Spain, T37MEM, T29QND, LC08_016037" in text
    members = next(line for line in text.splitlines() if line.strip().startswith("members "))
    assert members.split(None, 1)[1] == "3 trainings (seeds 0, 1, 2, 18,000 steps each); the network's output is their mean"
    trees = next(line for line in text.splitlines() if line.strip().startswith("trees "))
    assert trees.split(None, 1)[1] == ("3900 gradient-boosted trees for 13 targets (300 per target, at most 31 leaves, "
                                        "fitted on 20000 pixels per training scene); output = 0.5 x network + 0.5 x trees")
    # the held-out evaluation beside both baselines, as the metadata carries it
    cell = md.metrics["held_out_evaluation"]["cells"]["all"]["Spain:B10"]
    row = next(line for line in text.splitlines() if line.strip().startswith("Spain:B10 (all other bands)"))
    assert row.split()[-4:] == [f"{cell[k]:.4g}" for k in ("rmse", "bias", "linear_rmse", "gbt_rmse")]
    flat = " ".join(text.split())
    assert "beats the linear fit in 75 % of the cells" in flat and "beats the boosted trees in 61 % of the cells" in flat
    assert "T19UDP" in text and "recommended tile  512 px, overlap 0 px" in text
    page = report_html(sections, "Model x")
    assert page.count("<tr>") > 20 and "<th>RMSE</th>" in page


def test_pair_sample_is_the_same_whatever_the_strips(tmp_path):
    rng = np.random.default_rng(0)
    real = rng.random((97, 53)).astype(np.float32)
    synth = real + rng.normal(0, 0.01, real.shape).astype(np.float32)
    valid = rng.random(real.shape) > 0.2
    samples = []
    for rows in (97, 10, 1):
        s = PairSample(97, 53, limit=500)
        for r0 in range(0, 97, rows):
            s.add(r0, real[r0:r0 + rows], synth[r0:r0 + rows], valid[r0:r0 + rows])
        samples.append((s.real, s.synthesized))
    step = samples[0][0].size
    assert 0 < step <= 500
    for r, y in samples[1:]:
        np.testing.assert_array_equal(r, samples[0][0])
        np.testing.assert_array_equal(y, samples[0][1])
    flat = np.arange(real.size)
    want = flat[(flat % PairSample(97, 53, 500).step == 0) & valid.ravel()]
    np.testing.assert_array_equal(samples[0][0], real.ravel()[want])
    png = write_comparison_png(str(tmp_path / "p.png"), s, "B10 cirrus", "reflectance", "summary line")
    ds = gdal.Open(png)
    assert ds.GetDriver().ShortName == "PNG" and (ds.RasterXSize, ds.RasterYSize) == (960, 320)
    assert len(np.unique(ds.ReadAsArray())) > 50  # axes, labels, a colour map: a real plot
