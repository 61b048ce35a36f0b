"""MindDiffuser's decoders, run as `Feature decoding/*_decoding.py` (ReedOnePeck/MindDiffuser c9773ac) run them.

Each script z-scores voxels and targets with sklearn's StandardScaler over all 8,859 training images, fits
fastl2lir.FastL2LiR().fit(x[:8000], y[:8000], alpha=0.15, n_feat=n) and predicts the rest. Here the same calls on
shared data (tests/authors_inputs.py, decoder_data): 60 images x 30 voxels, 5 targets, the first 50 rows fitted, n_feat 8.
"""
import fastl2lir
import numpy as np
from importlib.metadata import version
from sklearn.preprocessing import StandardScaler

from common import OUT, decoder_data



def main():
    X, Y = decoder_data()
    x = StandardScaler().fit_transform(X)
    y = StandardScaler().fit_transform(Y)
    model = fastl2lir.FastL2LiR()
    model.fit(x[:50], y[:50], alpha=0.15, n_feat=8)
    pred = model.predict(x[50:])
    selected = (model.W != 0).T  # targets x voxels
    np.savez_compressed(f"{OUT}/minddiffuser_decoders.npz", W=model.W, b=model.b, predictions=pred,
                        selected=selected, fastl2lir_version=np.array(version("fastl2lir")))
    print("predictions", pred.shape, "voxels per target", selected.sum(1))


if __name__ == "__main__":
    main()
