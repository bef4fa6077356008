"""From loaded images to what features are computed on: SUV, resampling, fusion, VOIs.

Public entry points (see each module):

- :func:`radscore.imaging.preprocess.prepare_patient` -> :class:`~radscore.imaging.preprocess.PreparedPatient`
- :mod:`radscore.imaging.resample`: ``resample_to_spacing``, ``resample_like``, ``resample_mask_like``
- :mod:`radscore.imaging.fusion`: ``fuse``
- :mod:`radscore.imaging.voi`: ``body_mask``, ``make_vois``
- :mod:`radscore.imaging.suv`: ``SuvFactor``, ``suv_factor_from_headers`` (DICOM reading in :mod:`radscore.io.dicom`)
- :mod:`radscore.imaging.segmentation`: ``threshold_segment``, ``segment_pet_image``
- :mod:`radscore.imaging.perturb`: ``perturbed_masks``, ``dilate_voxels``, ``erode_voxels``, ``random_contour``
- :mod:`radscore.imaging.registration`: ``register_rigid``
- :mod:`radscore.imaging.commands`: ``cmd_suv``, ``cmd_rtstruct`` (CLI actions)
"""
