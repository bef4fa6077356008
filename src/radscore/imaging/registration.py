"""Optional rigid PET-to-CT registration (SimpleITK), off by default.

Hybrid PET/CT scanners produce already-aligned series, so the studies did not register.
For PET and CT acquired apart, a rigid (6 degrees of freedom) registration with Mattes
mutual information - the standard metric for multi-modal images (Mattes et al., IEEE TMI
2003) - maps the CT grid into PET space before PET is resampled.
"""

from __future__ import annotations

import logging

import SimpleITK as sitk

from radscore.errors import ImageError

logger = logging.getLogger(__name__)


def register_rigid(fixed_ct: sitk.Image, moving_pet: sitk.Image, *, seed: int = 42,
                   iterations: int = 200, patient: str | None = None) -> tuple[sitk.Transform, dict]:
    """Rigid transform from CT (fixed) space to PET (moving) space.

    Parameters
    ----------
    fixed_ct, moving_pet : SimpleITK.Image
    seed : int
        Seed of the metric's random sampling, for reproducible transforms.
    iterations : int
        Gradient-descent iterations.

    Returns
    -------
    transform : SimpleITK.Transform
        Pass to :func:`radscore.imaging.resample.resample_like` with the CT as reference.
    record : dict
        Final metric value, optimiser stop condition and the 6 parameters.
    """
    fixed = sitk.Cast(fixed_ct, sitk.sitkFloat32)
    moving = sitk.Cast(moving_pet, sitk.sitkFloat32)
    init = sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(),
                                             sitk.CenteredTransformInitializerFilter.GEOMETRY)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.05, seed)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-4, numberOfIterations=iterations)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2, 1, 0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(init, inPlace=False)
    # one thread: multi-threaded metric sums differ in the last bits from run to run, and
    # the run's outputs must be byte-identical for the same inputs and seed
    reg.SetNumberOfThreads(1)
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    try:
        # the metric's threads follow ITK's global default, not the method's setting
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        tx = reg.Execute(fixed, moving)
    except RuntimeError as exc:
        raise ImageError(f"rigid PET/CT registration failed ({str(exc).strip().splitlines()[-1][:160]}).",
                         patient=patient, fix="check that PET and CT show the same body region, or set "
                         "preprocess.registration: none.") from None
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)
    params = list(tx.GetParameters()) if tx.GetParameters() else []
    if hasattr(tx, "GetNthTransform"):
        try:
            params = list(tx.GetNthTransform(0).GetParameters())
        except Exception:  # noqa: BLE001 - composite layout differs between versions
            pass
    record = {"method": "rigid", "metric": "mattes_mutual_information",
              "final_metric": float(reg.GetMetricValue()),
              "stop": reg.GetOptimizerStopConditionDescription(), "parameters": [float(p) for p in params]}
    logger.info("rigid registration: metric %.4f", record["final_metric"])
    return tx, record
