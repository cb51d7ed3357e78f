"""napari says the widgets' words for the parameters a core error names."""

from napari_irdm.errors import ParameterError


def test_one_line_uses_widget_words():
    from napari_irdm._napari._widgets._runner import WIDGET_NAMES, one_line

    err = ParameterError("no pixel size in a.mrc: give `pixel_size_A` in Å", "pixel_size_A")
    line = one_line(err)
    assert line == f"no pixel size in a.mrc: give {WIDGET_NAMES['pixel_size_A']} in Å"
    assert "`" not in line and "--" not in line
