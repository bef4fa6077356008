"""PyRadiomics feature names -> IBSI 1 feature tags (3-D, directions averaged), for compliance checks.

PyRadiomics merges texture matrices' features by averaging over the 13 directions, which
is IBSI's ``3D_avg`` for GLCM/GLRLM; GLSZM, GLDM (= IBSI NGLDM with alpha 0, distance 1)
and NGTDM are ``3D``. PyRadiomics' known deviations from IBSI (its documentation,
"Radiomic Features"): ``Kurtosis`` is not excess kurtosis (IBSI + 3), first-order
features other than entropy/uniformity use the raw intensities (IBSI ``stat_*``), and the
fixed-bin-size discretisation is anchored at 0, not at the re-segmentation minimum.

References: Zwanenburg A et al. The Image Biomarker Standardization Initiative.
Radiology 2020;295:328-338. doi:10.1148/radiol.2020191145
"""

from __future__ import annotations

IBSI_TAGS: dict[str, str] = {
    # morphology
    "shape_MeshVolume": "morph_volume", "shape_VoxelVolume": "morph_vol_approx",
    "shape_SurfaceArea": "morph_area_mesh", "shape_SurfaceVolumeRatio": "morph_av",
    "shape_Sphericity": "morph_sphericity", "shape_Maximum3DDiameter": "morph_diam",
    "shape_MajorAxisLength": "morph_pca_maj_axis", "shape_MinorAxisLength": "morph_pca_min_axis",
    "shape_LeastAxisLength": "morph_pca_least_axis", "shape_Elongation": "morph_pca_elongation",
    "shape_Flatness": "morph_pca_flatness",
    # intensity statistics and histogram
    "firstorder_Mean": "stat_mean", "firstorder_Variance": "stat_var", "firstorder_Skewness": "stat_skew",
    "firstorder_Kurtosis": "stat_kurt", "firstorder_Median": "stat_median", "firstorder_Minimum": "stat_min",
    "firstorder_10Percentile": "stat_p10", "firstorder_90Percentile": "stat_p90", "firstorder_Maximum": "stat_max",
    "firstorder_InterquartileRange": "stat_iqr", "firstorder_Range": "stat_range",
    "firstorder_MeanAbsoluteDeviation": "stat_mad", "firstorder_RobustMeanAbsoluteDeviation": "stat_rmad",
    "firstorder_Energy": "stat_energy", "firstorder_RootMeanSquared": "stat_rms",
    "firstorder_Entropy": "ih_entropy", "firstorder_Uniformity": "ih_uniformity",
    # GLCM
    "glcm_MaximumProbability": "cm_joint_max", "glcm_JointAverage": "cm_joint_avg",
    "glcm_SumSquares": "cm_joint_var", "glcm_JointEntropy": "cm_joint_entr",
    "glcm_DifferenceAverage": "cm_diff_avg", "glcm_DifferenceVariance": "cm_diff_var",
    "glcm_DifferenceEntropy": "cm_diff_entr", "glcm_SumAverage": "cm_sum_avg", "glcm_SumEntropy": "cm_sum_entr",
    "glcm_JointEnergy": "cm_energy", "glcm_Contrast": "cm_contrast", "glcm_Id": "cm_inv_diff",
    "glcm_Idn": "cm_inv_diff_norm", "glcm_Idm": "cm_inv_diff_mom", "glcm_Idmn": "cm_inv_diff_mom_norm",
    "glcm_InverseVariance": "cm_inv_var", "glcm_Correlation": "cm_corr", "glcm_Autocorrelation": "cm_auto_corr",
    "glcm_ClusterTendency": "cm_clust_tend", "glcm_ClusterShade": "cm_clust_shade",
    "glcm_ClusterProminence": "cm_clust_prom", "glcm_Imc1": "cm_info_corr1", "glcm_Imc2": "cm_info_corr2",
    # GLRLM
    "glrlm_ShortRunEmphasis": "rlm_sre", "glrlm_LongRunEmphasis": "rlm_lre",
    "glrlm_LowGrayLevelRunEmphasis": "rlm_lgre", "glrlm_HighGrayLevelRunEmphasis": "rlm_hgre",
    "glrlm_ShortRunLowGrayLevelEmphasis": "rlm_srlge", "glrlm_ShortRunHighGrayLevelEmphasis": "rlm_srhge",
    "glrlm_LongRunLowGrayLevelEmphasis": "rlm_lrlge", "glrlm_LongRunHighGrayLevelEmphasis": "rlm_lrhge",
    "glrlm_GrayLevelNonUniformity": "rlm_glnu", "glrlm_GrayLevelNonUniformityNormalized": "rlm_glnu_norm",
    "glrlm_RunLengthNonUniformity": "rlm_rlnu", "glrlm_RunLengthNonUniformityNormalized": "rlm_rlnu_norm",
    "glrlm_RunPercentage": "rlm_r_perc", "glrlm_GrayLevelVariance": "rlm_gl_var",
    "glrlm_RunVariance": "rlm_rl_var", "glrlm_RunEntropy": "rlm_rl_entr",
    # GLSZM
    "glszm_SmallAreaEmphasis": "szm_sze", "glszm_LargeAreaEmphasis": "szm_lze",
    "glszm_LowGrayLevelZoneEmphasis": "szm_lgze", "glszm_HighGrayLevelZoneEmphasis": "szm_hgze",
    "glszm_SmallAreaLowGrayLevelEmphasis": "szm_szlge", "glszm_SmallAreaHighGrayLevelEmphasis": "szm_szhge",
    "glszm_LargeAreaLowGrayLevelEmphasis": "szm_lzlge", "glszm_LargeAreaHighGrayLevelEmphasis": "szm_lzhge",
    "glszm_GrayLevelNonUniformity": "szm_glnu", "glszm_GrayLevelNonUniformityNormalized": "szm_glnu_norm",
    "glszm_SizeZoneNonUniformity": "szm_zsnu", "glszm_SizeZoneNonUniformityNormalized": "szm_zsnu_norm",
    "glszm_ZonePercentage": "szm_z_perc", "glszm_GrayLevelVariance": "szm_gl_var",
    "glszm_ZoneVariance": "szm_zs_var", "glszm_ZoneEntropy": "szm_zs_entr",
    # GLDM (IBSI NGLDM)
    "gldm_SmallDependenceEmphasis": "ngl_lde", "gldm_LargeDependenceEmphasis": "ngl_hde",
    "gldm_LowGrayLevelEmphasis": "ngl_lgce", "gldm_HighGrayLevelEmphasis": "ngl_hgce",
    "gldm_SmallDependenceLowGrayLevelEmphasis": "ngl_ldlge", "gldm_SmallDependenceHighGrayLevelEmphasis": "ngl_ldhge",
    "gldm_LargeDependenceLowGrayLevelEmphasis": "ngl_hdlge", "gldm_LargeDependenceHighGrayLevelEmphasis": "ngl_hdhge",
    "gldm_GrayLevelNonUniformity": "ngl_glnu", "gldm_DependenceNonUniformity": "ngl_dcnu",
    "gldm_DependenceNonUniformityNormalized": "ngl_dcnu_norm", "gldm_GrayLevelVariance": "ngl_gl_var",
    "gldm_DependenceVariance": "ngl_dc_var", "gldm_DependenceEntropy": "ngl_dc_entr",
    # NGTDM
    "ngtdm_Coarseness": "ngt_coarseness", "ngtdm_Contrast": "ngt_contrast", "ngtdm_Busyness": "ngt_busyness",
    "ngtdm_Complexity": "ngt_complexity", "ngtdm_Strength": "ngt_strength",
}

#: IBSI permanent identifiers (4-character codes) and names of the tags above, for coding
#: features in DICOM SR (:mod:`radscore.io.dicom_out`). From the IBSI 1 reference manual
#: (Zwanenburg et al., arXiv:1612.07003), each code checked against two public tables of it
#: (PyRadiomics ``labs/pyradiomics-dcm/resources/featuresDict_IBSIv7.tsv`` by feature name, and
#: an independent MIRP-tag table). ``stat_kurt`` is left out on purpose: PyRadiomics' Kurtosis is
#: not IBSI's excess kurtosis (it is 3 higher), so coding it as IBSI IPH6 would misstate the value.
IBSI_CODES: dict[str, tuple[str, str]] = {
    "morph_volume": ("RNU0", "Volume"), "morph_vol_approx": ("YEKZ", "Approximate volume"),
    "morph_area_mesh": ("C0JK", "Surface area"), "morph_av": ("2PR5", "Surface to volume ratio"),
    "morph_sphericity": ("QCFX", "Sphericity"), "morph_diam": ("L0JK", "Maximum 3D diameter"),
    "morph_pca_maj_axis": ("TDIC", "Major axis length"), "morph_pca_min_axis": ("P9VJ", "Minor axis length"),
    "morph_pca_least_axis": ("7J51", "Least axis length"), "morph_pca_elongation": ("Q3CK", "Elongation"),
    "morph_pca_flatness": ("N17B", "Flatness"),
    "stat_mean": ("Q4LE", "Mean"), "stat_var": ("ECT3", "Variance"), "stat_skew": ("KE2A", "Skewness"),
    "stat_median": ("Y12H", "Median"), "stat_min": ("1GSF", "Minimum grey level"),
    "stat_p10": ("QG58", "10th percentile"), "stat_p90": ("8DWT", "90th percentile"),
    "stat_max": ("84IY", "Maximum grey level"), "stat_iqr": ("SALO", "Interquartile range"),
    "stat_range": ("2OJQ", "Range"), "stat_mad": ("4FUA", "Mean absolute deviation"),
    "stat_rmad": ("1128", "Robust mean absolute deviation"), "stat_energy": ("N8CA", "Energy"),
    "stat_rms": ("5ZWQ", "Root mean square"),
    "ih_entropy": ("TLU2", "Intensity histogram entropy"), "ih_uniformity": ("BJ5W", "Intensity histogram uniformity"),
    "cm_joint_max": ("GYBY", "Joint maximum"), "cm_joint_avg": ("60VM", "Joint average"),
    "cm_joint_var": ("UR99", "Joint variance"), "cm_joint_entr": ("TU9B", "Joint entropy"),
    "cm_diff_avg": ("TF7R", "Difference average"), "cm_diff_var": ("D3YU", "Difference variance"),
    "cm_diff_entr": ("NTRS", "Difference entropy"), "cm_sum_avg": ("ZGXS", "Sum average"),
    "cm_sum_entr": ("P6QZ", "Sum entropy"), "cm_energy": ("8ZQL", "Angular second moment"),
    "cm_contrast": ("ACUI", "Contrast (GLCM)"), "cm_inv_diff": ("IB1Z", "Inverse difference"),
    "cm_inv_diff_norm": ("NDRX", "Normalised inverse difference"),
    "cm_inv_diff_mom": ("WF0Z", "Inverse difference moment"),
    "cm_inv_diff_mom_norm": ("1QCO", "Normalised inverse difference moment"),
    "cm_inv_var": ("E8JP", "Inverse variance"), "cm_corr": ("NI2N", "Correlation"),
    "cm_auto_corr": ("QWB0", "Autocorrelation"), "cm_clust_tend": ("DG8W", "Cluster tendency"),
    "cm_clust_shade": ("7NFM", "Cluster shade"), "cm_clust_prom": ("AE86", "Cluster prominence"),
    "cm_info_corr1": ("R8DG", "First measure of information correlation"),
    "cm_info_corr2": ("JN9H", "Second measure of information correlation"),
    "rlm_sre": ("22OV", "Short runs emphasis"), "rlm_lre": ("W4KF", "Long runs emphasis"),
    "rlm_lgre": ("V3SW", "Low grey level run emphasis"), "rlm_hgre": ("G3QZ", "High grey level run emphasis"),
    "rlm_srlge": ("HTZT", "Short run low grey level emphasis"),
    "rlm_srhge": ("GD3A", "Short run high grey level emphasis"),
    "rlm_lrlge": ("IVPO", "Long run low grey level emphasis"),
    "rlm_lrhge": ("3KUM", "Long run high grey level emphasis"),
    "rlm_glnu": ("R5YN", "Grey level non-uniformity (GLRLM)"),
    "rlm_glnu_norm": ("OVBL", "Normalised grey level non-uniformity (GLRLM)"),
    "rlm_rlnu": ("W92Y", "Run length non-uniformity"), "rlm_rlnu_norm": ("IC23", "Normalised run length non-uniformity"),
    "rlm_r_perc": ("9ZK5", "Run percentage"), "rlm_gl_var": ("8CE5", "Grey level variance (GLRLM)"),
    "rlm_rl_var": ("SXLW", "Run length variance"), "rlm_rl_entr": ("HJ9O", "Run entropy"),
    "szm_sze": ("5QRC", "Small zone emphasis"), "szm_lze": ("48P8", "Large zone emphasis"),
    "szm_lgze": ("XMSY", "Low grey level zone emphasis"), "szm_hgze": ("5GN9", "High grey level zone emphasis"),
    "szm_szlge": ("5RAI", "Small zone low grey level emphasis"),
    "szm_szhge": ("HW1V", "Small zone high grey level emphasis"),
    "szm_lzlge": ("YH51", "Large zone low grey level emphasis"),
    "szm_lzhge": ("J17V", "Large zone high grey level emphasis"),
    "szm_glnu": ("JNSA", "Grey level non-uniformity (GLSZM)"),
    "szm_glnu_norm": ("Y1RO", "Normalised grey level non-uniformity (GLSZM)"),
    "szm_zsnu": ("4JP3", "Zone size non-uniformity"), "szm_zsnu_norm": ("VB3A", "Normalised zone size non-uniformity"),
    "szm_z_perc": ("P30P", "Zone percentage"), "szm_gl_var": ("BYLV", "Grey level variance (GLSZM)"),
    "szm_zs_var": ("3NSA", "Zone size variance"), "szm_zs_entr": ("GU8N", "Zone size entropy"),
    "ngl_lde": ("SODN", "Low dependence emphasis"), "ngl_hde": ("IMOQ", "High dependence emphasis"),
    "ngl_lgce": ("TL9H", "Low grey level count emphasis"), "ngl_hgce": ("OAE7", "High grey level count emphasis"),
    "ngl_ldlge": ("EQ3F", "Low dependence low grey level emphasis"),
    "ngl_ldhge": ("JA6D", "Low dependence high grey level emphasis"),
    "ngl_hdlge": ("NBZI", "High dependence low grey level emphasis"),
    "ngl_hdhge": ("9QMG", "High dependence high grey level emphasis"),
    "ngl_glnu": ("FP8K", "Grey level non-uniformity (NGLDM)"),
    "ngl_dcnu": ("Z87G", "Dependence count non-uniformity"),
    "ngl_dcnu_norm": ("OKJI", "Dependence count non-uniformity normalised"),
    "ngl_gl_var": ("1PFV", "Grey level variance (NGLDM)"), "ngl_dc_var": ("DNX2", "Dependence count variance"),
    "ngl_dc_entr": ("FCBV", "Dependence count entropy"),
    "ngt_coarseness": ("QCDE", "Coarseness"), "ngt_contrast": ("65HE", "Contrast (NGTDM)"),
    "ngt_busyness": ("NQ30", "Busyness"), "ngt_complexity": ("HDEZ", "Complexity"), "ngt_strength": ("1X9X", "Strength"),
}

#: Which IBSI tag suffix a family's features carry in 3-D extraction.
SUFFIX_3D = {"cm": "_3D_avg", "rlm": "_3D_avg", "szm": "_3D", "ngl": "_3D", "ngt": "_3D"}


def ibsi_tag(pyradiomics_name: str, dims: str = "3D") -> str | None:
    """IBSI tag of ``original_glcm_Contrast`` etc. (``None`` when IBSI has no counterpart).

    ``dims`` is ``"3D"`` or ``"2.5D"``: PyRadiomics' ``force2D`` pools in-plane neighbours
    of all slices into one matrix per direction, which is IBSI's 2.5-D (``_2_5D_avg`` for
    GLCM/GLRLM, ``_2_5D`` for the others).
    """
    parts = pyradiomics_name.split("_", 1)
    key = parts[1] if parts[0] == "original" else pyradiomics_name
    tag = IBSI_TAGS.get(key)
    if tag is None:
        return None
    family = tag.split("_")[0]
    if family in SUFFIX_3D:
        if dims == "3D":
            return tag + SUFFIX_3D[family]
        return tag + ("_2_5D_avg" if family in ("cm", "rlm") else "_2_5D")
    return tag


def ibsi_family(tag: str) -> str:
    """IBSI family of a tag: morph, stat, ih, cm, rlm, szm, ngl, ngt."""
    return tag.split("_")[0]


def ibsi_code(pyradiomics_name: str) -> tuple[str, str] | None:
    """IBSI identifier and name of ``original_glcm_Contrast`` etc. (:data:`IBSI_CODES`), or None.

    Only features of the original image are IBSI 1 features; a filtered image's (wavelet,
    LoG, ...) have no IBSI 1 code.
    """
    if not pyradiomics_name.startswith("original_"):
        return None
    tag = IBSI_TAGS.get(pyradiomics_name[len("original_"):])
    return IBSI_CODES.get(tag) if tag is not None else None
