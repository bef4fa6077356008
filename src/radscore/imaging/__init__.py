"""From loaded images to what features are computed on: SUV, resampling, fusion, VOIs."""
