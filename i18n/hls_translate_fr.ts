<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr">
  <context>
    <name>hls_translate</name>
    <message>
      <source>Band synthesis</source>
      <translation>Synthèse de bandes</translation>
    </message>
    <message>
      <source>Models</source>
      <translation>Modèles</translation>
    </message>
    <message>
      <source>Evaluation</source>
      <translation>Évaluation</translation>
    </message>
    <message>
      <source>Parameters:</source>
      <translation>Paramètres :</translation>
    </message>
    <message>
      <source>Outputs:</source>
      <translation>Sorties :</translation>
    </message>
    <message>
      <source>Evaluate a synthesized band</source>
      <translation>Évaluer une bande synthétisée</translation>
    </message>
    <message>
      <source>Scores a synthesized band against the real one (RMSE, MAE, bias, PSNR, SSIM), with a difference raster and a scatter/histogram plot.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Compares a synthesized band with a real one of the same band class, pixel by pixel in physical units (reflectance, or degC for thermal bands): RMSE, MAE, bias, PSNR and SSIM over the pixels valid in both, a difference raster (synthesized minus reference) and a PNG with a density scatter of synthesized against real values and their histograms. Stored numbers are scaled to physical values first (HLS/Sentinel-2 DN x 1e-4), so an int16 reference and a float32 synthesized band compare correctly.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The raster written by 'Synthesize HLS band' (or any raster holding the band to check).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Band number of the synthesized raster to evaluate (default: 1).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>A raster holding the real band: a single-band file (HLS granule band) or a multi-band stack.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Band number of the reference raster. Empty: the reference band of the same band class as the synthesized band, found from band descriptions or file names.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>If the two rasters are on different grids: 'none' refuses (the safe default), the others warp the reference onto the synthesized raster's grid with that method ('average' to compare with a finer reference).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Dynamic range of the physical values: 1.0 for reflectance (comparable across bands and scenes); e.g. 100 for brightness temperature in degC.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Float32 raster on the synthesized grid: synthesized minus reference in physical units; nodata where either is invalid.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>A PNG: density scatter of synthesized against real values with the 1:1 line, both value histograms and the histogram of the difference (from an evenly spaced sample of at most 200,000 valid pixels).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Synthesized raster</source>
      <translation>Raster synthétisé</translation>
    </message>
    <message>
      <source>Synthesized band</source>
      <translation>Bande synthétisée</translation>
    </message>
    <message>
      <source>Reference (real) raster</source>
      <translation>Raster de référence (réel)</translation>
    </message>
    <message>
      <source>Reference band</source>
      <translation>Bande de référence</translation>
    </message>
    <message>
      <source>Resample the reference onto the synthesized grid</source>
      <translation>Rééchantillonner la référence sur la grille synthétisée</translation>
    </message>
    <message>
      <source>none: the rasters must be on one grid</source>
      <translation>aucun : les rasters doivent partager une grille</translation>
    </message>
    <message>
      <source>Data range for PSNR and SSIM</source>
      <translation>Plage de valeurs pour le PSNR et le SSIM</translation>
    </message>
    <message>
      <source>Difference (synthesized minus reference)</source>
      <translation>Différence (synthétisée moins référence)</translation>
    </message>
    <message>
      <source>Scatter and histogram plot (PNG)</source>
      <translation>Nuage de points et histogrammes (PNG)</translation>
    </message>
    <message>
      <source>Root mean square error (physical units)</source>
      <translation>Erreur quadratique moyenne (unités physiques)</translation>
    </message>
    <message>
      <source>Mean absolute error (physical units)</source>
      <translation>Erreur absolue moyenne (unités physiques)</translation>
    </message>
    <message>
      <source>Mean of synthesized minus reference (physical units)</source>
      <translation>Moyenne de la synthétisée moins la référence (unités physiques)</translation>
    </message>
    <message>
      <source>Peak signal-to-noise ratio in dB (for DATA_RANGE)</source>
      <translation>Rapport signal sur bruit de crête en dB (pour DATA_RANGE)</translation>
    </message>
    <message>
      <source>Mean structural similarity (Gaussian window, sigma 1.5)</source>
      <translation>Similarité structurelle moyenne (fenêtre gaussienne, sigma 1,5)</translation>
    </message>
    <message>
      <source>Pixels valid in both rasters</source>
      <translation>Pixels valides dans les deux rasters</translation>
    </message>
    <message>
      <source>Band class compared</source>
      <translation>Classe de bande comparée</translation>
    </message>
    <message>
      <source>The metrics as text</source>
      <translation>Les mesures en texte</translation>
    </message>
    <message>
      <source>Model information</source>
      <translation>Informations sur le modèle</translation>
    </message>
    <message>
      <source>What an exported hls_translate model reads and synthesizes, how it tiles, what it was trained on and how well it did.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Reads the metadata embedded in an exported hls_translate ONNX model without running it: family, the bands it reads and synthesizes (with their Sentinel-2 and Landsat codes), units, tiling hints, training scenes and validation scores per band. The report is logged and shown as an HTML page; every value is also an output, so batch scripts (qgis_process --json) can read them.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>An exported model (hls-translate export). Empty: the model bundled with the plugin.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The readable report as an HTML page (opened in the results viewer).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Optional: write the full metadata document to this JSON file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Model file (.onnx; empty: the bundled model)</source>
      <translation>Fichier du modèle (.onnx ; vide : le modèle fourni)</translation>
    </message>
    <message>
      <source>Report (HTML)</source>
      <translation>Rapport (HTML)</translation>
    </message>
    <message>
      <source>Metadata as JSON</source>
      <translation>Métadonnées en JSON</translation>
    </message>
    <message>
      <source>Model family</source>
      <translation>Famille du modèle</translation>
    </message>
    <message>
      <source>Architecture</source>
      <translation>Architecture</translation>
    </message>
    <message>
      <source>Model version</source>
      <translation>Version du modèle</translation>
    </message>
    <message>
      <source>1 if the target band is chosen at inference, else 0</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Band classes the model reads (comma-separated keys)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Band classes the model synthesizes (comma-separated keys)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Units of the values the model reads and writes</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Nodata value of rasters written with this model</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Recommended tile size (pixels)</source>
      <translation>Taille de tuile recommandée (pixels)</translation>
    </message>
    <message>
      <source>Recommended tile overlap (pixels)</source>
      <translation>Recouvrement de tuiles recommandé (pixels)</translation>
    </message>
    <message>
      <source>Tile sizes must be multiples of this</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Receptive field (pixels)</source>
      <translation>Champ récepteur (pixels)</translation>
    </message>
    <message>
      <source>Human-readable summary</source>
      <translation>Résumé lisible</translation>
    </message>
    <message>
      <source>The whole metadata document (JSON text)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The JSON file written (empty if none)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>float32: physical values (reflectance, degC)</source>
      <translation>float32 : valeurs physiques (réflectance, °C)</translation>
    </message>
    <message>
      <source>int16 as HLS stores bands (x 10000, nodata -9999)</source>
      <translation>int16 comme HLS stocke les bandes (x 10000, nodata -9999)</translation>
    </message>
    <message>
      <source>as the input bands (their data type, scale, offset and nodata)</source>
      <translation>comme les bandes d'entrée (type, échelle, décalage et nodata)</translation>
    </message>
    <message>
      <source>Edge of the square tiles the model sees; a multiple of the model's stride. Larger tiles use more memory and see more context.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Pixels shared by neighbouring tiles and blended, which hides tile seams; smaller than the tile.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>cosine: smooth ramps across the overlap (default); gaussian: weight falling off from each tile's centre; mean: plain average; crop: each pixel from the nearest tile centre only.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Tiles sent to the model at once; more is faster on a GPU and uses more memory. Progress and cancellation are checked between batches.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Process only this area: the map view, a layer's extent or a drawn rectangle (any CRS; taken in whole pixels of the inputs' grid). Empty: the whole scene.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>input (default): stored like the input bands, with their data type, scale, offset and nodata, so that real and synthesized bands mix in the Raster Calculator; values are clipped to the valid range (reflectance -0.01 to 1.6). float32: the model's physical values (reflectance, degC), nodata -9999. int16: as HLS stores bands (reflectance x 10000, nodata -9999, scale written into the file).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>GTiff: tiled, compressed GeoTIFF with overviews; COG: Cloud-Optimized GeoTIFF.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Additional creation options</source>
      <translation>Options de création supplémentaires</translation>
    </message>
    <message>
      <source>GDAL creation options of the output format, KEY=VALUE separated by '|' (e.g. COMPRESS=ZSTD|ZSTD_LEVEL=9); they override the defaults (DEFLATE, 256 px tiles).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>auto: an NVIDIA GPU when onnxruntime-gpu can use one, else the CPU; cpu; cuda (fails clearly when CUDA is not usable).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Threads ONNX Runtime uses on the CPU.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>A categorical raster (scene classification, land cover, a drawn label) that a label-map model synthesizes bands from; read onto the input layer's grid by nearest neighbour only. Its values must be the model's classes (listed by Model information); other values and nodata give nodata. Leave empty for models that take bands.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Where each scene's categorical label raster is, e.g. {granule}_SCL.tif: {granule} is the scene's id; a relative pattern starts at the folder of the scene's files (an absolute one such as /data/scl/{granule}.tif names a folder of label files); * and ? must match one file; without {granule}, one raster for every scene. Read onto each scene's grid by nearest neighbour only; a scene without its label file, or whose labels hold none of the model's classes, is refused by the checks. Leave empty for models that take bands.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Seeds the one style vector a multimodal label-map model is fed for the whole raster: the same seed gives the same pixels.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Tile size (pixels; 0 = the model's recommendation)</source>
      <translation>Taille des tuiles (pixels ; 0 = la recommandation du modèle)</translation>
    </message>
    <message>
      <source>Tile overlap (pixels; -1 = the model's recommendation)</source>
      <translation>Recouvrement des tuiles (pixels ; -1 = la recommandation du modèle)</translation>
    </message>
    <message>
      <source>Blending of overlapping tiles</source>
      <translation>Fusion des tuiles qui se recouvrent</translation>
    </message>
    <message>
      <source>Batch size (tiles per model run)</source>
      <translation>Taille de lot (tuiles par passage du modèle)</translation>
    </message>
    <message>
      <source>When the target band is among the inputs, keep its valid pixels and synthesize only its nodata pixels (stripes, missing tiles). Off: the whole band is synthesized.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Clip extent (empty: the whole scene)</source>
      <translation>Emprise de découpage (vide : toute la scène)</translation>
    </message>
    <message>
      <source>Output data type</source>
      <translation>Type de données en sortie</translation>
    </message>
    <message>
      <source>Output format</source>
      <translation>Format de sortie</translation>
    </message>
    <message>
      <source>With an HLS Fmask or Sentinel-2 SCL layer among the inputs: treat cloud/shadow/... pixels it flags as nodata in the inputs (the output is nodata there).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Device</source>
      <translation>Processeur</translation>
    </message>
    <message>
      <source>CPU threads (0 = ONNX Runtime's default)</source>
      <translation>Fils d'exécution CPU (0 = la valeur par défaut d'ONNX Runtime)</translation>
    </message>
    <message>
      <source>Label layer (label-map models such as SPADE)</source>
      <translation>Couche d'étiquettes (modèles à carte d'étiquettes comme SPADE)</translation>
    </message>
    <message>
      <source>Label file of each scene (label-map models such as SPADE)</source>
      <translation>Fichier d'étiquettes de chaque scène (modèles à carte d'étiquettes comme SPADE)</translation>
    </message>
    <message>
      <source>Style seed (label-map models with a style input)</source>
      <translation>Graine du style (modèles à carte d'étiquettes avec une entrée de style)</translation>
    </message>
    <message>
      <source>Gap-fill: keep the band's real pixels</source>
      <translation>Combler les lacunes : garder les pixels réels de la bande</translation>
    </message>
    <message>
      <source>Mask pixels flagged by the QA layer</source>
      <translation>Masquer les pixels signalés par la couche QA</translation>
    </message>
    <message>
      <source>HLS Band Translator</source>
      <translation>HLS Band Translator</translation>
    </message>
    <message>
      <source>HLS Band Translator {version} (ONNX band synthesis)</source>
      <translation>HLS Band Translator {version} (synthèse de bandes ONNX)</translation>
    </message>
    <message>
      <source>Synthesize HLS band</source>
      <translation>Synthétiser une bande HLS</translation>
    </message>
    <message>
      <source>Synthesizes missing spectral bands (cirrus, red edge, SWIR, ...) of a scene from the bands it has, with an exported hls_translate model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Synthesizes one or more spectral bands (for example the cirrus or a red-edge band) of a scene from the bands you have, with an exported hls_translate model (the bundled one by default). Inputs are raster layers: several single-band layers (HLS ships one file per band) or one multi-band layer. Each layer's band is recognised from its file name (HLS, Sentinel-2 SAFE, Landsat, STAC asset names, a band code at its end), the band description or, for a VRT, its source files; the dialog's band table shows what was found and what will be resampled before you run, and the band mapping overrides it. Bands on different grids are resampled onto the finest one. The raster is processed tile by tile with overlapping, blended tiles and stored like the input bands (data type, scale, offset, nodata), with their CRS and geotransform. A cancelled run leaves no output file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>set 'Band mapping' (BAND_MAPPING), e.g. 1=B04 for band 1 of a multi-band layer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>choose a method under 'Resampling of bands on different grids' (RESAMPLING), e.g. bilinear</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>or choose the sensor under 'Sensor of the inputs' (SENSOR)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The scene's bands: several single-band layers (one file per band, as HLS ships them; an HLS Fmask or Sentinel-2 SCL layer among them can mask clouds) or one multi-band layer whose band descriptions name the bands (B1..B12, B8A). All must be files.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Band mapping (override detected bands)</source>
      <translation>Correspondance des bandes (remplace les bandes détectées)</translation>
    </message>
    <message>
      <source>Leave empty to use the bands detected from file names / band descriptions (shown in the band table and the log). Otherwise KEY=BAND entries separated by ';': for one multi-band layer KEY is a band number ('1=B02; 2=B03; 3=B04'), for single-band layers a layer or file name ('scene_x.tif=B8A'). BAND is a band code read on the scene's sensor (B8A), sensor-qualified (S30:B10, L30:B05) or a band class (nir_narrow, cirrus).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Band(s) to synthesize</source>
      <translation>Bande(s) à synthétiser</translation>
    </message>
    <message>
      <source>Band class(es) to synthesize (cirrus = S2/S30 B10, L30 B09; red_edge_1 = S2 B05; ...). Scripts may give names (TARGET_BANDS=cirrus,red_edge_1) or option numbers (= class ids). The model must be able to make them: the run is refused before it starts otherwise, listing what it can make. One output file per band.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Bands on different grids (Sentinel-2's 10, 20 and 60 m bands) are resampled onto the grid of the finest one with this method (bilinear by default; the log says which bands were resampled). 'none' refuses inputs on different grids instead.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>How band codes are read: 'auto' tells it from HLS file names (HLS.S30./HLS.L30.), Sentinel-2 / Landsat product names or the band set; choose one when codes such as B05 are ambiguous (Sentinel-2 red edge vs Landsat NIR).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Output GeoTIFF. With several target bands, one file per band: this name with _BAND appended (e.g. out_cirrus.tif).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Input band layers</source>
      <translation>Couches des bandes d'entrée</translation>
    </message>
    <message>
      <source>Model (.onnx; empty: the bundled model)</source>
      <translation>Modèle (.onnx ; vide : le modèle fourni)</translation>
    </message>
    <message>
      <source>Resampling of bands on different grids</source>
      <translation>Rééchantillonnage des bandes sur des grilles différentes</translation>
    </message>
    <message>
      <source>none: refuse bands on different grids</source>
      <translation>aucun : refuser les bandes sur des grilles différentes</translation>
    </message>
    <message>
      <source>Sensor of the inputs</source>
      <translation>Capteur des entrées</translation>
    </message>
    <message>
      <source>All files written (a list)</source>
      <translation>Tous les fichiers écrits (une liste)</translation>
    </message>
    <message>
      <source>Band classes synthesized, separated by ','</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Input bands as detected (file band -&gt; class)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>ONNX Runtime execution provider used</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Tiles the model ran on</source>
      <translation>Tuiles traitées par le modèle</translation>
    </message>
    <message>
      <source>Tiles skipped (all nodata / nothing to fill)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Run time in seconds</source>
      <translation>Durée d'exécution en secondes</translation>
    </message>
    <message>
      <source>An exported hls_translate model. Empty: the model bundled with the plugin ({name}), also in saved models, batch files and History. Its metadata says which bands it reads and can synthesize.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{model} cannot synthesize {bands}; it can synthesize: {can}</source>
      <translation>{model} ne sait pas synthétiser {bands} ; il sait synthétiser : {can}</translation>
    </message>
    <message>
      <source>Synthesize bands for a folder of granules</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Synthesizes bands for every scene of a folder of granules (or of band / STAC files), resumable, one file per scene and band.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Synthesizes band(s) for every scene of a folder of HLS granules (searched recursively; HLS, Sentinel-2 and Landsat file names are grouped into scenes) or of a list of files (band files, or STAC ItemCollection JSON files of local files), with an exported hls_translate model. Every scene is checked before any work; one file per scene and target is written to the output folder, named after the granule and the band (HLS.L30.T10SEG.2020273T184741.v2.0.B05.synth.tif; band codes in the HLS S30 numbering for every scene), with a run manifest (batch_manifest.jsonl). Running it again skips the scenes that are complete and redoes failed or missing ones. A scene that fails is recorded with its error and the others go on. Cancelling stops between scenes or tiles; finished scenes stay finished. A label-map model (SPADE) synthesizes each scene from its label raster, found with the label file pattern (e.g. {granule}_SCL.tif).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>A folder holding the scenes: HLS granule folders, or the band files of many granules side by side, searched recursively. Leave empty to give a list of files instead.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Band files (grouped into scenes by their names) or STAC ItemCollection / Item / Catalog JSON files whose assets are local files; used with or instead of the folder.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Every scene is checked before any work (bands found, one grid, the model can make the bands). Off: any problem stops the run before it starts, listing them. On: those scenes are recorded as invalid in the manifest and the others are run.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Off: scenes the manifest shows complete (outputs still there, same model and options) are skipped. On: every scene is run again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Load every scene's synthesized band(s) when the run ends, in one layer group per band.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Folder of granules</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Or: band files / STAC JSON files</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Output folder</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Go on without scenes that fail the checks</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Redo complete scenes</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Load the results, one group per band</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Run manifest (JSON lines, one record per scene)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Files of every complete scene, separated by ';'</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Scenes done by this run</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Scenes skipped: complete before</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Scenes that failed</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Scenes refused by the checks</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Where the synthesized bands and the run manifest are written. </source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Translate raster with a model</source>
      <translation>Traduire un raster avec un modèle</translation>
    </message>
    <message>
      <source>Runs any exported hls_translate model (conditional, pix2pix, CycleGAN, ...) on one raster layer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Runs any exported hls_translate model on one raster layer, driven by the model's metadata: a conditional model (one model for every band, like the bundled one) synthesizes the TARGET band from the layer's bands; a fixed-band model (pix2pix, CycleGAN, ...) reads the bands its metadata lists and writes its output bands; a label-map model (SPADE) writes its output bands from the LABELS layer on the input layer's grid. Tiled with overlap and blending; the output keeps the layer's CRS and geotransform and is stored like the layer's bands unless another data type is chosen.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>A raster layer (file) holding the model's input bands.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>An exported hls_translate model of any family. Empty: the bundled model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Conditional models: the band(s) to synthesize, separated by ',' (a class such as cirrus or red_edge_1, or a band code of the layer's sensor such as B10). Fixed-band models: optionally, which of the model's output bands to write (default: all).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Which band of the layer is which: 'NUMBER=BAND' entries separated by ';' (e.g. '1=B04; 2=B03; 3=B02'). Empty: from the band descriptions or file name; for a fixed-band model a layer with unnamed bands is read in the model's band order.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Output GeoTIFF, one band per output band of the model / target.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Input raster</source>
      <translation>Raster d'entrée</translation>
    </message>
    <message>
      <source>Target band(s)</source>
      <translation>Bande(s) cible(s)</translation>
    </message>
    <message>
      <source>Translated raster</source>
      <translation>Raster traduit</translation>
    </message>
    <message>
      <source>Band classes written, separated by ','</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Layer</source>
      <translation>Couche</translation>
    </message>
    <message>
      <source>Band</source>
      <translation>Bande</translation>
    </message>
    <message>
      <source>Taken as</source>
      <translation>Lue comme</translation>
    </message>
    <message>
      <source>Told by</source>
      <translation>Indiquée par</translation>
    </message>
    <message>
      <source>Pixel size</source>
      <translation>Taille de pixel</translation>
    </message>
    <message>
      <source>Notes</source>
      <translation>Remarques</translation>
    </message>
    <message>
      <source>empty: the bands as detected; or e.g. 1=B04; scene_B05.tif=B8A</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Choose the band this row holds; the band mapping above is updated.</source>
      <translation>Choisissez la bande de cette ligne ; la correspondance ci-dessus est mise à jour.</translation>
    </message>
    <message>
      <source>Note</source>
      <translation>Remarque</translation>
    </message>
    <message>
      <source>choose the input band layers</source>
      <translation>choisissez les couches des bandes d'entrée</translation>
    </message>
    <message>
      <source>Error</source>
      <translation>Erreur</translation>
    </message>
    <message>
      <source>Install {build} into the plugin's folder
{folder}

with
{command}

The plugin adds that folder to QGIS's Python when it starts; nothing else is changed.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Installing {build}</source>
      <translation>Installation de {build}</translation>
    </message>
    <message>
      <source>{build} is installed; the algorithms can run now.</source>
      <translation>{build} est installé ; les algorithmes peuvent maintenant s’exécuter.</translation>
    </message>
    <message>
      <source>installing {build} failed; see the log (View &gt; Panels &gt; Log Messages) for pip's output</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Synthesize HLS band…</source>
      <translation>Synthétiser une bande HLS…</translation>
    </message>
    <message>
      <source>Translate raster with a model…</source>
      <translation>Traduire un raster avec un modèle…</translation>
    </message>
    <message>
      <source>Evaluate a synthesized band…</source>
      <translation>Évaluer une bande synthétisée…</translation>
    </message>
    <message>
      <source>Model information…</source>
      <translation>Informations sur le modèle…</translation>
    </message>
    <message>
      <source>How to install</source>
      <translation>Comment installer</translation>
    </message>
    <message>
      <source>Install ONNX Runtime…</source>
      <translation>Installer ONNX Runtime…</translation>
    </message>
    <message>
      <source>missing Python package(s): {packages}</source>
      <translation>paquet(s) Python manquant(s) : {packages}</translation>
    </message>
  </context>
</TS>
