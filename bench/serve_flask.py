"""The tutorial baseline for bench/serve.py: a Flask app that predicts one row per request.

    python bench/serve_flask.py PORT

What most "serve your model over HTTP" guides show: parse the JSON, build the feature
row, call predict on it, return the score. Same features (the per-row path of
tests/oracle/per_row.py), same model, no validation beyond what the features need, no
reason codes, Flask's own threaded server.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
from flask import Flask, Response, jsonify, request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consumer.scoring.models import load_model
from tests.oracle.per_row import feature_row

app = Flask(__name__)
MODEL = load_model(Path(__file__).resolve().parent.parent / "models", threads=1)


@app.post("/predict")
def predict() -> Response:
    tx = request.get_json()
    score = float(MODEL.predict(np.array([feature_row(tx)]))[0])
    return jsonify({"transaction_id": tx["transaction_id"], "score": score,
                    "decision": MODEL.decide(score)})  # fmt: skip


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
