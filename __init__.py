"""hls_translate: synthesize one spectral band of HLS / Sentinel-2 / Landsat imagery from others.

This folder is at once the QGIS plugin (``metadata.txt`` beside this file) and the Python package
``hls_translate``.  Importing the package imports nothing heavy: QGIS, torch and onnxruntime are imported
only by the modules that need them.
"""

__version__ = "0.1.0"


def classFactory(iface):  # noqa: N802 - name fixed by QGIS
    """QGIS entry point: build the plugin object (imports QGIS-dependent code only now)."""
    from .qgis_plugin.plugin import HLSTranslatePlugin

    return HLSTranslatePlugin(iface)
