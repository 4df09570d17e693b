"""A SUT server in the shape of LoadGen's LoadGen-over-the-network demo (loadgen/demos/lon/).

Flask app with the demo's two endpoints: POST /predict/ takes {"query": text} and answers
{"result": text} after preprocess -> model -> postprocess (here: echo after a short sleep),
and /getname/ answers {"name": ...}. Run as `python lon_server.py [--node NAME]`: it binds
127.0.0.1 on a free port, prints `PORT <n>` on stdout and serves until killed.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

SERVICE_S = 0.0005


def build_app(node: str) -> Flask:
    app = Flask(__name__)

    @app.route("/predict/", methods=["POST"])
    def predict() -> Any:
        query = request.get_json(force=True)["query"]
        time.sleep(SERVICE_S)  # the "model"
        return jsonify(result=query)

    @app.route("/getname/", methods=["POST", "GET"])
    def getname() -> Any:
        return jsonify(name="Demo SUT (Network SUT) node" + (f" {node}" if node else ""))

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--node", default="")
    args = parser.parse_args()
    server = make_server("127.0.0.1", 0, build_app(args.node), threaded=True)
    print(f"PORT {server.port}", flush=True)
    sys.stdout.flush()
    server.serve_forever()
